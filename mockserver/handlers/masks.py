"""Mask PNGs: the v2 URL (by project, feature and frame index) and the legacy instanceURI."""

from __future__ import annotations

from flask import Response

from lbmock.mockserver.errors import NotFound
from lbmock.mockserver.handlers.common import backend, json_error, require_key, small_number
from lbmock.render.masks import render_mask_png
from lbmock.replay import mask_asset
from lbmock.world import MaskShape


def _mask(feature_id: str, frame: str, project_id: str | None = None) -> Response:
    _key, refused = require_key()
    if refused:
        return refused
    frame_number = small_number(frame)
    if frame_number is None:
        return json_error(400, f"frame must be a positive integer, got {frame!r}", "BAD_REQUEST")
    try:
        row, feature = backend().mask_feature(feature_id, project_id)
    except NotFound:
        return json_error(404, f"unknown mask feature {feature_id}", "NOT_FOUND")
    if row.recorded is not None:  # a replayed row: the recording's PNG, as it is
        path = mask_asset(row.recorded.assets, feature_id, frame_number)
        try:
            png = path.read_bytes()
        except OSError:
            return json_error(404, f"replayed mask {feature_id} frame {frame_number}: no asset {path}", "NOT_FOUND")
        return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})
    keyframe = next((kf for kf in feature.keyframes if kf.frame == frame_number), None)
    if keyframe is None or not isinstance(keyframe.geometry, MaskShape):
        return json_error(404, f"feature {feature_id} has no mask at frame {frame}", "NOT_FOUND")
    png = render_mask_png(keyframe.geometry, row.volume.plane(feature.plane))
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


def v2_mask(project_id: str, feature_id: str, frame: str) -> Response:
    if backend().world.project_by_id(project_id) is None:
        _key, refused = require_key()
        return refused or json_error(404, f"unknown project {project_id}", "NOT_FOUND")
    return _mask(feature_id, frame, project_id)


def legacy_mask(feature_id: str, frame: str) -> Response:
    return _mask(feature_id, frame)
