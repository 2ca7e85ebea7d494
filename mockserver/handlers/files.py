"""Signed export file downloads (no bearer: the signature is the credential),
and the bearer-authenticated ``/api/v1/export-results|errors`` URLs."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from flask import Response, request

from lbmock.byte_ranges import read_range
from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.backend.faults import Fault
from lbmock.mockserver.backend.signing import SignatureError
from lbmock.mockserver.backend.tasks import ERRORS, RESULT
from lbmock.mockserver.errors import NotFound
from lbmock.mockserver.handlers.common import JSON, NDJSON, backend, json_error, require_key, small_number


def signature_refusal(be: MockBackend, path: str, expires: str | None, signature: str | None
                      ) -> tuple[int, str, str] | None:
    """None when ``path?X-Lbmock-Expires=..&X-Lbmock-Signature=..`` is validly signed, else the
    refusal's (status, message, code).  Takes no fault."""
    try:
        be.verify_signature(path, expires, signature)
    except SignatureError as exc:
        return 403, f"signed URL refused: {exc}", "EXPIRED" if exc.expired else "BAD_SIGNATURE"
    return None


def check_signature() -> Response | None:
    """None when the request's signed URL is valid (and fault expired-files is not set), else a 403."""
    if backend().take_fault(Fault.EXPIRED_FILES):
        return json_error(403, "signed URL refused: signed URL has expired", "EXPIRED")
    refused = signature_refusal(backend(), request.path, request.args.get("X-Lbmock-Expires"),
                                request.args.get("X-Lbmock-Signature"))
    return json_error(*refused) if refused else None


def truncated(body: Iterator[bytes], size: int, cut: int) -> Iterator[bytes]:
    """``body`` (``size`` bytes) ending ``cut`` bytes short (fault truncated-files)."""
    left = max(0, size - cut)
    for chunk in body:
        if left <= 0:
            return
        yield chunk[:left]
        left -= len(chunk)


def file_body(handle: BinaryIO, size: int, environ: dict, cut: int = 0) -> Iterable[bytes]:
    """The response body for ``size`` bytes of ``handle`` from where it stands (closed when sent).

    Zero-copy when the server offers ``wsgi.file_wrapper`` (lbmock's server and gunicorn send it
    with sendfile(2), stopping at the Content-Length as PEP 3333 asks); else reads of up to
    4 MiB.  ``cut`` (fault truncated-files) ends the body that many bytes short, on the reading path."""
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None and not cut:
        return wrapper(handle, 1 << 20)

    def reading() -> Iterator[bytes]:
        with handle:
            yield from read_range(handle, max(0, size - cut))

    return reading()


SLOW_CHUNK = 16 * 1024  # fault slow-files: bytes a chunk


def slow_files_pause() -> float | None:
    """Fault slow-files: seconds before each chunk of this download (None: the fault is not set)."""
    fault = backend().take_fault(Fault.SLOW_FILES)
    return None if fault is None else (fault.arg or 50) / 1000


def trickle(body: Iterable[bytes], pause: float) -> Iterator[bytes]:
    """Fault slow-files: ``body`` in 16 KiB chunks, ``pause`` s before each (the first one too).
    A path of its own, taken only while the fault is set (never sendfile): the fast path is untouched."""
    pending = bytearray()
    try:
        for chunk in body:
            pending += chunk
            while len(pending) >= SLOW_CHUNK:
                time.sleep(pause)
                yield bytes(pending[:SLOW_CHUNK])
                del pending[:SLOW_CHUNK]
        if pending:
            time.sleep(pause)
            yield bytes(pending)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def cut_by_fault(signed: bool = True) -> int:
    """Bytes fault truncated-files cuts from this download (0: none); it counts only for ``signed`` URLs."""
    fault = backend().take_fault(Fault.TRUNCATED_FILES) if signed else None
    return 0 if fault is None else fault.arg or 10


def open_export_file(be: MockBackend, path: str, expires: str | None, signature: str | None,
                     task_id: str, stream: str, index: str) -> tuple[BinaryIO, int] | tuple[int, str, str] | None:
    """Export file ``index`` (or ``all``) of a task's stream behind a signed URL: (open handle, size),
    the refusal's (status, message, code), or None for an empty stream.  Takes no fault."""
    refused = signature_refusal(be, path, expires, signature)
    if refused:
        return refused
    if stream not in (RESULT, ERRORS):
        return 404, f"unknown stream {stream!r}", "NOT_FOUND"
    number = None if index == "all" else small_number(index)
    if number is None and index != "all":
        if not be.task_exists(task_id):
            return 404, f"unknown export task {task_id}", "NOT_FOUND"
        return 404, f"task {task_id} has no {stream} file {index}", "NOT_FOUND"
    try:
        return be.open_export_file(task_id, stream, number)  # None: an empty stream (only "all" gets here)
    except NotFound as exc:
        return 404, str(exc), "NOT_FOUND"


def export_file(task_id: str, stream: str, index: str) -> Response:
    if backend().take_fault(Fault.EXPIRED_FILES):
        return json_error(403, "signed URL refused: signed URL has expired", "EXPIRED")
    opened = open_export_file(backend(), request.path, request.args.get("X-Lbmock-Expires"),
                              request.args.get("X-Lbmock-Signature"), task_id, stream, index)
    if opened is None:
        return Response(b"", mimetype=NDJSON)
    if isinstance(opened[0], int):
        return json_error(*opened)
    handle, size = opened
    cut, pause = cut_by_fault(), slow_files_pause()
    if pause is not None:
        body = trickle(file_body(handle, size, {}, cut), pause)
    else:
        body = file_body(handle, size, request.environ, cut)
    return Response(body, mimetype=NDJSON, headers={"Content-Length": str(max(0, size - cut))},
                    direct_passthrough=True)


def export_file_fast(be: MockBackend, environ: dict) -> tuple[Iterable[bytes], int] | None:
    """``GET /files/<task>/<stream>/<index>`` without Flask's per-request machinery (a fifth of a
    file's serving time): the body and its size when no fault is active and the URL opens a file;
    None sends the request through Flask (every other case, errors included, answered there)."""
    parts = environ["PATH_INFO"].split("/")
    if environ["REQUEST_METHOD"] != "GET" or len(parts) != 5 or parts[1] != "files" or be.any_fault():
        return None
    path = environ["PATH_INFO"].encode("latin-1").decode("utf-8", "replace")  # what Flask's request.path is
    args = dict(pair.partition("=")[::2] for pair in reversed(environ.get("QUERY_STRING", "").split("&")))
    # (plain values: the signature is hex, the expiry digits; anything else fails here, and Flask,
    # which decodes the query fully, answers)
    opened = open_export_file(be, path, args.get("X-Lbmock-Expires"), args.get("X-Lbmock-Signature"),
                              *path.split("/")[2:])
    if opened is None or isinstance(opened[0], int):
        return None
    handle, size = opened
    return file_body(handle, size, environ), size


def legacy_file(export_id: str) -> Response:
    refused = check_signature()
    if refused:
        return refused
    try:
        export = backend().legacy_by_id(export_id)
    except NotFound:
        return json_error(404, f"unknown legacy export {export_id}", "NOT_FOUND")
    body = backend().legacy_bytes(export)
    pause = slow_files_pause()
    return Response(body if pause is None else trickle(body, pause), mimetype=JSON)


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
    opened = be.open_export_file(task.id, stream)
    if opened is None:
        if stream == ERRORS:
            return json_error(404, f"task {task_id} has no errors", "NOT_FOUND")
        return Response(b"", mimetype=NDJSON)
    handle, size = opened
    pause = slow_files_pause()
    if pause is not None:
        body = trickle(file_body(handle, size, {}), pause)
    else:
        body = file_body(handle, size, request.environ)
    return Response(body, mimetype=NDJSON, headers={"Content-Length": str(size)}, direct_passthrough=True)


def export_errors(task_id: str, org_id: str) -> Response:
    return export_results(task_id, org_id, stream=ERRORS)
