"""GET /v1/frames/<label_id>?group=axial|sagittal|coronal: legacy per-frame NDJSON."""

from __future__ import annotations

import orjson
from flask import Response, request

from lbmock.mockserver.errors import NotFound
from lbmock.mockserver.handlers.common import NDJSON, backend, json_error, request_urls, require_key
from lbmock.render.frames import GROUPS, render_frame_records


def label_frames(label_id: str) -> Response:
    _key, refused = require_key()
    if refused:
        return refused
    group = request.args.get("group")
    if group is None:
        return json_error(400, "missing ?group= (one of axial, sagittal, coronal)", "BAD_REQUEST")
    plane = GROUPS.get(group.lower())
    if plane is None:
        return json_error(400, f"unknown group {group!r}: use axial, sagittal or coronal", "BAD_REQUEST")
    try:
        row, label = backend().label(label_id)
    except NotFound:
        return json_error(404, f"unknown label {label_id}", "NOT_FOUND")
    if row.recorded is not None:  # legacy records need what an export v2 row does not carry
        return json_error(404, f"label {label_id} is replayed (--replay): legacy frames are not served for "
                               f"replayed rows; read its export v2 row", "NOT_FOUND")
    urls = request_urls()
    body = (orjson.dumps(rec) + b"\n" for rec in render_frame_records(label, plane, urls))
    return Response(body, mimetype=NDJSON)
