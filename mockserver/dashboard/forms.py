"""What the dashboard's HTML forms share: refusing cross-site posts, reading fields, and
answering with a redirect that carries a notice (post/redirect/get: reloading never re-posts)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect, request, url_for
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response


def refuse_cross_site() -> None:
    """A form post must come from a dashboard page: the admin API has no key, so a page of
    another site (any other port on localhost included) must not drive it through a browser."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site not in (None, "same-origin", "none"):
        raise Forbidden(f"refused a {fetch_site} form post: use the dashboard's own pages")
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        here = urlsplit(request.host_url)
        there = urlsplit(origin)
        if (there.scheme, there.netloc) != (here.scheme, here.netloc):
            raise Forbidden(f"refused a form post from {origin}: use the dashboard's own pages")


def field(name: str) -> str:
    """A form field, stripped ('' when absent)."""
    return request.form.get(name, "").strip()


def done(endpoint: str, notice: str, **values: object) -> Response:
    """303 back to a page, which shows ``notice`` (escaped like any text)."""
    return redirect(url_for(endpoint, notice=notice, **values), 303)
