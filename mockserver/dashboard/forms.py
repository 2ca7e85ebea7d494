"""What the dashboard's HTML forms share: refusing cross-site posts, reading fields, and
answering with a redirect that carries a notice (post/redirect/get: reloading never re-posts)."""

from __future__ import annotations

from flask import redirect, request, url_for
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from lbmock.mockserver.guard import cross_site_reason


def refuse_cross_site() -> None:
    """A form post must come from a dashboard page: a page of another site (any other port on
    localhost included, or an opaque ``Origin: null``) must not drive the mock through a browser.
    (``guard.install_guard`` refuses these before any view; this keeps each form safe on its own.)"""
    reason = cross_site_reason()
    if reason:
        raise Forbidden(f"{reason}: use the dashboard's own pages")


def field(name: str) -> str:
    """A form field, stripped ('' when absent)."""
    return request.form.get(name, "").strip()


def done(endpoint: str, notice: str, **values: object) -> Response:
    """303 back to a page, which shows ``notice`` (escaped like any text)."""
    return redirect(url_for(endpoint, notice=notice, **values), 303)
