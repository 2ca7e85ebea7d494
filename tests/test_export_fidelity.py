"""Export fields checked against public material through labelbox 7.17.0, in-process (issue 25, points 4
and 6): DICOM objects carry no nested classifications unless the world asks (``object_classifications``)."""

from __future__ import annotations

import labelbox
import pytest
from sdk_streams import exported

from lbmock.mockserver import mock_labelbox
from lbmock.strategies import seeded_world
from lbmock.world import World
from lbmock.world_spec import WorldSpec

SEED, ROWS = 9, 16


def _objects(rows: list[dict]) -> list[dict]:
    return [obj for row in rows for project in row["projects"].values() for label in project["labels"]
            for group in label["annotations"]["groups"].values() for frame in group["frames"].values()
            for obj in frame["objects"].values()]


@pytest.fixture(scope="module")
def world() -> World:
    world = seeded_world(SEED, ROWS)
    assert any(tool.classifications for tool in world.project.ontology.tools), "no tool asks a nested question"
    return world


def test_dicom_objects_carry_no_nested_classifications_unless_asked(world):
    """Every public DICOM sample has ``classifications: []`` on its objects (and the DICOM import
    notebook says they are not supported): a drawn world answers none by default."""
    assert not any(p.object_classifications for p in world.projects)
    with mock_labelbox(world) as lb:
        client = labelbox.Client(**lb.client_kwargs)
        objects = _objects(exported(client.get_project(world.project.id)))
    assert objects and all(obj["classifications"] == [] for obj in objects)
    asked = WorldSpec(seed=SEED, rows=ROWS, object_classifications=True)
    with mock_labelbox(asked) as lb:
        client = labelbox.Client(**lb.client_kwargs)
        nested = _objects(exported(client.get_project(world.project.id)))
    assert any(obj["classifications"] for obj in nested)
