"""The dashboard: HTML pages under ``/_mock/dashboard/`` for a person looking at the served world.

One Flask blueprint, Jinja templates (``templates/dashboard/``; autoescaped: every id and
name a page shows is text, never markup) and a little CSS and vanilla JS (``static/``,
shipped in the wheel: no CDN, works offline).  A thin layer over the backend, the world
and the renderers; nothing below it imports it.  The app factory registers it only when
the admin API is on (``lbmock serve --no-admin`` removes it with the rest of ``/_mock/``),
and ``GET /_mock/`` redirects to it.

Pages add themselves in two places: :data:`ROUTES` (rule, view, methods) and, when they
belong in the navigation bar, :data:`NAV` (title, endpoint).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, redirect, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from mockserver.dashboard import pages

PREFIX = "/_mock/dashboard"

# The navigation bar, in order: (title, endpoint).  base.html renders exactly this list.
NAV: list[tuple[str, str]] = [
    ("Overview", "dashboard.overview"),
]

# Every dashboard route, relative to PREFIX: (rule, view, methods).  The endpoint is the view's name.
ROUTES: list[tuple[str, Callable[..., object], list[str]]] = [
    ("/", pages.overview, ["GET"]),
]


def _home() -> Response:
    """``GET /_mock/``: the dashboard."""
    return redirect(url_for("dashboard.overview"))


def dashboard_blueprint() -> Blueprint:
    """A fresh blueprint (one per app) serving every dashboard route, its templates and static files."""
    blueprint = Blueprint("dashboard", __name__, url_prefix=PREFIX, template_folder="templates",
                          static_folder="static", static_url_path="/static")
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view_func=view, methods=methods)
    blueprint.record_once(lambda state: state.app.add_url_rule("/_mock/", "dashboard_home", _home))
    blueprint.context_processor(lambda: {"nav": NAV})
    blueprint.register_error_handler(HTTPException, pages.page_error)
    return blueprint
