"""The Flask app factory."""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
import traceback

import orjson
from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.wsgi import get_host

from lbmock.mockserver.backend.backend import MockBackend, key_owner
from lbmock.mockserver.backend.faults import Fault, latency_ms
from lbmock.mockserver.backend.stubs import answer as stub_answer
from lbmock.mockserver.config import ServerConfig
from lbmock.mockserver.dashboard import dashboard_blueprint
from lbmock.mockserver.errors import DISK_FULL_MESSAGE, DISK_FULL_RETRY_AFTER, StateUnavailable, disk_full, printable
from lbmock.mockserver.guard import LOGIN_PATH, api_host_allowed, install_guard, login
from lbmock.mockserver.handlers.common import GRAPHQL_PATHS, JSON, NDJSON, backend_of, json_error
from lbmock.mockserver.handlers.emulated import refusal
from lbmock.mockserver.handlers.files import export_file_fast
from lbmock.mockserver.handlers.graphql import file_from_offset_fast
from lbmock.mockserver.near_miss import clipped, route_near_miss
from lbmock.mockserver.urls import ROUTES
from lbmock.strategies.served_world import resolve_world
from lbmock.world import World
from lbmock.world_spec import WorldSpec

log = logging.getLogger("lbmock")
MAX_BODY_BYTES = 4 * 1024 * 1024


def create_app(source: WorldSpec | World | MockBackend, config: ServerConfig | None = None) -> Flask:
    """A mock Labelbox serving ``source``: the world a spec names, a world, or a ready backend.

    ``config`` builds the backend for a spec or a world; a backend already carries its own,
    so passing both is refused rather than one silently winning.  A backend built here is
    started here (its background work: see ``MockBackend.start``); a backend passed in is its
    owner's to start and close.
    """
    if isinstance(source, WorldSpec | World):
        world = source if isinstance(source, World) else resolve_world(source)
        backend = MockBackend(world, config).start()
    elif config is not None:
        raise TypeError("create_app: a MockBackend carries its own ServerConfig; pass the backend alone")
    else:
        backend = source
    config = backend.config
    app = Flask("lbmock")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["LBMOCK_PUBLIC_URL"] = config.public_url
    app.extensions["lbmock"] = backend
    for family, routes in ROUTES.items():
        blueprint = Blueprint(family, __name__)
        for rule, view, methods in routes:
            if family == "admin" and not config.admin and rule != "/_mock/health":
                continue  # --no-admin: the control API does not exist at all
            blueprint.add_url_rule(rule, view_func=view, methods=methods)
        app.register_blueprint(blueprint)
    if config.admin:  # the dashboard is part of /_mock/: --no-admin removes it too
        app.register_blueprint(dashboard_blueprint())
        app.add_url_rule(LOGIN_PATH, "login", login, methods=["GET", "POST"])
    install_guard(app)  # first: a refused request reaches nothing else
    _install_error_handlers(app)
    _install_journal(app)
    _install_rest_stubs(app)  # after the journal's start: a stubbed answer is journaled like any other
    _install_latency(app)  # after the journal's start: a journaled duration includes the delay
    _install_fast_paths(app)
    return app


def _install_rest_stubs(app: Flask) -> None:
    """A stub for ``METHOD path`` answers before any route (so it can answer a route lbmock lacks)."""

    @app.before_request
    def _stubbed() -> Response | None:
        if request.path.startswith("/_mock/") or request.path in GRAPHQL_PATHS:
            return None
        stubs = backend_of(request.environ, app).stubs
        if not stubs.has_rest():
            return None
        stub = stubs.take_rest(request.method, request.path)
        if stub is None:
            return None
        request.environ["lbmock.stub"] = stub.id
        call = {"operation": None, "root_fields": [], "variables": None, "method": request.method,
                "path": request.path, "args": request.args.to_dict()}
        status, body = stub_answer(stub, call)
        return Response(orjson.dumps(body), status=status, mimetype="application/json")


def _install_latency(app: Flask) -> None:
    """Fault latency: every emulated response (not ``/`` nor ``/_mock/``) waits before it is handled."""

    @app.before_request
    def _delay() -> None:
        if request.path == "/" or request.path.startswith("/_mock/"):
            return
        backend = backend_of(request.environ, app)
        fault = backend.take_fault(Fault.LATENCY)
        if fault is not None:
            time.sleep(latency_ms(fault, backend.world.seed) / 1000)


def _install_journal(app: Flask) -> None:
    """Record every request in the serving backend's journal (admin calls and the landing page excepted)."""

    @app.before_request
    def _start() -> None:
        request.environ.setdefault("lbmock.started", time.perf_counter())
        backend = backend_of(request.environ, app)
        backend.sync()  # another worker may have loaded a world

    @app.after_request
    def _record(response: Response) -> Response:
        response.headers["X-Lbmock-Worker"] = WORKER  # which worker answered (multi-worker runs)
        unmatched = request.environ.get("lbmock.unmatched")  # a near miss: journaled even under /_mock/
        if not unmatched and (request.path == "/" or request.path.startswith("/_mock/")):
            return response
        backend = backend_of(request.environ, app)
        record_request(backend, request.environ, request.path, response.status_code)
        if unmatched and backend.config.announce_unmatched and backend.first_unmatched(unmatched):
            # once per distinct reason, across workers and restarts (the state remembers)
            named = (request.method + " ", f"lbmock does not emulate `{request.method} ")  # the reason names the route
            where = "" if unmatched.startswith(named) else f"{request.method} {clipped(request.path)}: "
            # one write per line: lines from concurrent requests never run together
            print(printable(f"lbmock: unmatched request: {where}{unmatched}") + "\n", file=sys.stderr, end="",
                  flush=True)
        return response


WORKER = str(os.getpid())  # the X-Lbmock-Worker header (set again in each forked worker, below)
os.register_at_fork(after_in_child=lambda: globals().__setitem__("WORKER", str(os.getpid())))


def record_request(backend: MockBackend, environ: dict, path: str, status: int) -> None:
    """The journal entry of one answered request (``path`` decoded, as Flask's ``request.path``)."""
    key = environ.get("HTTP_AUTHORIZATION", "").partition(" ")[2].strip()
    started = environ.get("lbmock.started", time.perf_counter())
    backend.journal.record(
        at_ms=int(time.time() * 1000), method=environ["REQUEST_METHOD"], path=path,
        operation=environ.get("lbmock.operation"), variables=environ.get("lbmock.variables"),
        status=status, duration_ms=round((time.perf_counter() - started) * 1000, 3),
        client=key_owner(key) if key else None,
        **({"unmatched": environ["lbmock.unmatched"]} if environ.get("lbmock.unmatched") else {}),
        **({"stub": environ["lbmock.stub"]} if environ.get("lbmock.stub") else {}))


def _install_fast_paths(app: Flask) -> None:
    """Export file downloads and the SDK's per-file ``exportFileFromOffset`` query skip Flask's
    per-request machinery (see ``files.export_file_fast``, ``graphql.file_from_offset_fast``): the
    same checks, headers and journal entry; any other request goes to Flask."""
    flask_wsgi = app.wsgi_app

    def wsgi(environ: dict, start_response):
        path = environ["PATH_INFO"]
        if path.startswith("/files/"):
            content_type = NDJSON
        elif path == "/graphql" and environ["REQUEST_METHOD"] == "POST":
            content_type = JSON
        else:
            return flask_wsgi(environ, start_response)
        environ["lbmock.started"] = time.perf_counter()
        backend = backend_of(environ, app)
        if not api_host_allowed(environ, backend.config):
            return flask_wsgi(environ, start_response)  # refused there, in the app's shape
        if backend.stubs.has_rest():  # stubs are Flask's (before any route)
            return flask_wsgi(environ, start_response)
        try:
            backend.sync()
            if content_type is JSON:
                answer = file_from_offset_fast(backend, environ, _public_base(app, environ))
                answer = None if answer is None else ([answer], len(answer))
            else:
                answer = export_file_fast(backend, environ)
        except StateUnavailable:  # Flask's way answers it (a 503 saying why)
            answer = None
        except OSError as exc:
            if not disk_full(exc):
                raise
            answer = None  # Flask answers it (a 503)
        if answer is None:
            return flask_wsgi(environ, start_response)
        body, size = answer
        record_request(backend, environ, path.encode("latin-1").decode("utf-8", "replace"), 200)
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(size)),
                                  ("X-Lbmock-Worker", WORKER)])
        return body

    app.wsgi_app = wsgi


def _public_base(app: Flask, environ: dict) -> str:
    """``handlers.common.base_url`` outside a Flask request: the public URL, else this request's host."""
    configured = app.config.get("LBMOCK_PUBLIC_URL")
    if configured:
        return configured.rstrip("/")
    scheme, host = environ["wsgi.url_scheme"], environ.get("HTTP_HOST")
    return _host_url(scheme, host) if host is not None else f"{scheme}://{get_host(environ)}"


@functools.lru_cache(maxsize=64)  # the same few Host headers at every request
def _host_url(scheme: str, host: str) -> str:
    return f"{scheme}://{get_host({'wsgi.url_scheme': scheme, 'HTTP_HOST': host})}"


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc is request.routing_exception and isinstance(exc, NotFound | MethodNotAllowed):
            # no route: name the closest one (a near miss), and journal it as unmatched
            reason = route_near_miss(app.url_map, request.method, request.path)
            if not request.path.startswith("/_mock/"):  # a Labelbox route lbmock lacks: say so, honestly
                near = backend_of(request.environ, app).stubs.near_miss(method=request.method, path=request.path)
                shown = f"{request.method} {clipped(request.path)}"  # bounded, as the near miss is
                said = reason.removeprefix(f"{shown}: ")
                reason = refusal(shown, closest="; ".join(x for x in (said, near) if x))
            request.environ["lbmock.unmatched"] = reason
            if isinstance(exc, NotFound):
                return json_error(404, reason, "NOT_FOUND")
            refused = json_error(405, reason, "METHOD_NOT_ALLOWED")
            refused.headers["Allow"] = ", ".join(sorted(exc.valid_methods or ()))
            return refused
        status = exc.code or 400
        if status >= 500:  # never hand the SDK a 5xx it would retry for minutes
            status = 400
        return json_error(status, exc.description or exc.name, exc.name.upper().replace(" ", "_"))

    @app.errorhandler(StateUnavailable)
    def state_unavailable(exc: StateUnavailable) -> Response:
        # The one 5xx lbmock answers: the SDK retries it (with backoff, for about two minutes),
        # which is what a client should do while the shared database comes back.
        answer = json_error(503, f"lbmock: {exc}", "SERVICE_UNAVAILABLE")
        answer.headers["Retry-After"] = "1"
        return answer

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        if disk_full(exc):  # retryable: 503 with a message, as the SDK's retries expect
            log.warning("lbmock: %s", exc)
            refused = json_error(503, DISK_FULL_MESSAGE, "SERVICE_UNAVAILABLE")
            refused.headers["Retry-After"] = str(DISK_FULL_RETRY_AFTER)
            return refused
        log.error("lbmock internal error\n%s", printable(traceback.format_exc(), keep_newlines=True))
        return json_error(400, f"lbmock internal error: {type(exc).__name__}: {exc}", "LBMOCK_INTERNAL_ERROR")
