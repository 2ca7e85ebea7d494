"""Signed export file downloads (no bearer: the signature is the credential),
and the bearer-authenticated ``/api/v1/export-results|errors`` URLs."""

from __future__ import annotations

from flask import Response, request

from mockserver.models import ERRORS, RESULT, NotFound
from mockserver.responses.common import JSON, NDJSON, backend, json_error, require_key
from mockserver.signing import SignatureError


def _check_signature() -> Response | None:
    try:
        backend().signer.verify(request.path, request.args.get("X-Lbmock-Expires"),
                                request.args.get("X-Lbmock-Signature"))
    except SignatureError as exc:
        return json_error(403, f"signed URL refused: {exc}", "EXPIRED" if exc.expired else "BAD_SIGNATURE")
    return None


def _task_for_file(task_id: str):
    task = backend().tasks.get(task_id)
    if task is None:
        raise NotFound(task_id)
    return task


def export_file(task_id: str, stream: str, index: str) -> Response:
    refused = _check_signature()
    if refused:
        return refused
    if stream not in (RESULT, ERRORS):
        return json_error(404, f"unknown stream {stream!r}", "NOT_FOUND")
    try:
        task = _task_for_file(task_id)
    except NotFound:
        return json_error(404, f"unknown export task {task_id}", "NOT_FOUND")
    plan = backend().plan(task, stream)
    if index == "all":
        if plan is None:
            return Response(b"", mimetype=NDJSON)
        return Response(backend().whole_result(task), mimetype=NDJSON,
                        headers={"Content-Length": str(plan.total_size)})
    if plan is None or not index.isdigit() or int(index) >= len(plan.files):
        return json_error(404, f"task {task_id} has no {stream} file {index}", "NOT_FOUND")
    export_file_ = plan.files[int(index)]
    size = export_file_.offsets[1] - export_file_.offsets[0] + 1
    return Response(backend().file_bytes_of(task, export_file_), mimetype=NDJSON,
                    headers={"Content-Length": str(size)})


def legacy_file(export_id: str) -> Response:
    refused = _check_signature()
    if refused:
        return refused
    try:
        export = backend().legacy_by_id(export_id)
    except NotFound:
        return json_error(404, f"unknown legacy export {export_id}", "NOT_FOUND")
    return Response(backend().legacy_bytes(export), mimetype=JSON)


def export_results(task_id: str, org_id: str, stream: str = RESULT) -> Response:
    key, refused = require_key()
    if refused:
        return refused
    be = backend()
    try:
        task = be.task(key, task_id)
    except NotFound:
        return json_error(404, f"unknown export task {task_id}", "NOT_FOUND")
    if org_id != be.world.project.organization.id:
        return json_error(404, f"unknown organization {org_id}", "NOT_FOUND")
    if be.task_progress(task)[0] != "COMPLETE":
        return json_error(409, f"task {task_id} is not complete yet", "NOT_READY")
    if stream == ERRORS:
        return json_error(404, f"task {task_id} has no errors", "NOT_FOUND")
    return Response(be.whole_result(task), mimetype=NDJSON)


def export_errors(task_id: str, org_id: str) -> Response:
    return export_results(task_id, org_id, stream=ERRORS)
