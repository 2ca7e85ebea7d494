"""The mock's own control API under /_mock/ (never on a Labelbox path).

JSON in, JSON out.  ``lbmock serve --no-admin`` removes all of it but
``/_mock/health``.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, request

from lbmock.mockserver.backend.faults import FAULTS, SECOND_ARGS, FaultError
from lbmock.mockserver.backend.state_manager import MODELS, TransitionError
from lbmock.mockserver.backend.stubs import StubError
from lbmock.mockserver.errors import NotFound
from lbmock.mockserver.handlers.common import JSON, backend, json_error, small_number
from lbmock.world_spec import SpecError, WorldSpec


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype=JSON)


def _body() -> dict:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FaultError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise FaultError("request body must be a JSON object")
    return body


def health() -> Response:
    """GET /_mock/health: 200 with the world served when this host and its shared state answer
    (a load balancer's check: a 503 saying why while the state's database is down)."""
    be = backend()
    be.state.ping()  # StateUnavailable: the app's 503
    world = be.world
    shared = {"state": "postgresql"} if be.state.shared_by_hosts else {}  # checked just now
    return _json({"status": "ok", **shared, "project_id": world.project.id, "rows": len(world), "seed": world.seed,
                  "project_ids": [p.id for p in world.projects], "quality": world.quality.value,
                  "datasets": [{"id": d.id, "name": d.name} for d in world.datasets],
                  "slices": [{"id": s.id, "name": s.name} for s in world.slices]})


def reset() -> Response:
    """POST /_mock/reset: back to the starting world; tasks, faults and journal cleared."""
    backend().reset()
    return _json({"status": "reset"})


def load_world() -> Response:
    """POST /_mock/world {"seed": S, "rows": N, "project_id": ID?, ...}: serve another world
    (any option of :class:`~lbmock.world_spec.WorldSpec`; absent ones take their defaults)."""
    try:
        spec = WorldSpec.from_json(_body())
    except (FaultError, SpecError) as exc:
        return json_error(400, str(exc), "BAD_REQUEST")
    world = backend().load_world(spec)
    return _json({"status": "loaded", **spec.to_json(), "project_id": world.project.id, "rows": len(world)})


def faults() -> Response:
    """GET: faults in force and the catalogue.  POST {"name", "arg"?, "arg2"?, "times"?}: set one.
    DELETE (optionally ?name=): clear."""
    book = backend().faults
    if request.method == "GET":
        return _json({"active": book.active(),
                      "known": {fault.value: {"matches": m, "arg": a, "arg2": SECOND_ARGS.get(fault)}
                                for fault, (m, a) in FAULTS.items()}})
    if request.method == "DELETE":
        book.clear(request.args.get("name"))
        return _json({"active": book.active()})
    try:
        body = _body()
        name = body.get("name")
        if not isinstance(name, str):
            raise FaultError("body needs a fault 'name'")
        fault = book.add(name, body.get("arg"), body.get("times"), body.get("arg2"))
    except FaultError as exc:
        return json_error(400, str(exc), "BAD_REQUEST")
    return _json({"added": fault.as_dict(), "active": book.active()}, 201)


def stubs() -> Response:
    """GET: the stubs, newest first.  POST {"operation" (name or root field), "variables"?} or
    {"method"?, "path" (fnmatch pattern)}, with "response" (the JSON body), "status"?, "times"?: set one.
    DELETE (optionally ?id=): remove."""
    book = backend().stubs
    if request.method == "GET":
        return _json({"stubs": [s.as_dict() for s in book.all()]})
    if request.method == "DELETE":
        removed = book.remove(request.args.get("id"))
        return _json({"removed": removed, "stubs": [s.as_dict() for s in book.all()]})
    try:
        body = _body()
        unknown = sorted(set(body) - {"operation", "variables", "method", "path", "response", "status", "times"})
        if unknown:
            raise StubError(f"unknown key(s) {', '.join(unknown)}; a stub takes operation, variables, method, "
                            "path, response, status, times")
        stub = book.add(body.get("response"), operation=body.get("operation"), variables=body.get("variables"),
                        method=body.get("method"), path=body.get("path"), status=body.get("status", 200),
                        times=body.get("times"))
    except (FaultError, StubError) as exc:
        return json_error(400, str(exc), "BAD_REQUEST")
    return _json({"added": stub.as_dict(), "stubs": [s.as_dict() for s in book.all()]}, 201)


def set_transition() -> Response:
    """POST {"model_name": "export-task" | "legacy-export", "transition": {"progression": ...}}."""
    try:
        body = _body()
        transition = backend().state_manager.set_transition(body.get("model_name"), body.get("transition"))
    except (FaultError, TransitionError) as exc:
        return json_error(400, str(exc), "BAD_REQUEST")
    return _json({"model_name": body["model_name"], "transition": transition.to_json()})


def get_transition() -> Response:
    """GET ?model_name=...: the transition new objects of that model take (no model_name: every model's)."""
    model = request.args.get("model_name")
    if model is None:
        manager = backend().state_manager
        return _json({"transitions": {name: manager.get_transition(name).to_json() for name in MODELS}})
    try:
        transition = backend().state_manager.get_transition(model)
    except TransitionError as exc:
        return json_error(400, str(exc), "BAD_REQUEST")
    return _json({"model_name": model, "transition": transition.to_json()})


def unset_transition() -> Response:
    """POST {"model_name": ...}: back to the server's default transition."""
    try:
        body = _body()
        transition = backend().state_manager.unset_transition(body.get("model_name"))
    except (FaultError, TransitionError) as exc:
        return json_error(400, str(exc), "BAD_REQUEST")
    return _json({"model_name": body["model_name"], "transition": transition.to_json()})


def task(task_id: str) -> Response:
    """GET /_mock/tasks/<id>: one export task as the API reports it (status, completion percentage)
    and, while or once this worker renders its rows, how far: ``render`` is ``{"rows_done",
    "rows_total", "rows_per_second", "finished"}`` or null.  Not a client's poll: nothing moves on."""
    be = backend()
    try:
        found = be.task_by_id(task_id)
    except NotFound:
        return json_error(404, f"no export task {task_id}", "NOT_FOUND")
    status, percent = be.task_progress(found)
    rendering = be.render_progress(found)
    return _json({"id": found.id, "name": found.name, "status": status, "completion_percentage": percent,
                  "render": None if rendering is None else rendering.to_json()})


def advance_task(task_id: str) -> Response:
    """POST /_mock/tasks/<id>/advance {"fail": false}: move one export task on, to COMPLETE (or FAILED)."""
    try:
        fail = _body().get("fail", False)
    except FaultError as exc:
        return json_error(400, str(exc), "BAD_REQUEST")
    if not isinstance(fail, bool):
        return json_error(400, "fail must be true or false", "BAD_REQUEST")
    try:
        task = backend().advance_task(task_id, fail=fail)
    except NotFound:
        return json_error(404, f"no export task {task_id}", "NOT_FOUND")
    status, _percent = task.progress()
    return _json({"id": task.id, "status": status})


def journal() -> Response:
    """GET ?operation=&path=&path_prefix=&method=&status=&unmatched=1: recorded requests.  DELETE: clear."""
    log = backend().journal
    if request.method == "DELETE":
        log.clear()
        return _json({"entries": []})
    criteria: dict[str, Any] = {k: request.args[k] for k in ("operation", "path", "path_prefix", "method")
                                if k in request.args}
    if "status" in request.args:
        status = small_number(request.args["status"])
        if status is None:
            return json_error(400, "status must be a number", "BAD_REQUEST")
        criteria["status"] = status
    if "unmatched" in request.args:  # ?unmatched=1: only requests nothing matched, with the near miss
        criteria["unmatched"] = request.args["unmatched"].lower() not in ("0", "false", "no", "")
    return _json({"entries": [e.as_dict() for e in log.entries(**criteria)]})
