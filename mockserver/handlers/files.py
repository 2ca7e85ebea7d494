"""Signed export file downloads (no bearer: the signature is the credential),
and the bearer-authenticated ``/api/v1/export-results|errors`` URLs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from flask import Response, request

from mockserver.errors import NotFound
from mockserver.faults import Fault
from mockserver.handlers.common import JSON, NDJSON, backend, json_error, require_key, small_number
from mockserver.signing import SignatureError
from mockserver.spool import read_range
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


def file_body(handle: BinaryIO, size: int, signed: bool = True) -> tuple[Iterable[bytes], int]:
    """The response body for ``size`` bytes of ``handle`` from where it stands (closed when sent),
    and its Content-Length.

    Zero-copy when the server offers ``wsgi.file_wrapper`` (gunicorn sends it with sendfile(2),
    stopping at the Content-Length as PEP 3333 asks); else reads of up to 4 MiB.  Fault
    truncated-files (on ``signed`` file downloads) takes the reading path, cut short."""
    if signed and (fault := backend().faults.take(Fault.TRUNCATED_FILES)) is not None:
        size = max(0, size - (fault.arg or 10))
    elif (wrapper := request.environ.get("wsgi.file_wrapper")) is not None:
        return wrapper(handle, 1 << 20), size

    def reading() -> Iterator[bytes]:
        with handle:
            yield from read_range(handle, size)

    return reading(), size


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
    number = None if index == "all" else small_number(index)
    if number is None and index != "all":
        return json_error(404, f"task {task_id} has no {stream} file {index}", "NOT_FOUND")
    try:
        opened = be.open_export_file(task, stream, number)
    except NotFound as exc:
        return json_error(404, str(exc), "NOT_FOUND")
    if opened is None:  # an empty stream has no numbered files: only "all" gets here
        return Response(b"", mimetype=NDJSON)
    body, size = file_body(*opened)
    return Response(body, mimetype=NDJSON, headers={"Content-Length": str(size)}, direct_passthrough=True)


def legacy_file(export_id: str) -> Response:
    refused = check_signature()
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
    status = be.task_progress(task)[0]
    if status != "COMPLETE":
        return json_error(409, f"task {task_id} is {status}, not COMPLETE", "NOT_READY")
    opened = be.open_export_file(task, stream)
    if opened is None:
        if stream == ERRORS:
            return json_error(404, f"task {task_id} has no errors", "NOT_FOUND")
        return Response(b"", mimetype=NDJSON)
    body, size = file_body(*opened, signed=False)
    return Response(body, mimetype=NDJSON, headers={"Content-Length": str(size)}, direct_passthrough=True)


def export_errors(task_id: str, org_id: str) -> Response:
    return export_results(task_id, org_id, stream=ERRORS)
