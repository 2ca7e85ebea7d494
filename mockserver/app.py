"""The Flask app factory."""

from __future__ import annotations

import logging
import os
import time

import orjson
from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from lbmock.world import World
from mockserver.models import DEFAULT_FILE_BYTES, MockBackend, key_owner
from mockserver.signing import UrlSigner
from mockserver.urls import ROUTES

log = logging.getLogger("lbmock")
MAX_BODY_BYTES = 4 * 1024 * 1024


def create_app(world: World | None = None, *, seed: int = 0, rows: int = 100, project_id: str | None = None,
               api_key: str | None = None, task_delay: float = 0.0, legacy_polls: int = 1,
               file_bytes: int = DEFAULT_FILE_BYTES, signing_key: bytes | None = None,
               public_url: str | None = None, user_timezone: str = "UTC",
               backend: MockBackend | None = None, admin: bool = True, state_path: str | None = None) -> Flask:
    """A mock Labelbox serving ``world`` (or the seeded world of ``seed`` and ``rows``)."""
    if backend is None:
        if world is None:
            from strategies.served import seeded_world

            world = seeded_world(seed, rows, project_id)
        backend = MockBackend(world, api_key=api_key, task_delay=task_delay, legacy_polls=legacy_polls,
                              file_bytes=file_bytes, user_timezone=user_timezone, state_path=state_path,
                              signer=UrlSigner(signing_key) if signing_key else None)
    app = Flask("lbmock")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["LBMOCK_PUBLIC_URL"] = public_url
    app.config["LBMOCK_ADMIN"] = admin
    app.extensions["lbmock"] = backend
    for family, routes in ROUTES.items():
        blueprint = Blueprint(family, __name__)
        for rule, view, methods in routes:
            if family == "admin" and not admin and rule != "/_mock/health":
                continue  # --no-admin: the control API does not exist at all
            blueprint.add_url_rule(rule, view_func=view, methods=methods)
        app.register_blueprint(blueprint)
    _install_error_handlers(app)
    _install_journal(app)
    return app


def _install_journal(app: Flask) -> None:
    """Record every request in the serving backend's journal (admin calls and the landing page excepted)."""

    @app.before_request
    def _start() -> None:
        request.environ["lbmock.started"] = time.perf_counter()
        backend = request.environ.get("lbmock.backend") or app.extensions["lbmock"]
        backend.sync()  # another worker may have loaded a world

    @app.after_request
    def _record(response: Response) -> Response:
        response.headers["X-Lbmock-Worker"] = str(os.getpid())  # which worker answered (multi-worker runs)
        if request.path == "/" or request.path.startswith("/_mock/"):
            return response
        backend = request.environ.get("lbmock.backend") or app.extensions["lbmock"]
        key = request.headers.get("Authorization", "").partition(" ")[2].strip()
        started = request.environ.get("lbmock.started", time.perf_counter())
        backend.journal.record(
            at_ms=int(time.time() * 1000), method=request.method, path=request.path,
            operation=request.environ.get("lbmock.operation"), variables=request.environ.get("lbmock.variables"),
            status=response.status_code, duration_ms=round((time.perf_counter() - started) * 1000, 3),
            client=key_owner(key) if key else None)
        return response


def _install_error_handlers(app: Flask) -> None:
    def as_json(status: int, message: str, code: str) -> Response:
        return Response(orjson.dumps({"error": message, "code": code}), status=status,
                        mimetype="application/json; charset=utf-8")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 400
        if status >= 500:  # never hand the SDK a 5xx it would retry for minutes
            status = 400
        return as_json(status, exc.description or exc.name, exc.name.upper().replace(" ", "_"))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("lbmock internal error")
        return as_json(400, f"lbmock internal error: {type(exc).__name__}: {exc}", "LBMOCK_INTERNAL_ERROR")
