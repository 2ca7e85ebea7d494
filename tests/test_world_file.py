"""World files and the world options they hold: ontology, projects, datasets with exact counts, the
status mix, volume ranges.  Checked through the real SDK, the CLI, the marker and POST /_mock/world."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import labelbox
import pytest
from sdk_streams import exported

from lbmock import fixtures_dir
from lbmock.mockserver import mock_labelbox
from lbmock.strategies.served_world import resolve_world
from lbmock.world_spec import SpecError, WorldSpec, load_world_file, parse_toml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "world"
ONTOLOGY = EXAMPLES / "abdomen-ontology.json"
SCHEMA = json.loads((fixtures_dir() / "schemas" / "world_file.schema.json").read_text())


def _toml_as_json(path: Path) -> dict:
    return parse_toml(path.read_text())


def test_the_example_world_file_follows_its_schema_and_loads():
    jsonschema.Draft202012Validator(SCHEMA).validate(_toml_as_json(EXAMPLES / "world.toml"))
    spec = load_world_file(EXAMPLES / "world.toml")
    assert (spec.rows, spec.project_count, spec.seed) == (100, 2, 7)
    assert WorldSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec  # JSON (POST /_mock/world) agrees


def test_the_schema_names_every_world_option_and_nothing_else():
    assert set(SCHEMA["properties"]) == {name for name, _d, _o in WorldSpec.options()}


@pytest.mark.parametrize(("text", "words"), [
    ("colour = 1\n", "colour: unknown key; valid keys: seed, rows,"),
    ("[[projects]]\nnam = 'x'\n", "projects[0].nam: unknown key; valid keys: id, name, ontology, quality, rows"),
    ("[volumes]\nrows = [9, 3]\n", "volumes.rows must satisfy"),
    ("[volumes]\nslices = [1, 3]\n", "volumes.slices: unknown key; valid keys: modalities, rows, columns"),
    ("[status_mix]\nFinished = 3\n", "status_mix.Finished: unknown status; valid keys: ToLabel, InReview"),
    ("[[datasets]]\nname = 'a'\n", "datasets[0].rows: missing"),
    ("ontology = 'nowhere.json'\n", "ontology: cannot read"),
    ("seed = \n", "not TOML"),
])
def test_a_bad_world_file_names_the_key_and_the_valid_ones(tmp_path, text, words):
    path = tmp_path / "world.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_world_file(path)
    assert str(caught.value).startswith(f"{path}: ") and words in str(caught.value), str(caught.value)


def test_a_bad_ontology_in_a_world_file_gets_its_json_path(tmp_path):
    document = json.loads(ONTOLOGY.read_text())
    document["tools"][2]["tool"] = "polygon"
    (tmp_path / "o.json").write_text(json.dumps(document))
    (tmp_path / "world.toml").write_text("[[projects]]\nname = 'A'\nontology = 'o.json'\n")
    with pytest.raises(SpecError, match=r"projects\[0\]\.ontology: \$\.tools\[2\]\.tool: 'polygon' \(Vessel "
                                        r"centreline\) is not a tool a DICOM project can hold"):
        load_world_file(tmp_path / "world.toml")


def test_exact_counts_are_pure_functions_of_the_row():
    spec = load_world_file(EXAMPLES / "world.toml")
    world = resolve_world(spec)
    rows = list(world)
    datasets = collections.Counter(r.dataset.name for r in rows)
    assert datasets == {"Liver CT": 60, "Kidney CT": 30, "Follow-up MR": 10}
    assert [world.row_count(d.id) for d in world.datasets] == [60, 30, 10]
    assert collections.Counter(r.status.value for r in rows) == {"Done": 55, "InReview": 15, "InRework": 10,
                                                                  "ToLabel": 20}
    second = world.projects[1]
    assert sum(r.in_project(second.id) is not None for r in rows) == 40 == world.row_count(second.id)
    assert {r.series.modality for r in rows if r.dataset.name == "Follow-up MR"} == {"MR"}
    assert all(64 <= r.volume.rows <= 256 and 20 <= r.volume.slices <= 120 for r in rows)
    assert all(0.6 <= r.series.geometry.row_spacing <= 2.5 for r in rows)
    again = resolve_world(load_world_file(EXAMPLES / "world.toml"))
    assert [again.row(i) for i in (0, 57, 99)] == [world.row(i) for i in (0, 57, 99)]  # same file, same rows


def test_labels_use_only_the_users_ontology_and_answer_required_questions():
    world = resolve_world(WorldSpec(seed=3, rows=60, ontology=ONTOLOGY.read_text()))
    tools = {t.schema_id: t for t in world.project.ontology.tools}
    labels = [label for row in world for label in row.labels]
    assert labels
    features = [f for label in labels for f in label.features]
    assert {f.tool.schema_id for f in features} <= set(tools) and {f.tool.kind for f in features} == {"mask",
                                                                                                       "polyline"}
    assert all(f.tool.kind == ("polyline" if f.tool.name == "Vessel centreline" else "mask") for f in features)
    assert all(len(label.classifications) == 1 for label in labels)  # the required checklist, always
    options = {o.schema_id for o in world.project.ontology.classifications[0].options}
    assert all({o.schema_id for a in label.classifications for o in a.options} <= options for label in labels)
    assert not any(kf.classifications for f in features for kf in f.keyframes)  # none nested, unless asked
    asked = resolve_world(WorldSpec(seed=3, rows=60, ontology=ONTOLOGY.read_text(), object_classifications=True))
    nested = [a for row in asked for lb in row.labels for f in lb.features for kf in f.keyframes
              for a in kf.classifications]
    assert nested and {o.name for a in nested for o in a.options} <= {"Yes", "No"}


@pytest.mark.lb_world(world="../examples/world/world.toml")
def test_the_sdk_exports_a_world_file_with_exactly_its_numbers(lb_server):
    client = labelbox.Client(**lb_server.client_kwargs)
    project = client.get_project(lb_server.project_id)
    rows = exported(project, {"label_details": True, "project_details": True, "data_row_details": True})
    assert len(rows) == 100
    statuses = collections.Counter(r["projects"][lb_server.project_id]["project_details"]["workflow_status"]
                                   for r in rows)
    assert statuses == {"DONE": 55, "IN_REVIEW": 15, "IN_REWORK": 10, "TO_LABEL": 20}
    datasets = collections.Counter(r["data_row"]["details"]["dataset_name"] for r in rows)
    assert datasets == {"Liver CT": 60, "Kidney CT": 30, "Follow-up MR": 10}
    names = {o["feature_schema_id"]: (o["name"], o["value"]) for r in rows
             for label in r["projects"][lb_server.project_id]["labels"]
             for group in label["annotations"]["groups"].values() for frame in group["frames"].values()
             for o in frame["objects"].values()}
    document = json.loads(ONTOLOGY.read_text())
    assert set(names.items()) <= {(t["featureSchemaId"], (t["name"], t["name"].lower().replace(" ", "_")))
                                  for t in document["tools"]}
    second = next(p for p in lb_server.world.projects if p.name == "Abdomen CT second read")
    assert len(exported(client.get_project(second.id))) == 40


@pytest.mark.lb_world(world="../examples/world/world.toml", seed=11)
def test_the_marker_takes_a_world_file(lb_world):
    assert lb_world.project.name == "Abdomen CT segmentation" and len(lb_world) == 100 and lb_world.seed == 11


@pytest.mark.lb_world(world=WorldSpec(seed=2, rows=3, projects=2), rows=4)
@pytest.mark.lb_server_options(api_key="only-this", restrict_key=True, file_bytes=5_000)
def test_the_markers_take_a_spec_and_server_options(lb_world, lb_mock):
    assert (lb_world.seed, len(lb_world), len(lb_world.projects)) == (2, 4, 2)
    config = lb_mock.backend.config
    assert (lb_mock.api_key, config.api_key, config.file_bytes) == ("only-this", "only-this", 5_000)


def test_an_unknown_server_option_stops_the_run_naming_it():
    from types import SimpleNamespace

    from lbmock.contract_tests.plugin import _server_options

    marker = pytest.mark.lb_server_options(file_size=1).mark
    request = SimpleNamespace(node=SimpleNamespace(get_closest_marker=lambda name: marker))
    with pytest.raises(pytest.UsageError, match="got file_size"):
        _server_options(request)


def test_mock_labelbox_takes_a_world_file_and_post_world_takes_its_json():
    import requests

    with mock_labelbox(str(EXAMPLES / "world.toml")) as lb:
        assert lb.world.project.name == "Abdomen CT segmentation"
        spec = WorldSpec(seed=2, rows=12, ontology=json.loads(ONTOLOGY.read_text()),
                         datasets=[{"name": "Liver CT", "rows": 12}], status_mix={"Done": 1})
        answer = requests.post("https://api.labelbox.com/_mock/world", json=spec.to_json(), timeout=10)
        assert answer.status_code == 200, answer.text
        assert {r.status.value for r in lb.world} == {"Done"} and len(lb.world) == 12
        assert [t.name for t in lb.world.project.ontology.tools] == ["Liver", "Left kidney", "Vessel centreline"]
        bad = requests.post("https://api.labelbox.com/_mock/world", json={"datasets": [{"name": "x"}]}, timeout=10)
        assert bad.status_code == 400 and "datasets[0].rows: missing" in bad.text


def test_the_cli_takes_a_world_file_and_flags_on_top():
    done = subprocess.run([sys.executable, "-m", "lbmock", "generate", "--world", str(EXAMPLES / "world.toml"),
                           "--seed", "9", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert collections.Counter(r["data_row"]["details"]["dataset_name"] for r in rows)["Liver CT"] == 60
    bad = subprocess.run([sys.executable, "-m", "lbmock", "generate", "--ontology", str(EXAMPLES / "world.toml")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "ontology" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


def test_serve_refuses_a_tool_a_dicom_project_cannot_hold(tmp_path):
    document = json.loads(ONTOLOGY.read_text())
    document["tools"][0]["tool"] = "superpixel"
    (tmp_path / "bad.json").write_text(json.dumps(document))
    done = subprocess.run([sys.executable, "-m", "lbmock", "serve", "--port", "0", "--ontology",
                           str(tmp_path / "bad.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done
    assert "$.tools[0].tool: 'superpixel' (Liver) is not a tool a DICOM project can hold (allowed: " \
           "raster-segmentation, line)" in done.stderr and "Traceback" not in done.stderr


def test_serve_banner_names_the_world_file_and_its_seed():
    from lbmock.contract_tests.wire import start_serve

    world = resolve_world(load_world_file(EXAMPLES / "world.toml"))
    with start_serve("--world", str(EXAMPLES / "world.toml"), "--template-cache", "none") as served:
        assert f"serving world file {EXAMPLES / 'world.toml'}, seed 7, 100 rows at" in served.banner
        assert served.project_id == world.project.id
