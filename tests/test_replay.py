"""Replay (issue 22.3): export v2 rows a user has, served as they are (``--replay FILE.ndjson``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import orjson
import pytest

from lbmock.export import ExportFilters, ExportScope, TimeRange, selected_rows, v2_lines
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.replay import ReplayError, mask_asset, row_data_asset
from lbmock.strategies.served_world import resolve_world
from lbmock.world import WorkflowStatus
from lbmock.world_spec import SpecError, WorldSpec, load_world_file

DRAWN = WorldSpec(seed=1, rows=30, projects=2, quality="consensus")


ALL = ExportParams.all()


def _write_export(world, path: Path, params: ExportParams = ALL) -> list[bytes]:
    scope = ExportScope()  # a catalog export: every project of each row
    lines = list(v2_lines(world, selected_rows(world, ExportFilters(), scope), params, Urls(), scope))
    path.write_bytes(b"".join(lines))
    return lines


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    drawn = resolve_world(DRAWN)
    path = tmp_path_factory.mktemp("replay") / "export.ndjson"
    _write_export(drawn, path)
    # the same seed: the organisation (in row_data links) is the drawn world's, so rows compare equal
    return drawn, resolve_world(WorldSpec(seed=DRAWN.seed, replay=(str(path),))), path


def test_a_replayed_world_has_the_rows_projects_and_datasets_of_its_file(recorded):
    drawn, replayed, _path = recorded
    assert len(replayed) == len(drawn)
    assert [p.id for p in replayed.projects] == [p.id for p in drawn.projects]
    assert [p.name for p in replayed.projects] == [p.name for p in drawn.projects]
    assert replayed.datasets == tuple(d.__class__(d.id, d.name) for d in drawn.datasets)
    for owner in [*(p.id for p in drawn.projects), *(d.id for d in drawn.datasets)]:
        assert replayed.row_count(owner) == drawn.row_count(owner)
    row = drawn.row(4)
    assert replayed.index_of(row.id) == 4
    assert all(replayed.index_of(lb.id) == 4 for lb in row.all_labels)
    used = {f.tool.schema_id for r in drawn for lb in r.all_labels for f in lb.features}
    assert used <= {t.schema_id for p in replayed.projects for t in p.ontology.tools}


@pytest.mark.parametrize("params", [ExportParams(), ExportParams.all(), ExportParams(label_details=True),
                                    ExportParams(project_details=True, interpolated_frames=True),
                                    ExportParams(data_row_details=True, performance_details=True, embeddings=True)])
def test_params_drop_what_the_renderer_leaves_out(recorded, params):
    """Rendering the drawn world with ``params`` equals replaying its all-params recording with them."""
    drawn, replayed, _path = recorded
    for scope in (ExportScope(project_id=drawn.project.id), ExportScope(),
                  ExportScope(project_ids=frozenset({drawn.projects[1].id}))):
        expected = list(v2_lines(drawn, selected_rows(drawn, ExportFilters(), scope), params, Urls(), scope))
        assert list(v2_lines(replayed, selected_rows(replayed, ExportFilters(), scope), params, Urls(),
                             scope)) == expected


def test_filters_work_on_the_rows_own_fields(recorded):
    drawn, replayed, _path = recorded
    some = [drawn.row(3), drawn.row(11)]
    filters = [ExportFilters(statuses=frozenset({s})) for s in WorkflowStatus] + [
        ExportFilters(last_activity_at=TimeRange(drawn.row(5).last_activity_at, None)),
        ExportFilters(labeled_at=TimeRange(None, drawn.row(9).labels[0].created_at if drawn.row(9).labels else 0)),
        ExportFilters(data_row_ids=frozenset(r.id for r in some)),
        ExportFilters(global_keys=frozenset(r.global_key for r in drawn if r.global_key)),
        ExportFilters(dataset_ids=frozenset({drawn.datasets[0].id})),
        ExportFilters(batch_ids=frozenset({drawn.project.batches[0].id}))]
    for f in filters:
        for scope in (ExportScope(project_id=drawn.project.id), ExportScope(project_id=drawn.projects[1].id),
                      ExportScope()):
            assert [r.id for r in selected_rows(replayed, f, scope)] == [r.id for r in selected_rows(drawn, f, scope)]


def test_a_line_that_is_not_a_v2_row_names_its_file_and_line(tmp_path):
    path = tmp_path / "bad.ndjson"
    good = orjson.dumps({"data_row": {"id": "ck0000000000000000000000a"}, "media_attributes": {}, "projects": {}})
    for bad, why in [(b"{not json", "not JSON"), (b'{"rows": []}', '"data_row"'), (b"[1, 2]", "not a JSON object"),
                     (b'{"data_row": {"id": "x"}, "projects": {"p": {"labels": {}}}}', "labels is not a list"),
                     (b'{"data_row": {"id": "x"}, "projects": {"p": {"project_details": {"workflow_status": '
                      b'"Finished"}}}}', "workflow_status")]:
        path.write_bytes(good + b"\n\n" + bad + b"\n")
        with pytest.raises(ReplayError, match=rf"bad\.ndjson: line 3: not an export v2 row: .*{why}"):
            resolve_world(WorldSpec(replay=(str(path),)))
    path.write_bytes(good + b"\n" + good + b"\n")
    with pytest.raises(ReplayError, match=r"line 2: data row .* replayed twice"):
        resolve_world(WorldSpec(replay=(str(path),)))
    with pytest.raises(SpecError, match="cannot read the replay file"):
        WorldSpec(replay=(str(tmp_path / "missing.ndjson"),))


def test_a_changed_file_names_another_world(tmp_path):
    """Templates are keyed by the world's pickle: it holds each file's digest, so a file that changed
    (at the same path) never meets a template of its old rows."""
    drawn = resolve_world(WorldSpec(seed=2, rows=3))
    path = tmp_path / "export.ndjson"
    lines = _write_export(drawn, path, ExportParams())
    before = pickle.dumps(resolve_world(WorldSpec(replay=(str(path),))))
    path.write_bytes(b"".join(lines).replace(b'"labels":[', b'"labels" :[', 1))
    assert pickle.dumps(resolve_world(WorldSpec(replay=(str(path),)))) != before


def test_replay_files_in_a_world_file_are_relative_to_it(tmp_path):
    drawn = resolve_world(WorldSpec(seed=2, rows=3))
    (tmp_path / "rec").mkdir()
    _write_export(drawn, tmp_path / "rec" / "export.ndjson", ExportParams())
    (tmp_path / "world.toml").write_text('seed = 2\nreplay = ["rec/export.ndjson"]\n')
    spec = load_world_file(tmp_path / "world.toml")
    assert spec.replay == (str(tmp_path / "rec" / "export.ndjson"),)
    assert WorldSpec.from_json(spec.to_json()) == spec
    assert [r.id for r in resolve_world(spec)] == [r.id for r in drawn]


def test_asset_layout():
    assert mask_asset("/r/assets", "ckf", 12) == Path("/r/assets/masks/ckf/12.png")
    assert row_data_asset("/r/assets", "ckd") == Path("/r/assets/row_data/ckd.dcm")
