"""Helpers every handler family shares: the backend, auth, JSON errors."""

from __future__ import annotations

from flask import Response, current_app, request

from lbmock.mockserver.models import MockBackend
from lbmock.render.common import Urls

NDJSON = "application/x-ndjson; charset=utf-8"
JSON = "application/json; charset=utf-8"


def backend() -> MockBackend:
    """The backend serving this request: the in-process mock passes its own in the
    WSGI environ (one shared app serves many mocks); otherwise the app's."""
    return request.environ.get("lbmock.backend") or current_app.extensions["lbmock"]


def bearer_key() -> str | None:
    """The API key of ``Authorization: Bearer <key>``, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def base_url() -> str:
    """Where links in served payloads point: the configured public URL, else this request's host."""
    configured = current_app.config.get("LBMOCK_PUBLIC_URL")
    return (configured or request.host_url).rstrip("/")


def request_urls() -> Urls:
    """Links for this request: the mock's own base URL; DICOM files under ``<base>/storage``,
    except in-process, where they stay on Labelbox's storage host (intercepted too)."""
    return Urls.served_at(base_url(), request.environ.get("lbmock.storage_base"))


def small_number(text: str, max_digits: int = 18) -> int | None:
    """``text`` as a non-negative integer when it is plain ASCII digits, else None.

    ``str.isdigit()`` alone also passes '²' and '١', which ``int()`` refuses or reads
    as another number, and ``int()`` refuses more than 4300 digits."""
    if not (text.isascii() and text.isdigit()) or len(text) > max_digits:
        return None
    return int(text)


def json_error(status: int, message: str, code: str) -> Response:
    import orjson

    return Response(orjson.dumps({"error": message, "code": code}), status=status, mimetype=JSON)


def require_key() -> tuple[str | None, Response | None]:
    """(key, None) when the request carries an accepted key, else (None, a 401 response)."""
    key = bearer_key()
    if key is None:
        return None, json_error(401, "missing 'Authorization: Bearer <api key>' header", "AUTHENTICATION_ERROR")
    if not backend().accepts_key(key):
        return None, json_error(401, "invalid API key", "AUTHENTICATION_ERROR")
    return key, None
