"""Per-frame records: the NDJSON behind a legacy label group's ``frames`` URL."""

from __future__ import annotations

from collections.abc import Iterator

from lbmock.render.common import Urls, legacy_answer, point_list
from lbmock.world import Label, Polyline

GROUPS = {"axial": "Axial", "sagittal": "Sagittal", "coronal": "Coronal"}


def render_frame_records(label: Label, plane: str, urls: Urls) -> Iterator[dict]:
    """One record per frame of ``plane`` that carries an object or a classification.

    Interpolated frames are included with ``keyframe: false``, as Labelbox's
    per-frame exports list every frame an object is alive in.
    """
    by_frame: dict[int, list[dict]] = {}
    for feature in label.features:
        if feature.plane != plane:
            continue
        tool = feature.tool
        for frame, geometry, is_key, answers in feature.frames(interpolated=True):
            obj = {"featureId": feature.feature_id, "schemaId": tool.schema_id, "title": tool.name,
                   "value": tool.value, "color": tool.color, "keyframe": is_key}
            if isinstance(geometry, Polyline):
                obj["line"] = point_list(geometry.points)
            else:
                obj["instanceURI"] = urls.mask_legacy(feature.feature_id, frame)
            obj["classifications"] = [legacy_answer(a) for a in answers]
            by_frame.setdefault(frame, []).append(obj)
    frame_answers: dict[int, list[dict]] = {}
    for fc in label.frame_classifications:
        if fc.plane == plane:
            frame_answers.setdefault(fc.frame, []).append(legacy_answer(fc.answer))
    for frame in sorted(by_frame.keys() | frame_answers.keys()):
        yield {"frameNumber": frame, "classifications": frame_answers.get(frame, []),
               "objects": by_frame.get(frame, []), "relationships": []}
