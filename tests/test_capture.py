"""``lbmock capture`` against lbmock itself, on loopback: a served world, captured and served again,
is the same world through the SDK (ontology, rows, datasets, status mix, quality); ``--sample``
records rows, masks and DICOM files byte for byte; errors are one line and exit 2."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import labelbox
import mocks
import pytest
import requests
from sdk_streams import exported

from lbmock.capture import Captured, Tally, mask_urls, world_toml
from lbmock.mockserver import ThreadedMockServer
from lbmock.world_spec import load_world_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "world"
KEY = "capture-test-key"

WORLD = """\
seed = 4
ontology = "abdomen-ontology.json"

[[projects]]
name = "Abdomen CT"
quality = "consensus"

[[projects]]
name = "Abdomen CT second read"
quality = "benchmark"
rows = 14

[[datasets]]
name = "Liver CT"
rows = 12

[[datasets]]
name = "Kidney CT"
rows = 7

[[datasets]]
name = "Follow-up MR"
rows = 5
modality = "MR"

[status_mix]
Done = 14
InReview = 4
InRework = 3
ToLabel = 3
"""


@pytest.fixture(scope="module")
def world_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    (folder / "abdomen-ontology.json").write_bytes((EXAMPLES / "abdomen-ontology.json").read_bytes())
    (folder / "world.toml").write_text(WORLD)
    return folder / "world.toml"


def _toml(text: str) -> dict:
    from lbmock.world_spec import parse_toml

    return parse_toml(text)


def _capture(server: ThreadedMockServer, project_id: str, out: Path, *extra: str, key: str = KEY,
             ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LABELBOX_API_KEY"}
    return subprocess.run([sys.executable, "-m", "lbmock", "capture", "--api-key", key, "--project-id", project_id,
                           "--endpoint", f"{server.base_url}/graphql", "--rest-endpoint",
                           f"{server.base_url}/api/v1", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=300, env=env)


def _rows(project, **params) -> list[dict]:
    return exported(project, {"data_row_details": True, "project_details": True, **params})


def _shape(server: ThreadedMockServer, project_id: str) -> dict:
    """What the SDK sees of a project: everything a capture promises to keep."""
    client = labelbox.Client(**server.client_kwargs)
    project = client.get_project(project_id)
    rows = _rows(project)
    quality = "benchmark" if project.is_benchmark_enabled else "consensus" if project.is_consensus_enabled else "none"
    return {"id": project.uid, "name": project.name, "quality": quality,
            "ontology": project.ontology().normalized, "rows": len(rows),
            "datasets": collections.Counter((r["data_row"]["details"]["dataset_id"],
                                             r["data_row"]["details"]["dataset_name"]) for r in rows),
            "statuses": collections.Counter(r["projects"][project_id]["project_details"]["workflow_status"]
                                            for r in rows)}


@pytest.mark.parametrize("which", [0, 1], ids=["first-project", "second-project"])
def test_a_captured_world_served_again_equals_it(world_file, tmp_path, which):
    with mocks.serving(world_file, api_key=KEY, restrict_key=True) as server:
        project_id = server.world.projects[which].id
        before = _shape(server, project_id)
        server.reset()  # the journal holds only the capture's requests
        done = _capture(server, project_id, tmp_path / "captured.toml")
        assert done.returncode == 0, done.stderr
        # It changes nothing: reads (Get...) and the one export task, no other mutation or write.
        requests_made = server.journal.entries()
        operations = [e.operation for e in requests_made if e.path.endswith("/graphql")]
        assert [op for op in operations if not op.startswith("Get")] == ["exportDataRowsInProjectPyApi"], operations
        assert all(e.method == "GET" for e in requests_made if not e.path.endswith("/graphql"))
    assert "Traceback" not in done.stderr and "WARNING" not in done.stderr  # no sample: no PHI warning
    assert not (tmp_path / "replay").exists()
    assert before["rows"] == (24 if which == 0 else 14) and len(before["datasets"]) == 3
    assert before["quality"] == ("consensus", "benchmark")[which]
    if which == 0:
        assert before["statuses"] == {"DONE": 14, "IN_REVIEW": 4, "IN_REWORK": 3, "TO_LABEL": 3}
    # The ontology file is written beside the world file, as the SDK gave it.
    written = json.loads((tmp_path / "captured-ontology.json").read_text())
    assert written == before["ontology"] == json.loads((EXAMPLES / "abdomen-ontology.json").read_text())
    spec = load_world_file(tmp_path / "captured.toml")
    with mocks.serving(spec, api_key=KEY) as again:
        assert again.project_id == project_id
        assert _shape(again, project_id) == before


def test_the_world_file_reads_well(world_file, tmp_path):
    with mocks.serving(world_file, api_key=KEY) as server:
        done = _capture(server, server.project_id, tmp_path / "w.toml")
        assert done.returncode == 0, done.stderr
        text = (tmp_path / "w.toml").read_text()
        lines = text.splitlines()
        assert lines[0].startswith("#:schema ") and Path(lines[0].split(" ", 1)[1]).is_file()
        assert f"from project \"Abdomen CT\" ({server.project_id})" in text and server.base_url in text
    document = _toml(text)
    assert list(document) == ["seed", "rows", "projects", "datasets", "status_mix"]
    assert [d["name"] for d in document["datasets"]] == ["Follow-up MR", "Kidney CT", "Liver CT"]
    assert document["status_mix"] == {"ToLabel": 3, "InReview": 4, "InRework": 3, "Done": 14}
    assert document["projects"] == [{"id": server.project_id, "name": "Abdomen CT", "quality": "consensus",
                                     "ontology": "w-ontology.json"}]
    assert "24 rows in 3 datasets" in done.stderr


def test_a_sample_records_rows_masks_and_dicom_files_byte_for_byte(world_file, tmp_path):
    out = tmp_path / "capture" / "world.toml"
    with mocks.serving(world_file, api_key=KEY, restrict_key=True) as server:
        done = _capture(server, server.project_id, out, "--sample", "3", "--with-dicom")
        assert done.returncode == 0, done.stderr
        assert "patient data (PHI)" in done.stderr and done.stderr.index("PHI") < done.stderr.index("recorded row 1")
        replay = out.parent / "replay"
        lines = (replay / "export.ndjson").read_text().splitlines()
        assert len(lines) == 3
        recorded = [json.loads(line) for line in lines]
        project = labelbox.Client(**server.client_kwargs).get_project(server.project_id)
        served = _rows(project, label_details=True, performance_details=True, attachments=True,
                       metadata_fields=True)
        assert [r["data_row"]["id"] for r in recorded] == [r["data_row"]["id"] for r in served[:3]]
        masks = {(feature, frame): url for row in recorded for feature, frame, url in mask_urls(row)}
        assert masks, "the test world's first rows should carry masks"
        files = {(p.parent.name, p.stem) for p in (replay / "assets" / "masks").glob("*/*.png")}
        assert files == set(masks)
        auth = {"Authorization": f"Bearer {KEY}"}
        for (feature, frame), url in masks.items():
            body = requests.get(url, headers=auth, timeout=30).content
            assert (replay / "assets" / "masks" / feature / f"{frame}.png").read_bytes() == body
        dicoms = sorted(p.stem for p in (replay / "assets" / "row_data").glob("*.dcm"))
        assert dicoms == sorted(r["data_row"]["id"] for r in recorded)
        for row in recorded:
            body = requests.get(row["data_row"]["row_data"], timeout=60).content
            assert body[128:132] == b"DICM"
            assert (replay / "assets" / "row_data" / f"{row['data_row']['id']}.dcm").read_bytes() == body
        assert not list(replay.rglob("*.part"))


def test_a_refused_key_an_unknown_project_and_no_key_are_one_line_errors(world_file, tmp_path):
    with mocks.serving(world_file, api_key=KEY, restrict_key=True) as server:
        bad = _capture(server, server.project_id, tmp_path / "w.toml", key="wrong-key")
        unknown = _capture(server, "cl00000000000000000000000", tmp_path / "w.toml")
    assert bad.returncode == 2 and "the API refused the key" in bad.stderr, bad.stderr
    assert unknown.returncode == 2 and "no project cl00000000000000000000000" in unknown.stderr, unknown.stderr
    for done in (bad, unknown):
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "w.toml").exists()
    env = {k: v for k, v in os.environ.items() if k != "LABELBOX_API_KEY"}
    nokey = subprocess.run([sys.executable, "-m", "lbmock", "capture", "--project-id", "p", "--out", "w.toml"],
                           capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert nokey.returncode == 2 and "LABELBOX_API_KEY" in nokey.stderr and "Traceback" not in nokey.stderr


def test_without_the_sdk_it_says_how_to_install_it(tmp_path):
    # A None entry in sys.modules makes `import labelbox` fail, as in an environment without it.
    code = ("import sys; sys.modules['labelbox'] = None; from lbmock.cli import main; "
            "raise SystemExit(main(['capture', '--api-key', 'k', '--project-id', 'p', '--out', 'w.toml']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "pip install labelbox" in done.stderr and "Traceback" not in done.stderr


def test_awkward_names_and_an_empty_project_make_a_loadable_file(tmp_path):
    tally = Tally()
    awkward = "CT \"head\" \\ neck\x7f ü"
    for name, dataset in ((awkward, "d1"), (awkward, "d2"), ("MR\tspine", "d3")):
        tally.add({"data_row": {"id": "r", "details": {"dataset_id": dataset, "dataset_name": name}},
                   "projects": {"p": {"project_details": {"workflow_status": "DONE"}}}}, "p")
    tally.add({"data_row": {"id": "r", "details": {"dataset_id": "d3", "dataset_name": "MR\tspine"}},
               "projects": {"p": {"project_details": {"workflow_status": "SKIPPED"}}}}, "p")
    captured = Captured("p", "Line\nbreak \"quoted\"", "none", None, tally, "http://x/graphql", "7", "now")
    (tmp_path / "w.toml").write_text(world_toml(captured, None))
    document = _toml((tmp_path / "w.toml").read_text())
    assert document["projects"][0]["name"] == "Line\nbreak \"quoted\""
    assert [d["name"] for d in document["datasets"]] == [f"{awkward} (d1)", f"{awkward} (d2)", "MR\tspine"]
    assert document["rows"] == 4 and document["status_mix"]["Done"] == 3
    assert "another status, not served: SKIPPED 1" in (tmp_path / "w.toml").read_text()
    assert load_world_file(tmp_path / "w.toml").rows == 4
    (tmp_path / "empty.toml").write_text(world_toml(Captured("p", "Empty", "none", None, Tally(), "e", "7", "now"),
                                                    None))
    assert load_world_file(tmp_path / "empty.toml").rows == 0
