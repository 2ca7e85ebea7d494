"""Replay (issue 22.3): export v2 rows a user has, served as they are (``--replay FILE.ndjson``)."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import orjson
import pytest

from lbmock.export import ExportFilters, ExportScope, TimeRange, export_v2_lines, selected_rows, v2_lines
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.replay import ReplayError, ReplayRows, ReplayWorld, mask_asset, row_data_asset
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
                      b'"Finished"}}}}', "workflow_status"),
                     # a value it cannot read, then a part missing further on: the missing part is said
                     (b'{"data_row": {"id": "x", "details": {"created_at": "soon"}}, "projects": {"p": {'
                      b'"project_details": {"batch_id": "b", "priority": "high"}, "labels": [{"id": "l", '
                      b'"label_details": {"created_at": "never"}}]}, "q": {"labels": [{"id": "m", "annotations": '
                      b'{"groups": {"Axial": {"frames": {"x1": {}}}}}}]}}}',
                      r"q\.labels\[0\].*frames\.x1: not a frame"),
                     (b'{"data_row": {"id": "x", "details": {"created_at": "soon"}}, "projects": {"p": {'
                      b'"project_details": {"batch_id": "b", "priority": "high"}, "labels": [{"id": "l", '
                      b'"label_details": {"created_at": "never"}}]}}}', "invalid literal for int"),
                     (b'{"data_row": {"id": "x", "details": {"created_at": "soon"}}, "projects": {"p": {'
                      b'"labels": [{"id": "l", "label_details": {"created_at": "never"}}]}}}',
                      "l.label_details.created_at: not a timestamp: 'never'"),
                     (b'{"data_row": {"id": "x", "details": {"created_at": "soon"}}}',
                      "data_row.details.created_at: not a timestamp: 'soon'")]:
        path.write_bytes(good + b"\n\n" + bad + b"\n")
        with pytest.raises(ReplayError, match=rf"bad\.ndjson: line 3: not an export v2 row: .*{why}"):
            resolve_world(WorldSpec(replay=(str(path),)))
    path.write_bytes(good + b"\n" + good + b"\n")
    with pytest.raises(ReplayError, match=r"line 2: data row .* replayed twice"):
        resolve_world(WorldSpec(replay=(str(path),)))
    with pytest.raises(SpecError, match="cannot read the replay file"):
        WorldSpec(replay=(str(tmp_path / "missing.ndjson"),))


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
def test_the_scan_numbers_lines_as_a_reader_of_lines_does(tmp_path, monkeypatch, block):
    """The scan reads blocks and cuts lines in them: each non-blank line, its number and offset are
    those of reading the file line by line, wherever a block ends (blank lines, CRLF, a line longer
    than a block, a last line without its newline)."""
    from lbmock import replay

    content = b'{"a":1}\n\n  \n\t\r\n {"b":2}\r\n\x0b\n' + b'{"c":"' + b"y" * 100 + b'"}\n\n{"d":4}'
    path = tmp_path / "lines.ndjson"
    path.write_bytes(content)
    expected, offset = [], 0
    for number, line in enumerate(io.BytesIO(content), 1):  # (as a file's lines: cut at newlines alone)
        if not line.isspace():
            expected.append((number, offset, line))
        offset += len(line)
    monkeypatch.setattr(replay, "SCAN_BYTES", block)
    assert [(n, o, bytes(line)) for n, o, line in replay._lines(str(path))] == expected


@pytest.mark.parametrize("shared_hash", [False, True])
def test_a_data_row_replayed_twice_is_said_in_file_order(tmp_path, monkeypatch, shared_hash):
    """The first row repeating a data row is named with the first row holding it, unless a line
    before it is not a row; ids sharing a hash (all of them, here) are told apart by their rows."""
    from lbmock import replay

    if shared_hash:
        monkeypatch.setattr(replay, "hash", lambda _value: 7, raising=False)
    path = tmp_path / "twice.ndjson"
    r = [_row(f"r{i}", f"l{i}") for i in range(4)]
    for lines, message in [([r[0], r[1], r[2], r[1], r[0], r[3]], r"line 4: data row r1 is replayed twice \(first: "
                                                                   r".*twice\.ndjson: line 2\)"),
                           ([r[0], r[1], r[0], b"{bad\n"], r"line 3: data row r0 is replayed twice .*line 1\)"),
                           ([r[0], b"{bad\n", r[0]], r"line 2: not an export v2 row: not JSON")]:
        path.write_bytes(b"".join(lines))
        with pytest.raises(ReplayError, match=message):
            resolve_world(WorldSpec(replay=(str(path),)))
    path.write_bytes(b"".join(r))
    world = resolve_world(WorldSpec(replay=(str(path),)))
    assert [world.index_of(i) for i in ("r0", "r3", "l2", "l1-f", "r9")] == [0, 3, 2, 1, None]


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


# ---------------------------------------------------------------- an export pass over recorded lines

SIGNED = Urls.served_at("http://127.0.0.1:9", sign=lambda path: f"{path}?Expires=9&Signature=s")


def _through_rows(world, filters, params, scope, indices=None, skip=frozenset()) -> list[bytes]:
    """The export as rendering each row (a DataRow) gives it."""
    rows = (row for row in selected_rows(world, filters, scope, indices) if row.index not in skip)
    return list(v2_lines(world, rows, params, SIGNED, scope))


def _without_drawing(monkeypatch):
    def refuse(self, index):
        raise AssertionError(f"row {index} was made a DataRow")

    monkeypatch.setattr(ReplayRows, "draw", refuse)
    monkeypatch.setattr(ReplayRows, "_make", refuse)


@pytest.fixture(scope="module")
def rewritten(recorded, tmp_path_factory):
    """The same recording written by another JSON writer (spaces, \\u escapes, a part lbmock does
    not model): what is served is orjson's encoding of it either way."""
    import json

    _drawn, _replayed, path = recorded
    out = tmp_path_factory.mktemp("rewritten") / "export.ndjson"
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    out.write_text("\n".join(json.dumps({**row, "note": "naïve ✓", "ratio": 1.0}) for row in rows) + "\n")
    return resolve_world(WorldSpec(seed=DRAWN.seed, replay=(str(out),)))


@pytest.mark.parametrize("params", [ExportParams(), ExportParams.all(), ExportParams(label_details=True),
                                    ExportParams(project_details=True, interpolated_frames=True)])
def test_an_export_of_recorded_lines_is_the_bytes_of_rendering_the_rows(recorded, rewritten, params, monkeypatch):
    """export_v2_lines renders a replayed file's rows from their recorded lines, without making a
    DataRow of any: the same bytes as rendering the rows, for any scope, dataset filter, part of the
    world and rows left out (fault index-lag)."""
    drawn, replayed, _path = recorded
    scopes = (ExportScope(project_id=drawn.project.id), ExportScope(), ExportScope(project_id="cl-no-such-project"),
              ExportScope(project_ids=frozenset({drawn.projects[1].id})))
    filters = (ExportFilters(), ExportFilters(dataset_ids=frozenset({drawn.datasets[0].id})))
    cases = [(world, scope, f, indices, skip) for world in (replayed, rewritten) for scope in scopes for f in filters
             for indices, skip in ((None, frozenset()), (range(5, 17), frozenset({6, 9})))]
    expected = [_through_rows(world, f, params, scope, indices, skip) for world, scope, f, indices, skip in cases]
    assert any(expected) and expected[0] == _through_rows(drawn, filters[0], params, scopes[0])
    _without_drawing(monkeypatch)
    for (world, scope, f, indices, skip), lines in zip(cases, expected, strict=True):
        assert list(export_v2_lines(world, f, params, SIGNED, scope, indices, skip)) == lines


def test_filters_that_look_inside_rows_make_rows(recorded):
    drawn, replayed, _path = recorded
    scope = ExportScope(project_id=drawn.project.id)
    for f in (ExportFilters(statuses=frozenset({WorkflowStatus.DONE})),
              ExportFilters(data_row_ids=frozenset({drawn.row(3).id, drawn.row(7).labels[0].id
                                                    if drawn.row(7).labels else drawn.row(7).id}))):
        assert list(export_v2_lines(replayed, f, ALL, SIGNED, scope)) == _through_rows(replayed, f, ALL, scope)


def _row(row_id: str, *label_ids: str) -> bytes:
    labels = [{"id": label_id, "annotations": {"groups": {"Axial": {"frames": {"3": {"objects": {
        f"{label_id}-f": {"name": "Nodule", "line": [{"x": 1, "y": 2}]}}}}}},
        "key_frame_feature_map": {f"{label_id}-f": {"Axial": ["3"]}}}} for label_id in label_ids]
    return orjson.dumps({"data_row": {"id": row_id}, "projects": {"cl-p": {"name": "P", "labels": labels}}}) + b"\n"


def test_every_id_names_its_row(tmp_path):
    """Data row, label and feature ids look up their row; a data row's own id wins over an earlier
    row's label holding it, and an id several rows hold names the first."""
    path = tmp_path / "ids.ndjson"
    path.write_bytes(_row("ra", "lab", "rb") + b"\n" + _row("rb", "lab", "lc"))
    world = resolve_world(WorldSpec(replay=(str(path),)))
    expected = {"ra": 0, "rb": 1, "lab": 0, "lab-f": 0, "lc": 1, "lc-f": 1, "rb-f": 0, "nope": None}
    assert {i: world.index_of(i) for i in expected} == expected
    index = world.replay
    index.ids.candidates = lambda _id: [0, 1]  # every id shares a hash: the rows read tell them apart
    assert {i: world.index_of(i) for i in expected} == expected
    again = pickle.loads(pickle.dumps(world))  # the ids stay in the process that read them ...
    assert again.replay.ids is None
    assert {i: again.index_of(i) for i in expected} == expected  # ... another reads the file again


def test_lbmock_serve_reads_a_replay_file_once(recorded, monkeypatch):
    """``lbmock serve --replay`` reads the file once, checking it, and serves the world it built
    then; no module keeps a scan (another world reads its file again)."""
    from lbmock import replay
    from lbmock.cli import build_parser
    from lbmock.mockserver import cli as server_cli

    _drawn, replayed, path = recorded
    scans, served = [], []
    scan = replay._scan_files
    monkeypatch.setattr(replay, "_scan_files", lambda *args: scans.append(args) or scan(*args))

    def serve_single(_args, _key, listener, world=None):
        listener.close()
        served.append(world)
        return 0

    monkeypatch.setattr(server_cli, "_serve_single", serve_single)
    args = build_parser().parse_args(["serve", "--host", "127.0.0.1", "--port", "0", "--replay", str(path)])
    assert server_cli.serve(args) == 0
    assert len(scans) == 1 and isinstance(served[0], ReplayWorld)
    assert [r.id for r in served[0]] == [r.id for r in replayed]
    resolve_world(WorldSpec(replay=(str(path),)))
    assert len(scans) == 2


def test_asset_layout():
    assert mask_asset("/r/assets", "ckf", 12) == Path("/r/assets/masks/ckf/12.png")
    assert row_data_asset("/r/assets", "ckd") == Path("/r/assets/row_data/ckd.dcm")


# ---------------------------------------------------------------- served, through labelbox 7.17.0

SDK_PARAMS = {name: True for name in ExportParams.names()}


def _sdk_rows(task) -> list[dict]:
    task.wait_till_done()
    return [output.json for output in task.get_buffered_stream()]


def _urls_aside(rows: list[dict]) -> list[dict]:
    """Rows with row_data and mask links blanked (they point at whichever server served them)."""
    rows = orjson.loads(orjson.dumps(rows))
    for row in rows:
        row["data_row"]["row_data"] = "<row_data>"
        for project in row["projects"].values():
            for label in project["labels"]:
                for group in label["annotations"]["groups"].values():
                    for slot in group["frames"].values():
                        for obj in slot["objects"].values():
                            if "mask" in obj:
                                obj["mask"]["url"] = "<mask>"
    return rows


def _mask_urls(rows: list[dict]) -> list[tuple[str, str, int, str]]:
    """(data row id, feature id, frame, url) of every mask the rows link."""
    return [(row["data_row"]["id"], fid, int(frame), obj["mask"]["url"])
            for row in rows for project in row["projects"].values() for label in project["labels"]
            for group in label["annotations"]["groups"].values() for frame, slot in group["frames"].items()
            for fid, obj in slot["objects"].items() if "mask" in obj]


@pytest.fixture(scope="module")
def served_recording(tmp_path_factory):
    """A served world's export through the SDK, written as a replay folder: the NDJSON, three of
    its masks and one row's DICOM fetched from the server into ``assets/``."""
    import labelbox
    import requests

    from lbmock.mockserver import ThreadedMockServer

    folder = tmp_path_factory.mktemp("recording")
    with ThreadedMockServer(seed=5, rows=16, projects=2) as srv:
        client = labelbox.Client(**srv.client_kwargs)
        project = client.get_project(srv.project_id)
        rows = _sdk_rows(project.export(params=SDK_PARAMS))
        plain = _sdk_rows(project.export(params={}))
        auth = {"Authorization": f"Bearer {srv.api_key}"}
        masks = _mask_urls(rows)
        saved = {}
        for _row_id, fid, frame, url in masks[:3]:
            reply = requests.get(url, headers=auth, timeout=30)
            assert reply.status_code == 200
            saved[(fid, frame)] = reply.content
            mask_asset(folder / "assets", fid, frame).parent.mkdir(parents=True, exist_ok=True)
            mask_asset(folder / "assets", fid, frame).write_bytes(reply.content)
        dicom = requests.get(rows[0]["data_row"]["row_data"], timeout=60).content
        row_data_asset(folder / "assets", rows[0]["data_row"]["id"]).parent.mkdir(parents=True)
        row_data_asset(folder / "assets", rows[0]["data_row"]["id"]).write_bytes(dicom)
        project_id, second = srv.project_id, srv.world.projects[1].id
    path = folder / "export.ndjson"
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return {"path": path, "rows": rows, "plain": plain, "masks": masks, "saved": saved, "dicom": dicom,
            "project_id": project_id, "second": second}


@pytest.fixture(scope="module")
def replay_server(served_recording):
    from lbmock.mockserver import ThreadedMockServer

    with ThreadedMockServer(WorldSpec(seed=5, replay=(str(served_recording["path"]),))) as srv:
        yield srv


@pytest.fixture(scope="module")
def replay_client(replay_server):
    import labelbox

    return labelbox.Client(**replay_server.client_kwargs)


def test_the_sdk_exports_the_files_rows(served_recording, replay_server, replay_client):
    rec = served_recording
    project = replay_client.get_project(rec["project_id"])
    rows = _sdk_rows(project.export(params=SDK_PARAMS))
    assert _urls_aside(rows) == _urls_aside(rec["rows"])
    base = replay_server.base_url
    assert all(row["data_row"]["row_data"].startswith(f"{base}/storage/") for row in rows)
    assert rec["masks"] and [url for *_ids, url in _mask_urls(rows)] == [
        f"{base}/api/v1/projects/{rec['project_id']}/annotations/{fid}/index/{frame}/mask"
        for _row, fid, frame, _url in rec["masks"]]
    # params drop what the rows carry: the plain export of the drawn world, exactly
    assert _urls_aside(_sdk_rows(project.export(params={}))) == _urls_aside(rec["plain"])


def test_filters_select_from_the_files_rows(served_recording, replay_client):
    rec = served_recording
    project = replay_client.get_project(rec["project_id"])
    for status, name in (("InReview", "IN_REVIEW"), ("Done", "DONE"), ("ToLabel", "TO_LABEL")):
        rows = _sdk_rows(project.export(params=SDK_PARAMS, filters={"workflow_status": status}))
        expected = [r for r in rec["rows"] if r["projects"][rec["project_id"]]["project_details"]["workflow_status"]
                    == name]
        assert _urls_aside(rows) == _urls_aside(expected)
    wanted = [rec["rows"][1]["data_row"]["id"], rec["rows"][5]["data_row"]["id"]]
    rows = _sdk_rows(project.export(params=SDK_PARAMS, filters={"data_row_ids": wanted}))
    assert [r["data_row"]["id"] for r in rows] == wanted


def test_catalog_side_exports_show_the_rows_projects(served_recording, replay_client):
    import labelbox

    rec = served_recording
    first = rec["rows"][2]
    # a catalog-side export shows no project's labels unless asked (issue 25.2)
    plain = _sdk_rows(labelbox.DataRow.export(replay_client, data_rows=[first["data_row"]["id"]], params=SDK_PARAMS))
    assert [r["projects"] for r in plain] == [{}]
    everything = {**SDK_PARAMS, "all_projects": True}
    rows = _sdk_rows(labelbox.DataRow.export(replay_client, data_rows=[first["data_row"]["id"]], params=everything))
    assert [r["data_row"]["id"] for r in rows] == [first["data_row"]["id"]]
    # with all_projects=True, each project the row is in: the recording's (its first project's)
    assert set(rows[0]["projects"]) == {rec["project_id"]}
    assert _urls_aside(rows) == _urls_aside([first])
    dataset_id = first["data_row"]["details"]["dataset_id"]
    rows = _sdk_rows(replay_client.get_dataset(dataset_id).export(params=everything))
    assert [r["data_row"]["id"] for r in rows] == [r["data_row"]["id"] for r in rec["rows"]
                                                  if r["data_row"]["details"]["dataset_id"] == dataset_id]


def test_masks_and_row_data_come_from_the_assets(served_recording, replay_server, replay_client):
    import requests

    rec = served_recording
    rows = _sdk_rows(replay_client.get_project(rec["project_id"]).export(params=SDK_PARAMS))
    auth = {"Authorization": f"Bearer {replay_server.api_key}"}
    urls = {(fid, frame): url for _row, fid, frame, url in _mask_urls(rows)}
    for key, content in rec["saved"].items():
        reply = requests.get(urls[key], headers=auth, timeout=30)
        assert reply.status_code == 200 and reply.content == content
    missing = next(key for key in urls if key not in rec["saved"])
    reply = requests.get(urls[missing], headers=auth, timeout=30)
    assert reply.status_code == 404
    assert str(mask_asset(rec["path"].parent / "assets", *missing)) in reply.json()["error"]
    reply = requests.get(rows[0]["data_row"]["row_data"], timeout=30)
    assert reply.status_code == 200 and reply.content == rec["dicom"]
    reply = requests.get(rows[0]["data_row"]["row_data"], headers={"Range": "bytes=0-131"}, timeout=30)
    assert reply.status_code == 206 and reply.content == rec["dicom"][:132]
    reply = requests.get(rows[1]["data_row"]["row_data"], timeout=30)
    assert reply.status_code == 404
    assert str(row_data_asset(rec["path"].parent / "assets", rows[1]["data_row"]["id"])) in reply.json()["error"]


def test_legacy_exports_and_frames_are_refused_clearly(served_recording, replay_server):
    import requests

    rec = served_recording
    auth = {"Authorization": f"Bearer {replay_server.api_key}"}
    reply = requests.post(f"{replay_server.base_url}/graphql", headers=auth, timeout=30, json={
        "query": "mutation($id: ID!) { exportLabels(data: {projectId: $id}) { downloadUrl shouldPoll } }",
        "variables": {"id": rec["project_id"]}})
    assert reply.status_code == 400 and "not served for replayed rows" in reply.text
    label_id = next(lb["id"] for r in rec["rows"] for p in r["projects"].values() for lb in p["labels"])
    reply = requests.get(f"{replay_server.base_url}/v1/frames/{label_id}?group=axial", headers=auth, timeout=30)
    assert reply.status_code == 404 and "not served for replayed rows" in reply.json()["error"]


def test_lbmock_serve_replays_a_file(served_recording, tmp_path):
    import subprocess
    import sys

    import labelbox

    from lbmock.contract_tests.wire.serve import start_serve

    rec = served_recording
    with start_serve("--replay", str(rec["path"]), "--template-cache", "none", log_dir=tmp_path) as served:
        # the banner names the file the rows come from
        assert f"serving replay of {rec['path'].name}, seed 0, {len(rec['rows'])} rows at" in served.banner
        client = labelbox.Client(**served.client_kwargs())
        rows = _sdk_rows(client.get_project(rec["project_id"]).export(params=SDK_PARAMS))
        assert _urls_aside(rows) == _urls_aside(rec["rows"])
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(rec["path"].read_bytes().splitlines(keepends=True)[0] + b'{"data_row": 3}\n')
    done = subprocess.run([sys.executable, "-m", "lbmock.cli", "serve", "--port", "0", "--replay", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "bad.ndjson: line 2: not an export v2 row" in done.stderr and "Traceback" not in done.stderr


def test_lb_record_writes_a_replay_folder(tmp_path):
    """The contract suite's recorder (``--lb-record DIR``) saves masks and row_data in the replay layout."""
    from lbmock.contract_tests.wire import HttpTransport, Recorder, WireClient
    from lbmock.mockserver import ThreadedMockServer

    with ThreadedMockServer(seed=4, rows=4) as srv:
        client = WireClient(HttpTransport(srv.base_url), srv.api_key, srv.project_id,
                            recorder=Recorder(str(tmp_path), srv.api_key))
        rows = client.export(SDK_PARAMS, record_as="all-on").rows
    recorded = tmp_path / "v2" / "all-on.ndjson"
    assert recorded.exists()
    assets = tmp_path / "v2" / "assets"
    masks = _mask_urls(rows)
    assert masks and all(mask_asset(assets, fid, frame).exists() for _r, fid, frame, _u in masks)
    assert all(row_data_asset(assets, row["data_row"]["id"]).exists() for row in rows)
    world = resolve_world(WorldSpec(seed=4, replay=(str(recorded),)))
    assert [r.id for r in world] == [row["data_row"]["id"] for row in rows]
