"""Signed export file downloads (no bearer: the signature is the credential),
and the bearer-authenticated ``/api/v1/export-results|errors`` URLs."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Response, request

from mockserver.errors import NotFound
from mockserver.faults import Fault
from mockserver.handlers.common import JSON, NDJSON, backend, json_error, require_key, small_number
from mockserver.signing import SignatureError
from mockserver.tasks import ERRORS, RESULT


def check_signature() -> Response | None:
    """None when the request's signed URL is valid (and fault expired-files is not set), else a 403."""
    if backend().faults.take(Fault.EXPIRED_FILES):
        return json_error(403, "signed URL refused: signed URL has expired", "EXPIRED")
    try:
        backend().signer.verify(request.path, request.args.get("X-Lbmock-Expires"),
                                request.args.get("X-Lbmock-Signature"))
    except SignatureError as exc:
        return json_error(403, f"signed URL refused: {exc}", "EXPIRED" if exc.expired else "BAD_SIGNATURE")
    return None


def truncated(body: Iterator[bytes], size: int) -> tuple[Iterator[bytes], int]:
    """Fault truncated-files: the body ends ``cut`` bytes short of its advertised range."""
    fault = backend().faults.take(Fault.TRUNCATED_FILES)
    if fault is None:
        return body, size
    keep = max(0, size - (fault.arg or 10))

    def shortened() -> Iterator[bytes]:
        left = keep
        for chunk in body:
            if left <= 0:
                return
            yield chunk[:left]
            left -= len(chunk)

    return shortened(), keep


SLOW_CHUNK = 16 * 1024  # fault slow-files: bytes a chunk


def slowed(body: Iterator[bytes]) -> Iterator[bytes]:
    """Fault slow-files: the body in 16 KiB chunks, the fault's MS apart (the first one too).
    A path of its own, taken only while the fault is set; the fast path is untouched."""
    fault = backend().faults.take(Fault.SLOW_FILES)
    if fault is None:
        return body
    return _trickle(body, (fault.arg or 50) / 1000)


def _trickle(body: Iterator[bytes], pause: float) -> Iterator[bytes]:
    pending = bytearray()
    for chunk in body:
        pending += chunk
        while len(pending) >= SLOW_CHUNK:
            time.sleep(pause)
            yield bytes(pending[:SLOW_CHUNK])
            del pending[:SLOW_CHUNK]
    if pending:
        time.sleep(pause)
        yield bytes(pending)


def export_file(task_id: str, stream: str, index: str) -> Response:
    refused = check_signature()
    if refused:
        return refused
    if stream not in (RESULT, ERRORS):
        return json_error(404, f"unknown stream {stream!r}", "NOT_FOUND")
    be = backend()
    try:
        task = be.task_by_id(task_id)
    except NotFound:
        return json_error(404, f"unknown export task {task_id}", "NOT_FOUND")
    plan = be.plan(task, stream)
    if index == "all":
        if plan is None:
            return Response(b"", mimetype=NDJSON)
        body, size = truncated(be.whole_stream(task, stream), plan.total_size)
    else:
        number = small_number(index)
        if plan is None or number is None or number >= len(plan.files):
            return json_error(404, f"task {task_id} has no {stream} file {index}", "NOT_FOUND")
        chosen = plan.files[number]
        body, size = truncated(be.file_bytes_of(task, stream, chosen), chosen.offsets[1] - chosen.offsets[0] + 1)
    return Response(slowed(body), mimetype=NDJSON, headers={"Content-Length": str(size)})


def legacy_file(export_id: str) -> Response:
    refused = check_signature()
    if refused:
        return refused
    try:
        export = backend().legacy_by_id(export_id)
    except NotFound:
        return json_error(404, f"unknown legacy export {export_id}", "NOT_FOUND")
    return Response(slowed(backend().legacy_bytes(export)), mimetype=JSON)


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
    status = be.task_progress(task)[0]
    if status != "COMPLETE":
        return json_error(409, f"task {task_id} is {status}, not COMPLETE", "NOT_READY")
    if be.plan(task, stream) is None and stream == ERRORS:
        return json_error(404, f"task {task_id} has no errors", "NOT_FOUND")
    return Response(slowed(be.whole_stream(task, stream)), mimetype=NDJSON)


def export_errors(task_id: str, org_id: str) -> Response:
    return export_results(task_id, org_id, stream=ERRORS)
