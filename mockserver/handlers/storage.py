"""The DICOM file behind each data row (``row_data``), served as storage serves it.

Signed and expiring like every file URL (fault ``expired-files`` refuses it,
``truncated-files`` cuts it short); no Authorization header is needed and a
Bearer one is ignored.  The first GET streams the Part 10 file frame by frame with
its Content-Length and keeps it on disk as it goes (``lbmock.mockserver.exports.volume_cache``);
later GETs send that file (sendfile).  HEAD answers the headers alone; a single
``Range: bytes=`` range is answered 206, from the kept file or with only the frames
it touches produced.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote

from flask import Response, request

from lbmock.dicom.series import MIME_TYPE
from lbmock.dicom.user_files import FileSeries, UserFileChanged
from lbmock.mockserver.errors import NotFound
from lbmock.mockserver.handlers.common import backend, json_error
from lbmock.mockserver.handlers.files import (
    check_signature,
    cut_by_fault,
    file_body,
    slow_files_pause,
    trickle,
    truncated,
)
from lbmock.render.common import dicom_file_name
from lbmock.replay import row_data_asset
from lbmock.world import DataRow

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(start, end_exclusive)`` of a single-range header; None to send everything; "unsatisfiable"."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:  # several ranges or another unit: ignoring Range is allowed (RFC 9110 14.2)
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        return (max(0, size - n), size) if n > 0 else "unsatisfiable"
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return "unsatisfiable"
    return start, end


def _ranged(headers: dict, size: int) -> tuple[int, int, int] | Response:
    """(status, start, end) of this GET over a file of ``size`` bytes (``headers`` get its
    Content-Range), or the whole answer: 416 for a range past the end, the headers for HEAD."""
    wanted = _byte_range(request.headers.get("Range"), size)
    if wanted == "unsatisfiable":
        return Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = wanted if isinstance(wanted, tuple) else (0, size)
    status = 206 if isinstance(wanted, tuple) else 200
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    if request.method == "HEAD":
        return Response(status=status, mimetype=MIME_TYPE, headers={**headers, "Content-Length": str(end - start)})
    return status, start, end


def content_disposition(name: str) -> str:
    """``attachment`` with the name as RFC 6266 has it: an ASCII ``filename`` (quotes, backslashes,
    control and non-ASCII characters replaced) and the exact name, UTF-8 percent-encoded, in ``filename*``."""
    plain = "".join(c if " " <= c <= "~" and c not in '"\\/' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def dicom_file(org_id: str, file_name: str) -> Response:
    refused = check_signature()
    if refused:
        return refused
    try:
        row = backend().dicom_row(org_id, file_name)
    except NotFound:
        return json_error(404, f"no DICOM file {org_id}/{file_name}", "NOT_FOUND")
    if row.recorded is not None:
        return _recorded_file(row)
    # pydicom and the encoders load with the first file served, not with the server (~0.15 s a start)
    from lbmock.dicom.part10 import file_size, part10_chunks

    try:
        size = file_size(row.series, row)  # a compressed file's size depends on its pixels
    except UserFileChanged as exc:  # a user's file (--dicom-dir) edited since the start: never other bytes
        return json_error(409, str(exc), "CONFLICT")
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{row.series.sop_uid}"',
               "Content-Disposition": content_disposition(row.external_id or dicom_file_name(row)),
               "Cache-Control": "private, max-age=3600"}
    ranged = _ranged(headers, size)
    if isinstance(ranged, Response):
        return ranged
    status, start, end = ranged
    # truncated-files: a shorter body with a matching Content-Length, so the DICOM itself is cut short
    cut, pause = cut_by_fault(), slow_files_pause()
    if isinstance(row.series, FileSeries):  # a user's file: sent from where it is (read-only), never copied
        return _send(row.series.path, start, end, status, headers, cut, pause)
    be = backend()
    cached = be.cached_dicom(file_name)
    if cached is not None:  # generated before: sent from disk (read, not sendfile, under slow-files)
        cached.seek(start)
        body = file_body(cached, end - start, request.environ if pause is None else {}, cut)
    elif status == 200 and not cut:  # the first whole download: generated, and kept as it goes
        body = be.keep_dicom(file_name, part10_chunks(row), size)
    else:
        body = truncated(part10_chunks(row, start, end), end - start, cut)
    if pause is not None:
        body = trickle(body, pause)
    return Response(body, status=status, mimetype=MIME_TYPE,
                    headers={**headers, "Content-Length": str(max(0, end - start - cut))}, direct_passthrough=True)


def _send(path: str, start: int, end: int, status: int, headers: dict[str, str], cut: int,
          pause: float | None) -> Response:
    handle = open(path, "rb")  # noqa: SIM115 - file_body closes it once sent
    handle.seek(start)
    body = file_body(handle, end - start, request.environ if pause is None else {}, cut)
    if pause is not None:
        body = trickle(body, pause)
    return Response(body, status=status, mimetype=MIME_TYPE,
                    headers={**headers, "Content-Length": str(max(0, end - start - cut))}, direct_passthrough=True)


def _recorded_file(row: DataRow) -> Response:
    """A replayed row's DICOM file: its asset (``assets/row_data/<id>.dcm`` beside the replay file),
    byte for byte, with Range and the faults as for any file; a 404 naming the asset when it is missing."""
    assert row.recorded is not None
    path = row_data_asset(row.recorded.assets, row.id)
    try:
        stat = os.stat(path)
    except OSError:
        return json_error(404, f"replayed data row {row.id} has no DICOM file: no asset {path}", "NOT_FOUND")
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"',
               "Content-Disposition": content_disposition(row.external_id or dicom_file_name(row)),
               "Cache-Control": "private, max-age=3600"}
    ranged = _ranged(headers, stat.st_size)
    if isinstance(ranged, Response):
        return ranged
    status, start, end = ranged
    return _send(str(path), start, end, status, headers, cut_by_fault(), slow_files_pause())
