"""Catalog-side exports and model runs through labelbox 7.17.0, in-process (issue 25, points 2 and 3).

Dataset, catalog, data-row and slice exports show project labels only when asked: ``project_ids``
shows those projects, ``all_projects=True`` every one, neither none (the SDK sends
``allProjects: false, projectIds: null``).  ``model_run_ids`` is refused with an exception the SDK
names (model-run export is "Not supported yet" for DICOM), ``all_model_runs`` adds nothing, and
``client.get_model_run`` raises ``ResourceNotFoundError``.  tests/compat/test_compat_catalog.py
runs the same exports through 3.72.2 and 7.17.0 against ``lbmock serve``.
"""

from __future__ import annotations

import labelbox
import pytest
from lbox.exceptions import OperationNotAllowedException, ResourceNotFoundError  # labelbox 7.x raises these
from sdk_streams import buffered

from lbmock.world import World

pytestmark = pytest.mark.lb_world(seed=13, rows=24, quality="consensus", projects=2)


@pytest.fixture
def world(lb_world) -> World:
    return lb_world


@pytest.fixture
def client(lb_mock):
    return labelbox.Client(**lb_mock.client_kwargs)


def _projects(task) -> dict[str, set[str]]:
    """Each exported row's id -> the project ids its ``projects`` holds."""
    task.wait_till_done()
    return {row["data_row"]["id"]: set(row["projects"]) for row in buffered(task)}


def _labelled_in(world: World, row_ids) -> dict[str, set[str]]:
    rows = {r.id: r for r in world}
    return {i: {m.project_id for m in rows[i].memberships} for i in row_ids}


def test_dataset_export_shows_projects_only_when_asked(world, client):
    dataset = client.get_dataset(world.datasets[0].id)
    first, second = (p.id for p in world.projects)
    plain = _projects(dataset.export(params={"label_details": True}))
    assert plain and all(shown == set() for shown in plain.values())  # neither: no project labels
    everything = _projects(dataset.export(params={"all_projects": True}))
    assert everything.keys() == plain.keys()  # which rows is the dataset's business, not the params'
    assert everything == _labelled_in(world, everything)
    assert any(shown == {first, second} for shown in everything.values())
    only_second = _projects(dataset.export(params={"project_ids": [second]}))
    assert only_second == {i: shown & {second} for i, shown in everything.items()}
    assert any(only_second.values())


def test_catalog_data_row_and_slice_exports_follow_the_same_rule(world, client):
    second = world.projects[1].id
    catalog = client.get_catalog()
    assert set().union(*_projects(catalog.export()).values()) == set()
    assert _projects(catalog.export(params={"all_projects": True})) == _labelled_in(world, [r.id for r in world])
    picked = [r.id for r in world][:5]
    by_ids = labelbox.DataRow.export(client, data_rows=picked)
    assert _projects(by_ids) == {i: set() for i in picked}
    by_ids = labelbox.DataRow.export(client, data_rows=picked, params={"project_ids": [second]})
    assert _projects(by_ids) == {i: shown & {second} for i, shown in _labelled_in(world, picked).items()}
    saved = client.get_catalog_slice(world.slices[0].id)
    in_slice = _projects(saved.export())
    assert in_slice and set().union(*in_slice.values()) == set()
    assert _projects(saved.export(params={"all_projects": True})) == _labelled_in(world, in_slice)


def test_model_runs_are_refused_or_absent_with_the_sdks_own_exceptions(world, client):
    with pytest.raises(ResourceNotFoundError):
        client.get_model_run("nope")
    dataset = client.get_dataset(world.datasets[0].id)
    with pytest.raises(OperationNotAllowedException, match="model-run exports are not supported for DICOM"):
        dataset.export(params={"model_run_ids": ["cl0no0such0run0000000001"]})
    with pytest.raises(OperationNotAllowedException, match="cl0no0such0run"):
        client.get_catalog().export(params={"model_run_ids": ["cl0no0such0run0000000001"], "all_projects": True})
    # all_model_runs: a DICOM world has no model runs, so the rows are those of the plain export
    rows = _projects(dataset.export(params={"all_model_runs": True}))
    assert rows == _projects(dataset.export())
