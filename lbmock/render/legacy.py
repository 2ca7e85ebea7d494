"""Legacy export rows (``project.export_labels``): one JSON object per label."""

from __future__ import annotations

from collections.abc import Iterator

from lbmock.render.common import Urls, iso_z_millis, legacy_answer
from lbmock.world import PLANES, DataRow, Label, Project, WorkflowEvent

NO_SCORE = -1  # what legacy exports write where a label has no agreement score


def _legacy_event(event: WorkflowEvent) -> dict:
    out = {"actorId": event.created_by.id, "action": event.action,
           "createdAt": iso_z_millis(event.created_at)}
    if event.previous_task:
        out["previousTaskId"] = event.previous_task.id
        out["previousTaskName"] = event.previous_task.name
    if event.next_task:
        out["nextTaskId"] = event.next_task.id
        out["nextTaskName"] = event.next_task.name
    return out


def render_legacy_row(project: Project, row: DataRow, label: Label, urls: Urls) -> dict:
    """The legacy export object for one label of ``row`` in ``project``.

    Objects live behind each group's ``frames`` URL (see
    :func:`lbmock.render.frames.render_frame_records`); group names are
    lower-case plane names.  "External ID" and "Global Key" are ``null`` when the
    row has none: the SDK's own legacy fixtures (``image_export.json``,
    ``tiled_image_export.json``, ``highly_nested_image.json``, ``pdf_export.json``
    in labelbox-python's tests) keep the keys; only export v2 leaves them out
    ("If utilized", export glossary).  "Seconds to Label" includes review
    time; "Agreement" is the consensus score, "Benchmark Agreement" the
    benchmark score (``-1`` where there is none), "Benchmark ID" the benchmark
    label a label is measured against.
    """
    membership = row.in_project(project.id) or row.primary
    out = {
        "ID": label.id,
        "DataRow ID": row.id,
        "Labeled Data": urls.row_data(project.organization.id, row),
        "Label": {
            "objects": [],
            "classifications": [legacy_answer(a) for a in label.classifications],
            "relationships": [],
            "groups": [{"name": plane.lower(), "objects": [], "classifications": [],
                        "relationships": [], "frames": urls.frames(label.id, plane)}
                       for plane in PLANES],
        },
        "Created By": label.created_by.email,
        "Project Name": project.name,
        "Created At": iso_z_millis(label.created_at),
        "Updated At": iso_z_millis(label.updated_at),
        "Seconds to Label": label.seconds_to_label,
        "Seconds to Create": label.seconds_to_create,
        "Seconds to Review": label.seconds_to_review,
        "External ID": row.external_id,
        "Global Key": row.global_key,
        "Agreement": NO_SCORE if label.consensus_score is None else label.consensus_score,
        "Is Benchmark": 1 if label.is_benchmark else 0,
        "Benchmark Agreement": NO_SCORE if label.benchmark_score is None else label.benchmark_score,
        "Benchmark ID": label.benchmark_reference_label,
        "Dataset Name": row.dataset.name,
        "Reviews": [{"id": r.id, "score": 1 if r.action == "Approve" else -1,
                     "createdAt": iso_z_millis(r.created_at), "createdBy": r.created_by.email,
                     "labelId": label.id} for r in label.reviews],
        "View Label": urls.view_label(project.id, label.id),
        "Has Open Issues": 0,
        "Skipped": label.skipped,
        "DataRow Workflow Info": {
            "taskName": membership.task_name,
            "Workflow History": [_legacy_event(e) for e in reversed(membership.history)],
        },
    }
    return out


def render_legacy_rows(project: Project, rows, urls: Urls) -> Iterator[dict]:
    """Every label of ``rows`` in ``project`` as legacy export objects, in row order."""
    for row in rows:
        membership = row.in_project(project.id)
        for label in membership.labels if membership is not None else ():
            yield render_legacy_row(project, row, label, urls)
