"""Export v2 rows (``project.export_v2`` / ``project.export``): one JSON object per data row."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Container, Sequence
from dataclasses import dataclass, fields

import numpy as np
import orjson

from lbmock.dicom.series import MIME_TYPE
from lbmock.render.common import (
    Urls,
    iso_offset_micros,
    iso_offset_millis,
    iso_z_millis,
    point_list,
    v2_answer,
)
from lbmock.world import (
    PLANES,
    DataRow,
    Feature,
    Label,
    MetadataValue,
    Option,
    Polyline,
    Project,
    ProjectRow,
    WorkflowEvent,
    WorkflowStatus,
)


@dataclass(frozen=True, slots=True)
class ExportParams:
    """Which optional parts an export includes.  An excluded part is absent."""

    attachments: bool = False
    metadata_fields: bool = False
    data_row_details: bool = False
    project_details: bool = False
    label_details: bool = False
    performance_details: bool = False
    embeddings: bool = False
    interpolated_frames: bool = False

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def all(cls) -> ExportParams:
        return cls(**{name: True for name in cls.names()})


# project_details.workflow_status spells statuses in upper snake case ("IN_REVIEW").
V2_WORKFLOW_STATUS = {s: s.name for s in WorkflowStatus}


def metadata_value(mv: MetadataValue) -> object:
    """A metadata value as exports (and the dataRow query) write it."""
    if isinstance(mv.value, Option):
        return mv.value.name
    if mv.schema.kind == "datetime":
        return iso_z_millis(int(mv.value))
    return mv.value


def embedding_vector(row: DataRow, dims: int) -> list[float]:
    """``dims`` values in [-1, 1] fixed by the row's drawn embedding seed (SHAKE-256 stretches
    the seed to any length: the precomputed CLIP embedding has 512)."""
    digest = hashlib.shake_256(struct.pack(">Q", row.embedding_seed)).digest(dims * 2)
    # numpy: 28 µs for 512 values against 630 µs for a Python loop (same values)
    return np.round(np.frombuffer(digest, dtype=">u2") / 32767.5 - 1.0, 6).tolist()


def _v2_event(event: WorkflowEvent) -> dict:
    out = {"action": event.action, "created_at": iso_offset_micros(event.created_at),
           "created_by": event.created_by.email}
    if event.previous_task:
        out["previous_task_name"] = event.previous_task.name
        out["previous_task_id"] = event.previous_task.id
    if event.next_task:
        out["next_task_name"] = event.next_task.name
        out["next_task_id"] = event.next_task.id
    return out


def _v2_object(project: Project, feature: Feature, frame: int, geometry, answers, urls: Urls) -> dict:
    tool = feature.tool
    obj = {"feature_id": feature.feature_id, "feature_schema_id": tool.schema_id, "name": tool.name,
           "value": tool.value, "annotation_kind": tool.annotation_kind,
           "classifications": [v2_answer(a) for a in answers] if answers else []}  # most have none
    if isinstance(geometry, Polyline):
        obj["line"] = point_list(geometry.points)
    else:
        obj["mask"] = {"url": urls.mask_v2(project.id, feature.feature_id, frame)}
    return obj


_SORTED_PLANES = tuple(sorted(PLANES))  # key_frame_feature_map lists planes alphabetically


def _frame_slot(frames: dict[int, dict], frame: int) -> dict:
    slot = frames.get(frame)
    if slot is None:
        slot = frames[frame] = {"objects": {}, "classifications": []}
    return slot


def render_v2_annotations(project: Project, label: Label, params: ExportParams, urls: Urls) -> dict:
    """The ``annotations`` object of a DICOM label: groups, segments, key frames."""
    frames_of: dict[str, dict[int, dict]] = {plane: {} for plane in PLANES}  # by frame number, until sorted
    segments: dict[str, dict] = {plane: {} for plane in PLANES}
    key_map: dict[str, dict] = {}
    for feature in label.features:
        frames = frames_of[feature.plane]
        for frame, geometry, _is_key, answers in feature.frames(params.interpolated_frames):
            _frame_slot(frames, frame)["objects"][feature.feature_id] = _v2_object(
                project, feature, frame, geometry, answers, urls)
        segments[feature.plane][feature.feature_id] = [list(r) for r in feature.segment_ranges()]
        key_map[feature.feature_id] = {plane: {} for plane in _SORTED_PLANES}
        key_map[feature.feature_id][feature.plane] = {str(kf.frame): True for kf in feature.keyframes}
    for fc in label.frame_classifications:
        _frame_slot(frames_of[fc.plane], fc.frame)["classifications"].append(v2_answer(fc.answer))
    # frames in numeric order, whatever the insertion order (most planes of a label have none)
    groups = {plane: {"name": plane, "classifications": [],
                      "frames": {str(frame): slot for frame, slot in sorted(frames.items())} if frames else {}}
              for plane, frames in frames_of.items()}
    return {"groups": groups, "segments": segments,
            "classifications": [v2_answer(a) for a in label.classifications],
            "key_frame_feature_map": key_map}


def render_v2_label(project: Project, label: Label, params: ExportParams, urls: Urls) -> dict:
    out: dict = {"label_kind": "DICOM", "version": "1.0.0", "id": label.id}
    if params.label_details:
        out["label_details"] = {
            "created_at": iso_offset_millis(label.created_at),
            "updated_at": iso_offset_millis(label.updated_at),
            "created_by": label.created_by.email,
            "content_last_updated_at": iso_offset_millis(label.updated_at),
            "reviews": [{"reviewed_at": iso_offset_millis(r.created_at), "reviewed_by": r.created_by.email,
                         "review_action": r.action, "label_id": label.id} for r in label.reviews],
        }
    if params.performance_details:
        # Whole seconds, as the DICOM reference sample writes them ("seconds_to_create": 22,
        # "seconds_to_review": 0); the legacy "Seconds to Label" keeps the fraction (the SDK's v1 fixture
        # image_export.json has 150.908)
        performance: dict = {"seconds_to_create": round(label.seconds_to_create),
                             "seconds_to_review": round(label.seconds_to_review), "skipped": label.skipped}
        # Only labels with a consensus or benchmark agreement carry scores; the
        # benchmark label itself has neither a score nor a reference.
        if label.consensus_score is not None:
            performance["consensus_score"] = label.consensus_score
        if label.benchmark_score is not None:
            performance["benchmark_score"] = label.benchmark_score
        if label.benchmark_reference_label is not None:
            performance["benchmark_reference_label"] = label.benchmark_reference_label
        out["performance_details"] = performance
    out["annotations"] = render_v2_annotations(project, label, params, urls)
    return out


def _project_details(project: Project, membership: ProjectRow) -> dict:
    # No task_name / task_id: no public sample or SDK test shows them in project_details (the DICOM
    # reference sample, the SDK's test_export_project_streamable, the export glossary); the current
    # task is the last workflow_history event's next_task_name / next_task_id.
    return {
        "ontology_id": project.ontology.id,
        "workflow_status": V2_WORKFLOW_STATUS[membership.status],
        "batch_id": membership.batch.id,
        "batch_name": membership.batch.name,
        "priority": membership.priority,
        "consensus_expected_label_count": project.consensus_expected_label_count,
        "workflow_history": [_v2_event(e) for e in reversed(membership.history)],
    }


def render_export_v2_row(project: Project | Sequence[Project], row: DataRow, params: ExportParams,
                         urls: Urls, home: Project | None = None) -> dict:
    """One data row of an export v2, with exactly the requested parts.

    ``project`` is the project of a project export, or the projects a
    catalog-side export (dataset, catalog, data rows, slice) shows: ``projects``
    holds each of them the row belongs to, keyed by id, with only its labels.
    ``home`` gives the organisation and the embedding when no project is shown
    (default: the first shown).
    """
    shown = (project,) if isinstance(project, Project) else tuple(project)
    first = home if home is not None else shown[0]
    if row.recorded is not None:
        return render_recorded_v2_row(shown, row, params, urls, home=first)
    data_row: dict = {"id": row.id}
    if row.global_key is not None:  # "If utilized" (export glossary)
        data_row["global_key"] = row.global_key
    data_row["row_data"] = urls.row_data(first.organization.id, row)
    if row.external_id is not None:
        data_row["external_id"] = row.external_id
    if params.data_row_details:
        data_row["details"] = {
            "dataset_id": row.dataset.id, "dataset_name": row.dataset.name,
            "created_at": iso_offset_millis(row.created_at), "updated_at": iso_offset_millis(row.updated_at),
            "last_activity_at": iso_offset_millis(row.last_activity_at),
            "created_by": row.created_by.email,
        }
    out: dict = {"data_row": data_row, "media_attributes": {"mime_type": MIME_TYPE}}
    if params.attachments:
        # {type, value, id} as the DICOM reference sample has them; no public export shows a name
        out["attachments"] = [{"type": a.type, "value": a.value, "id": a.id} for a in row.attachments]
    if params.metadata_fields:
        out["metadata_fields"] = [{"schema_id": m.schema.schema_id, "schema_name": m.schema.name,
                                   "value": metadata_value(m)} for m in row.metadata]
    if params.embeddings:
        # the precomputed embedding is the organisation's, the same in every project
        out["embeddings"] = [{"id": first.embedding_id, "name": first.embedding_name,
                              "dimensions": first.embedding_dims, "is_custom": False,
                              "values": [{"value": embedding_vector(row, first.embedding_dims)}]}]
    projects_out: dict = {}
    for p in shown:
        membership = row.in_project(p.id)
        if membership is None:
            continue
        project_out: dict = {"name": p.name,
                             "labels": [render_v2_label(p, lb, params, urls) for lb in membership.labels]}
        if params.project_details:
            project_out["project_details"] = _project_details(p, membership)
        projects_out[p.id] = project_out
    out["projects"] = projects_out
    return out


# ---------------------------------------------------------------- replayed rows (lbmock.replay)

# Top-level parts of a row an export param keeps (the same parts render_export_v2_row writes only
# when asked); anything else a recording holds (media_attributes, parts lbmock does not model) stays.
_ROW_PARTS = {"attachments": "attachments", "metadata_fields": "metadata_fields", "embeddings": "embeddings"}


def render_recorded_v2_row(shown: Sequence[Project], row: DataRow, params: ExportParams, urls: Urls,
                           home: Project | None = None) -> dict:
    """A replayed row: the recorded JSON itself, with what ``params`` leaves out dropped (as
    :func:`render_export_v2_row` leaves it out) and its links pointing at the mock: ``row_data`` at
    the mock's signed storage URL, each mask at the mock's mask URL of its project, feature and frame.
    Only the projects in ``shown`` stay, in the recording's order (``home``: the organisation's project
    when none is shown).  Params only drop: a part the recording lacks is not made up."""
    assert row.recorded is not None
    return render_recorded_v2(orjson.loads(row.recorded.text), {p.id for p in shown},
                              urls.row_data((home or shown[0]).organization.id, row), params, urls)


def render_recorded_v2(recorded: dict, shown_ids: Container[str], row_data: str, params: ExportParams,
                       urls: Urls) -> dict:
    """:func:`render_recorded_v2_row` of a recorded row just parsed (``orjson.loads`` of its line),
    changed in place: no part of it is copied, and keys keep their order.  ``row_data``: the
    row's link to its DICOM file."""
    data_row = recorded["data_row"]
    data_row["row_data"] = row_data
    if not params.data_row_details:
        data_row.pop("details", None)
    for key, param in _ROW_PARTS.items():
        if not getattr(params, param):
            recorded.pop(key, None)
    projects = recorded.get("projects")
    if projects is None:
        recorded["projects"] = {}
    else:
        recorded["projects"] = {pid: _recorded_project(pid, p, params, urls) for pid, p in projects.items()
                                if pid in shown_ids}
    return recorded


def _recorded_project(project_id: str, project: dict, params: ExportParams, urls: Urls) -> dict:
    if not params.project_details:
        project.pop("project_details", None)
    for label in project.get("labels", ()):
        if not params.label_details:
            label.pop("label_details", None)
        if not params.performance_details:
            label.pop("performance_details", None)
        annotations = label.get("annotations")
        if isinstance(annotations, dict):
            _recorded_annotations(project_id, annotations, params, urls)
    return project


def _recorded_annotations(project_id: str, annotations: dict, params: ExportParams, urls: Urls) -> None:
    """Masks linked to the mock; without ``interpolated_frames``, only each object's key frames
    (``key_frame_feature_map``), and no frame left empty by that."""
    key_map = annotations.get("key_frame_feature_map") or {}
    groups = {}
    for plane, group in (annotations.get("groups") or {}).items():
        frames = {}
        for number, slot in (group.get("frames") or {}).items():
            recorded_objects = slot.get("objects")
            objects = {}
            for feature_id, obj in (recorded_objects or {}).items():
                keys = key_map.get(feature_id)
                if not params.interpolated_frames and keys is not None and number not in (keys.get(plane) or {}):
                    continue  # an interpolated frame (a feature the map does not name is kept: cannot tell)
                mask = obj.get("mask")
                if isinstance(mask, dict):
                    mask["url"] = urls.mask_v2(project_id, feature_id, int(number))
                objects[feature_id] = obj
            if objects or slot.get("classifications") or not recorded_objects:
                if "objects" in slot:
                    slot["objects"] = objects
                frames[number] = slot
        if "frames" in group:
            group["frames"] = frames
        groups[plane] = group
    if "groups" in annotations:
        annotations["groups"] = groups
