"""The JSON Schemas in fixtures/schemas: the reference page's samples pass, renderer output passes
for every export-param combination, and the schemas reject what the real contract forbids."""

from __future__ import annotations

import copy
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from lbmock import fixtures_dir
from lbmock.render.v2 import ExportParams
from lbmock.strategies import export_params, export_v2_rows, frame_records, legacy_rows
from lbmock.validate import SCHEMA_NAMES, FileChecker, schema, schema_violations, validate_row, validator

SAMPLES = fixtures_dir() / "samples"
PLANES = ("Axial", "Sagittal", "Coronal")

# The six params of the reference page's export_params example.
PAGE_PARAMS = ("attachments", "metadata_fields", "data_row_details", "project_details", "label_details",
               "performance_details")

# sample file -> (schema, $defs entry or None, is it a list of rows?)
SAMPLE_SCHEMAS = {
    "v2_polyline_object.json": ("export_v2_dicom_row", "dicom_object", False),
    "v2_mask_object.json": ("export_v2_dicom_row", "dicom_object", False),
    "frame_record_polyline.json": ("frame_record", None, False),
    "frame_record_mask.json": ("frame_record", None, False),
    "v2_project_export_row.json": ("export_v2_dicom_row", None, False),
    "legacy_export.json": ("legacy_row", None, True),
}
ROW_FORMATS = {"export_v2_dicom_row": "v2", "legacy_row": "legacy", "frame_record": "frames"}

PROJECT = "cldnyx07w0dcg071ahdgx2y3h"
POLYLINE = "cldnz5eto00053b6jqxb2rzm7"


def load(name: str):
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def errors(name: str, instance, definition: str | None = None) -> list[str]:
    return [e.message for e in validator(name, definition).iter_errors(instance)]


# ---------------------------------------------------------------- schema files


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_files_are_draft_2020_12_with_ids(name):
    doc = schema(name)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == f"https://lbmock.dev/schemas/{name}"
    assert doc["title"] and doc["description"] and doc["$defs"]
    assert doc["additionalProperties"] is True  # real exports add top-level keys


def test_schema_returns_a_copy_and_rejects_unknown_names():
    schema("legacy_row")["required"].clear()
    assert "ID" in schema("legacy_row")["required"]
    with pytest.raises(KeyError):
        schema("no_such_schema")
    with pytest.raises(KeyError):
        validator("frame_record", "no_such_def")


# ---------------------------------------------------------------- samples


def test_every_sample_file_is_covered():
    assert {p.name for p in SAMPLES.glob("*.json")} == set(SAMPLE_SCHEMAS)


@pytest.mark.parametrize("filename", sorted(SAMPLE_SCHEMAS))
def test_reference_samples_validate(filename):
    name, definition, many = SAMPLE_SCHEMAS[filename]
    doc = load(filename)
    rows = doc if many else [doc]
    assert rows
    for row in rows:
        assert errors(name, row, definition) == []
        if definition is None:  # a whole row: its invariants hold too
            assert validate_row(row, ROW_FORMATS[name]) == []


def test_samples_are_the_reference_page_cleaned():
    """The stand-alone object samples are the same objects the page's project export embeds."""
    row = load("v2_project_export_row.json")
    groups = row["projects"][PROJECT]["labels"][0]["annotations"]["groups"]
    assert groups["Axial"]["frames"]["6"]["objects"][POLYLINE] == load("v2_polyline_object.json")
    mask = load("v2_mask_object.json")
    assert groups["Sagittal"]["frames"]["256"]["objects"][mask["feature_id"]] == mask
    assert load("frame_record_mask.json")["frameNumber"] == 172
    assert load("frame_record_polyline.json")["frameNumber"] == 185
    text = "".join(p.read_text(encoding="utf-8") for p in SAMPLES.glob("*.json"))
    assert "protected" not in text and "//" not in text.replace("://", "")
    legacy = load("legacy_export.json")
    assert len(legacy) == 1 and "@" in legacy[0]["Created By"]


# ---------------------------------------------------------------- strictness


def mutated(fn):
    row = load("v2_project_export_row.json")
    fn(row)
    return row


def label0(row):
    return row["projects"][PROJECT]["labels"][0]


def axial_object(row):
    return label0(row)["annotations"]["groups"]["Axial"]["frames"]["6"]["objects"][POLYLINE]


V2_REJECTED = {
    "frame key 0": lambda r: label0(r)["annotations"]["groups"]["Axial"]["frames"].update(
        {"0": label0(r)["annotations"]["groups"]["Axial"]["frames"].pop("6")}),
    "frame key 06": lambda r: label0(r)["annotations"]["groups"]["Axial"]["frames"].update(
        {"06": label0(r)["annotations"]["groups"]["Axial"]["frames"].pop("6")}),
    "lower-case plane key": lambda r: label0(r)["annotations"]["groups"].update(
        {"axial": label0(r)["annotations"]["groups"].pop("Axial")}),
    "extra plane in segments": lambda r: label0(r)["annotations"]["segments"].update({"Oblique": {}}),
    "plane missing from groups": lambda r: label0(r)["annotations"]["groups"].pop("Coronal"),
    "group name differs from key": lambda r: label0(r)["annotations"]["groups"]["Axial"].update(
        name="Coronal"),
    "polyline without points": lambda r: axial_object(r).update(line=[]),
    "polyline without line": lambda r: axial_object(r).pop("line"),
    "point without y": lambda r: axial_object(r)["line"][0].pop("y"),
    "string coordinate": lambda r: axial_object(r)["line"][0].update(x="180.156"),
    "polyline with a mask": lambda r: axial_object(r).update(mask={"url": "https://x/y"}),
    "unknown annotation kind": lambda r: axial_object(r).update(annotation_kind="DICOMBoundingBox"),
    "integer feature id": lambda r: axial_object(r).update(feature_id=7),
    "mask without url": lambda r: label0(r)["annotations"]["groups"]["Sagittal"]["frames"]["256"]["objects"][
        "cldnz5k2z000b3b6j7rr1padw"]["mask"].pop("url"),
    "mask url not a url": lambda r: label0(r)["annotations"]["groups"]["Sagittal"]["frames"]["256"][
        "objects"]["cldnz5k2z000b3b6j7rr1padw"]["mask"].update(url="index/256/mask"),
    "segment of one frame number": lambda r: label0(r)["annotations"]["segments"]["Axial"].update(
        {POLYLINE: [[6]]}),
    "segment from frame 0": lambda r: label0(r)["annotations"]["segments"]["Axial"].update(
        {POLYLINE: [[0, 6]]}),
    "key frame map plane in lower case": lambda r: label0(r)["annotations"]["key_frame_feature_map"][
        POLYLINE].update({"axial": {"6": True}}),
    "no name nor project_name": lambda r: r["projects"][PROJECT].pop("project_name"),
    "integer data row id": lambda r: r["data_row"].update(id=12345),
    "null global key": lambda r: r["data_row"].update(global_key=None),
    "label timestamp with Z": lambda r: label0(r)["label_details"].update(created_at="2023-02-03T03:36:30Z"),
    "workflow timestamp without offset": lambda r: r["projects"][PROJECT]["project_details"][
        "workflow_history"][0].update(created_at="2023-02-09T20:52:24.428000"),
    "answer-less classification": lambda r: label0(r)["annotations"]["classifications"].append(
        {"name": "q", "value": "q"}),
    "label without annotations": lambda r: label0(r).pop("annotations"),
    "skipped as a string": lambda r: label0(r)["performance_details"].update(skipped="false"),
}


@pytest.mark.parametrize("case", sorted(V2_REJECTED))
def test_v2_schema_rejects(case):
    assert errors("export_v2_dicom_row", mutated(V2_REJECTED[case])) != []


def _drop_optional(row):
    for key in ("attachments", "metadata_fields", "embeddings", "media_attributes"):
        row.pop(key, None)
    for key in ("details", "global_key", "external_id"):
        row["data_row"].pop(key, None)
    project = row["projects"][PROJECT]
    project.pop("project_details")
    for label in project["labels"]:
        label.pop("label_details")
        label.pop("performance_details")
        label["annotations"].pop("key_frame_feature_map")


V2_ACCEPTED = {
    "name instead of project_name": lambda r: r["projects"][PROJECT].update(
        name=r["projects"][PROJECT].pop("project_name")),
    "both name and project_name": lambda r: r["projects"][PROJECT].update(name="x"),
    "objects with feature_schema_id and value": lambda r: axial_object(r).update(
        feature_schema_id="ckzohkul206420z974x2q4a9h", value="line"),
    "every optional part left out": _drop_optional,
    "empty optional parts": lambda r: r.update(attachments=[], metadata_fields=[], embeddings=[]),
    "unknown keys added": lambda r: (r.update(new_top_level={"x": 1}), axial_object(r).update(extra=1)),
    "details with offset timestamps": lambda r: r["data_row"]["details"].update(
        created_at="2024-02-16T17:49:08.951+00:00", dataset_name="ds",
        last_activity_at="2024-02-19T19:45:24.000+00:00"),
    "key frame map as lists": lambda r: label0(r)["annotations"]["key_frame_feature_map"].update(
        {POLYLINE: [6], "cldnz5k2z000b3b6j7rr1padw": {"Sagittal": [256]}}),
    "radio, checklist and text answers": lambda r: label0(r)["annotations"]["classifications"].extend([
        {"feature_id": "a1", "name": "q", "value": "q", "radio_answer": {"name": "yes", "value": "yes"}},
        {"name": "c", "checklist_answers": [{"name": "o", "value": "o", "classifications": []}]},
        {"name": "t", "value": "t", "text_answer": {"content": "free text"}},
    ]),
    "benchmark reference label on a label": lambda r: label0(r).update(
        benchmark_reference_label="cl000"),
}


@pytest.mark.parametrize("case", sorted(V2_ACCEPTED))
def test_v2_schema_accepts_real_world_variation(case):
    row = mutated(V2_ACCEPTED[case])
    assert errors("export_v2_dicom_row", row) == []
    assert validate_row(row, "v2") == []


# The reference sample has "External ID"; the schema still accepts rows without it (older exports).
LEGACY_SAMPLE_KEYS = tuple(k for k in load("legacy_export.json")[0] if k != "External ID")


@pytest.mark.parametrize("key", LEGACY_SAMPLE_KEYS)
def test_legacy_schema_requires_every_key_of_the_sample(key):
    row = load("legacy_export.json")[0]
    del row[key]
    assert f"'{key}' is a required property" in errors("legacy_row", row)


@pytest.mark.parametrize(("case", "edit", "ok"), [
    ("external id null", lambda r: r.update({"External ID": None}), True),
    ("no external id", lambda r: r.pop("External ID"), True),
    ("consensus and benchmark fields", lambda r: r.update({"Agreement": 0.873, "Benchmark Agreement": -1,
                                                           "Benchmark ID": "cl0bench", "Is Benchmark": 0,
                                                           "Seconds to Label": 150.908}), True),
    ("agreement above 1", lambda r: r.update(Agreement=1.5), False),
    ("extra keys", lambda r: r.update({"Global Key": None, "Seconds to Review": 3.5}), True),
    ("external id number", lambda r: r.update({"External ID": 2}), False),
    ("offset timestamp", lambda r: r.update({"Created At": "2022-05-09T03:14:41.000+00:00"}), False),
    ("capitalised group", lambda r: r["Label"]["groups"][0].update(name="Axial"), False),
    ("group without frames", lambda r: r["Label"]["groups"][0].pop("frames"), False),
    ("label without groups", lambda r: r["Label"].pop("groups"), False),
    ("workflow info without history", lambda r: r["DataRow Workflow Info"].pop("Workflow History"), False),
    ("history event without action", lambda r: r["DataRow Workflow Info"]["Workflow History"][0].pop(
        "action"), False),
    ("skipped as 0", lambda r: r.update(Skipped=0), False),
])
def test_legacy_schema_cases(case, edit, ok):
    row = load("legacy_export.json")[0]
    edit(row)
    assert (errors("legacy_row", row) == []) is ok


@pytest.mark.parametrize(("case", "edit", "ok"), [
    ("lower-case colour", lambda r: r["objects"][0].update(color="#ff34ff"), True),
    ("interpolated frame", lambda r: r["objects"][0].update(keyframe=False), True),
    ("named colour", lambda r: r["objects"][0].update(color="red"), False),
    ("short colour", lambda r: r["objects"][0].update(color="#FFF"), False),
    ("keyframe as string", lambda r: r["objects"][0].update(keyframe="true"), False),
    ("line and instanceURI", lambda r: r["objects"][0].update(instanceURI="https://x/y"), False),
    ("neither line nor instanceURI", lambda r: r["objects"][0].pop("line"), False),
    ("empty line", lambda r: r["objects"][0].update(line=[]), False),
    ("frame 0", lambda r: r.update(frameNumber=0), False),
    ("frame as string", lambda r: r.update(frameNumber="185"), False),
    ("no relationships", lambda r: r.pop("relationships"), False),
    ("object without schemaId", lambda r: r["objects"][0].pop("schemaId"), False),
])
def test_frame_record_schema_cases(case, edit, ok):
    row = load("frame_record_polyline.json")
    edit(row)
    assert (errors("frame_record", row) == []) is ok


# ---------------------------------------------------------------- renderer output


def _flag_id(flags: tuple[bool, ...]) -> str:
    return "-".join(f"{name.split('_')[0]}{int(on)}" for name, on in zip(PAGE_PARAMS, flags, strict=True))


def assert_parts_match_params(row: dict, params: ExportParams) -> None:
    """Each included part is present, each excluded part is absent (not null, not empty)."""
    for key in ("attachments", "metadata_fields", "embeddings"):
        assert (key in row) is getattr(params, key), key
        if key in row:
            assert isinstance(row[key], list)
    assert ("details" in row["data_row"]) is params.data_row_details
    assert row["projects"], "a project export row names its project"
    for project in row["projects"].values():
        assert ("project_details" in project) is params.project_details
        for label in project["labels"]:
            assert ("label_details" in label) is params.label_details
            assert ("performance_details" in label) is params.performance_details


@pytest.mark.parametrize("flags", list(itertools.product((False, True), repeat=len(PAGE_PARAMS))),
                         ids=_flag_id)
@settings(max_examples=10)
@given(data=st.data())
def test_v2_rows_for_every_reference_param_combination(flags, data):
    params = ExportParams(**dict(zip(PAGE_PARAMS, flags, strict=True)))
    row = data.draw(export_v2_rows(params=params))
    assert schema_violations(row, "export_v2_dicom_row") == []
    assert validate_row(row, "v2") == []
    assert_parts_match_params(row, params)


def _feature_frames(annotations: dict) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for group in annotations["groups"].values():
        for key, frame in group["frames"].items():
            for fid in frame["objects"]:
                out.setdefault(fid, set()).add(int(key))
    return out


@pytest.mark.parametrize("embeddings", [False, True], ids=["emb0", "emb1"])
@pytest.mark.parametrize("interpolated", [False, True], ids=["interp0", "interp1"])
@settings(max_examples=10)
@given(data=st.data())
def test_embeddings_and_interpolated_frames(embeddings, interpolated, data):
    base = data.draw(export_params())
    params = ExportParams(**{**{n: getattr(base, n) for n in ExportParams.names()},
                             "embeddings": embeddings, "interpolated_frames": interpolated})
    row = data.draw(export_v2_rows(params=params))
    assert validate_row(row, "v2") == []
    assert_parts_match_params(row, params)
    for emb in row.get("embeddings", []):
        assert all(len(v["value"]) == emb["dimensions"] for v in emb["values"])
    for project in row["projects"].values():
        for label in project["labels"]:
            ann = label["annotations"]
            for fid, frames in _feature_frames(ann).items():
                plane = next(p for p in PLANES if fid in ann["segments"][p])
                keys = {int(k) for k, on in ann["key_frame_feature_map"][fid][plane].items() if on}
                spans = {n for start, end in ann["segments"][plane][fid] for n in range(start, end + 1)}
                # Off: only key frames are exported.  On: every frame of every segment is.
                assert frames == (spans if interpolated else keys)


@settings(max_examples=25)
@given(legacy_rows())
def test_legacy_rows_validate(row):
    assert schema_violations(row, "legacy_row") == []
    assert validate_row(row, "legacy") == []
    planes = [g["name"] for g in row["Label"]["groups"]]
    assert sorted(planes) == ["axial", "coronal", "sagittal"]


@settings(max_examples=25)
@given(frame_records())
def test_frame_records_validate(records):
    checker = FileChecker("frames")
    for n, record in enumerate(records, 1):
        assert checker.check(record, n) == []
    numbers = [r["frameNumber"] for r in records]
    assert numbers == sorted(numbers)


def test_schema_violations_name_paths_precisely():
    row = copy.deepcopy(load("v2_project_export_row.json"))
    axial_object(row)["line"] = []
    (violation,) = schema_violations(row, "export_v2_dicom_row")
    assert violation.path == (f"$.projects.{PROJECT}.labels[0].annotations.groups.Axial.frames['6']"
                              f".objects.{POLYLINE}.line")
    assert "at least 1" in violation.message
