"""Helpers every handler family shares: the backend, auth, JSON errors."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.errors import small_number
from lbmock.render.common import Urls

__all__ = ["JSON", "NDJSON", "backend", "backend_of", "base_url", "bearer_key", "json_error", "request_urls",
           "require_key", "small_number"]

NDJSON = "application/x-ndjson; charset=utf-8"
JSON = "application/json; charset=utf-8"
# Labelbox's GraphQL endpoint, and its experimental twin (the SDK's ``Client(enable_experimental=True)``
# and calls such as ``project.batches()`` post there): one schema answers both, and what lbmock lacks
# is refused in GraphQL's shape, which the SDK raises word for word (a bare 404 it would show as "404 NOT FOUND").
GRAPHQL_PATHS = ("/graphql", "/_gql")


def backend_of(environ: dict, app: Flask) -> MockBackend:
    """The backend serving a request: the in-process mock passes its own in the WSGI environ
    (one shared app serves many mocks); otherwise the app's."""
    return environ.get("lbmock.backend") or app.extensions["lbmock"]


def backend() -> MockBackend:
    """The backend serving the current Flask request."""
    return backend_of(request.environ, current_app)


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


def json_error(status: int, message: str, code: str) -> Response:
    """The API's JSON error body: ``{"error": message, "code": code}``."""
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
