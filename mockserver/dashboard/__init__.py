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

from lbmock.mockserver.dashboard import faults_page, journal_page, pages, row_index, tasks_page

PREFIX = "/_mock/dashboard"

# The navigation bar, in order: (title, endpoint).  base.html renders exactly this list.
NAV: list[tuple[str, str]] = [
    ("Overview", "dashboard.overview"),
    ("Data rows", "dashboard.rows"),
    ("Tasks", "dashboard.tasks"),
    ("Journal", "dashboard.journal"),
    ("Faults", "dashboard.faults"),
]

# Every dashboard route, relative to PREFIX: (rule, view, methods).  The endpoint is the view's name.
ROUTES: list[tuple[str, Callable[..., object], list[str]]] = [
    ("/", pages.overview, ["GET"]),
    ("/rows", pages.rows, ["GET"]),
    ("/rows/go", pages.go_to_row, ["GET"]),
    ("/rows/<row_id>", pages.row_view, ["GET"]),
    # plane frame numbers are 1-based, as in exports and Labelbox's mask URLs
    ("/rows/<row_id>/<plane>/<int:frame>/image.png", pages.slice_image, ["GET"]),
    ("/rows/<row_id>/<plane>/<int:frame>/overlay.png", pages.overlay_image, ["GET"]),
    ("/tasks", tasks_page.tasks, ["GET"]),
    ("/tasks/rows", tasks_page.task_rows, ["GET"]),
    ("/tasks/<task_id>", tasks_page.task, ["GET"]),
    ("/tasks/<task_id>/plan", tasks_page.task_plan, ["POST"]),
    ("/tasks/<task_id>/advance", tasks_page.task_advance, ["POST"]),
    ("/journal", journal_page.journal, ["GET"]),
    ("/journal/rows", journal_page.journal_rows, ["GET"]),
    ("/faults", faults_page.faults, ["GET"]),
    ("/faults/set", faults_page.fault_set, ["POST"]),
    ("/faults/clear", faults_page.fault_clear, ["POST"]),
    ("/transitions/set", faults_page.transition_set, ["POST"]),
    ("/transitions/unset", faults_page.transition_unset, ["POST"]),
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
    blueprint.before_request(row_index.request_started)  # the index builder yields to pages
    blueprint.teardown_request(row_index.request_finished)
    blueprint.register_error_handler(HTTPException, pages.page_error)
    return blueprint
