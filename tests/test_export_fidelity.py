"""Export fields checked against public material through labelbox 7.17.0, in-process (issue 25, points 4
and 6): DICOM objects carry no nested classifications unless the world asks (``object_classifications``);
``slice_thickness_mm`` is the served file's SliceThickness; ``seconds_to_*`` are whole seconds, as in the
reference sample; ``project_details`` and ``attachments`` hold only keys public material shows."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import labelbox
import pydicom
import pytest
import requests
from sdk_streams import exported

from lbmock.render.common import parse_iso
from lbmock.world import World

SEED, ROWS = 9, 16


def _objects(rows: list[dict]) -> list[dict]:
    return [obj for row in rows for project in row["projects"].values() for label in project["labels"]
            for group in label["annotations"]["groups"].values() for frame in group["frames"].values()
            for obj in frame["objects"].values()]


def _tool_asks_nested(world: World) -> bool:
    return any(tool.classifications for tool in world.project.ontology.tools)


@pytest.mark.lb_world(seed=SEED, rows=ROWS)
def test_dicom_objects_carry_no_nested_classifications_by_default(lb_mock, lb_world):
    """Every public DICOM sample has ``classifications: []`` on its objects (and the DICOM import
    notebook lists radio, checklist and text classifications as not supported): none by default."""
    assert _tool_asks_nested(lb_world), "no tool asks a nested question"
    assert not any(p.object_classifications for p in lb_world.projects)
    client = labelbox.Client(**lb_mock.client_kwargs)
    objects = _objects(exported(client.get_project(lb_world.project.id)))
    assert objects and all(obj["classifications"] == [] for obj in objects)


@pytest.mark.lb_world(seed=SEED, rows=ROWS, object_classifications=True)
def test_dicom_objects_answer_nested_questions_when_the_world_asks(lb_mock, lb_world):
    assert _tool_asks_nested(lb_world)
    client = labelbox.Client(**lb_mock.client_kwargs)
    nested = _objects(exported(client.get_project(lb_world.project.id)))
    assert any(obj["classifications"] for obj in nested)


# The DICOM reference sample's project_details and attachment keys (batch_name and workflow_status: the
# SDK's test_export_project_streamable); no public sample has project_details.task_name / task_id or
# attachments[].name.
PROJECT_DETAILS_KEYS = {"ontology_id", "workflow_status", "batch_id", "batch_name", "priority",
                        "consensus_expected_label_count", "workflow_history"}
ATTACHMENT_KEYS = {"type", "value", "id"}


def _served(url: str, api_key: str) -> pydicom.Dataset:
    reply = requests.get(url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
    assert reply.status_code == 200, reply.text[:200]
    return pydicom.dcmread(io.BytesIO(reply.content), stop_before_pixels=True)


def _stated_thickness(url: str, api_key: str) -> float:
    return float(_served(url, api_key).SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SliceThickness)


def _stated_acquisition(url: str, api_key: str) -> datetime:
    """The file's AcquisitionDateTime (the enhanced IODs' DT, no offset: read as UTC)."""
    stamp = str(_served(url, api_key).AcquisitionDateTime)
    return datetime.strptime(stamp[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("variants", [
    pytest.param((), marks=pytest.mark.lb_world(seed=SEED, rows=ROWS), id="plain"),
    pytest.param(("anisotropic",), marks=pytest.mark.lb_world(seed=SEED, rows=ROWS, dicom_variants=["anisotropic"]),
                 id="anisotropic")])
def test_slice_thickness_seconds_and_keys_follow_public_material(lb_mock, lb_world, variants):
    client = labelbox.Client(**lb_mock.client_kwargs)
    rows = exported(client.get_project(lb_world.project.id), params={
        "metadata_fields": True, "attachments": True, "project_details": True, "performance_details": True})
    thickness = [(row["data_row"]["row_data"], m["value"]) for row in rows for m in row["metadata_fields"]
                 if m["schema_name"] == "slice_thickness_mm"]
    assert thickness, "no row has the slice_thickness_mm field"
    for url, value in thickness:
        assert value == _stated_thickness(url, lb_mock.api_key)
    if variants:  # anisotropic series: thicknesses other than 1 mm, each the file's own
        assert {value for _url, value in thickness} != {1.0}
    # issue 26.6: captureDateTime, Labelbox's field for when the asset was captured, is the file's acquisition
    captured = [(row["data_row"]["row_data"], m["value"]) for row in rows for m in row["metadata_fields"]
                if m["schema_name"] == "captureDateTime"]
    assert captured, "no row has the captureDateTime field"
    for url, value in captured:
        assert parse_iso(value) == _stated_acquisition(url, lb_mock.api_key)
    labels = [label for row in rows for project in row["projects"].values() for label in project["labels"]]
    assert labels
    for label in labels:
        performance = label["performance_details"]
        assert type(performance["seconds_to_create"]) is int and type(performance["seconds_to_review"]) is int
    assert all(set(p["project_details"]) == PROJECT_DETAILS_KEYS for row in rows for p in row["projects"].values())
    attachments = [a for row in rows for a in row["attachments"]]
    assert attachments and all(set(a) == ATTACHMENT_KEYS for a in attachments)
