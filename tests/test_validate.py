"""``lbmock validate``: format detection, violation reports, exit codes, unreadable input."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lbmock import fixtures_dir
from lbmock.validate import schema_violations, validate_path, validate_row

REPO = Path(__file__).resolve().parents[1]
SAMPLES = fixtures_dir() / "samples"
PROJECT = "cldnyx07w0dcg071ahdgx2y3h"
POLYLINE = "cldnz5eto00053b6jqxb2rzm7"
MASK = "cldnz5k2z000b3b6j7rr1padw"
LABEL = f"$.projects.{PROJECT}.labels[0].annotations"
BROKEN_LINE = 7  # where the broken row goes in a 30-row file


def lbmock(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lbmock.cli", *args], input=stdin, capture_output=True,
                          cwd=REPO, timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return proc


def validate(path: Path | str, *extra: str, stdin: bytes | None = None) -> tuple[int, list[str], str]:
    proc = lbmock("validate", str(path), *extra, stdin=stdin)
    return proc.returncode, proc.stdout.decode().splitlines(), proc.stderr.decode()


def validate_here(capsys, path: Path | str, *extra: str) -> tuple[int, list[str], str]:
    """The same command in this process: for the many cases beyond the CLI smoke tests."""
    from lbmock.cli import main

    code = main(["validate", str(path), *extra])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def sample(name: str):
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def v2_lines() -> list[bytes]:
    proc = lbmock("generate", "--rows", "30", "--seed", "11", "--quiet")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert len(lines) == 30
    return lines


@pytest.fixture(scope="module")
def good_v2(tmp_path_factory, v2_lines) -> Path:
    path = tmp_path_factory.mktemp("v2") / "export.ndjson"
    path.write_bytes(b"\n".join(v2_lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def good_legacy(tmp_path_factory) -> Path:
    proc = lbmock("generate", "--rows", "30", "--seed", "11", "--quiet", "--format", "legacy")
    assert proc.returncode == 0
    path = tmp_path_factory.mktemp("legacy") / "export.json"
    path.write_bytes(proc.stdout)
    return path


def v2_file_with(tmp_path: Path, v2_lines: list[bytes], row: dict) -> Path:
    """The good 30-row export with line BROKEN_LINE replaced by ``row``."""
    lines = list(v2_lines)
    lines[BROKEN_LINE - 1] = json.dumps(row).encode()
    path = tmp_path / "broken.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def sample_row() -> dict:
    row = sample("v2_project_export_row.json")
    row["data_row"]["id"] = "cldnyuj4z1qjk083c20247zzz"  # unique within the generated file
    return row


def ann(row: dict) -> dict:
    return row["projects"][PROJECT]["labels"][0]["annotations"]


# ---------------------------------------------------------------- good files


def test_generated_v2_export_is_clean(good_v2):
    code, out, err = validate(good_v2)
    assert (code, out, err) == (0, ["OK: 30 rows, format v2"], "")


def test_generated_legacy_export_is_clean(good_legacy):
    rows = json.loads(good_legacy.read_bytes())
    assert rows, "seed 11 has labelled rows"
    code, out, _ = validate(good_legacy)
    assert (code, out) == (0, [f"OK: {len(rows)} rows, format legacy"])


def test_jobs_give_the_same_report(good_v2):
    assert validate(good_v2, "--jobs", "2")[:2] == (0, ["OK: 30 rows, format v2"])
    assert validate(good_v2, "--jobs", "0")[:2] == (0, ["OK: 30 rows, format v2"])  # one per core
    code, out, err = validate(good_v2, "--jobs", "-1")
    assert (code, out) == (2, []) and "--jobs: -1 processes?" in err


def test_stdin(good_v2):
    code, out, _ = validate("-", stdin=good_v2.read_bytes())
    assert (code, out) == (0, ["OK: 30 rows, format v2"])


def test_reference_samples_as_files(tmp_path, capsys):
    assert validate_here(capsys, SAMPLES / "v2_project_export_row.json")[:2] == (0, ["OK: 1 rows, format v2"])
    assert validate_here(capsys, SAMPLES / "legacy_export.json")[:2] == (0, ["OK: 1 rows, format legacy"])
    records = tmp_path / "frames.ndjson"
    records.write_text("".join(json.dumps(sample(f"frame_record_{kind}.json")) + "\n"
                               for kind in ("mask", "polyline")))
    assert validate_here(capsys, records)[:2] == (0, ["OK: 2 rows, format frames"])


def test_sample_row_spliced_into_the_export_is_clean(tmp_path, v2_lines, capsys):
    """The control for the broken-row cases below: only the mutation makes them fail."""
    code, out, _ = validate_here(capsys, v2_file_with(tmp_path, v2_lines, sample_row()))
    assert (code, out) == (0, ["OK: 30 rows, format v2"])


# ---------------------------------------------------------------- broken v2 rows


def _frame_zero(row):
    frames = ann(row)["groups"]["Axial"]["frames"]
    frames["0"] = frames.pop("6")


def _missing_feature_in_map(row):
    ann(row)["key_frame_feature_map"]["cldnz9zzz000b3b6j7rr1zzzz"] = {
        "Axial": {"3": True}, "Coronal": {}, "Sagittal": {}}


def _second_plane(row):
    ann(row)["groups"]["Coronal"]["frames"]["6"] = copy.deepcopy(ann(row)["groups"]["Axial"]["frames"]["6"])


def _feature_missing_from_map(row):
    del ann(row)["key_frame_feature_map"][MASK]


BROKEN_V2 = {
    "frame key 0": (_frame_zero, f"{LABEL}.groups.Axial.frames['0']", "key '0' does not match"),
    "polyline with no points": (
        lambda r: ann(r)["groups"]["Axial"]["frames"]["6"]["objects"][POLYLINE].update(line=[]),
        f"{LABEL}.groups.Axial.frames['6'].objects.{POLYLINE}.line", "expected at least 1 item"),
    "key_frame_feature_map names a missing feature": (
        _missing_feature_in_map, f"{LABEL}.key_frame_feature_map.cldnz9zzz000b3b6j7rr1zzzz",
        "no frames in this label"),
    "feature missing from key_frame_feature_map": (
        _feature_missing_from_map, f"{LABEL}.key_frame_feature_map", f"feature {MASK} has frames"),
    "segment not covering a key frame": (
        lambda r: ann(r)["segments"]["Axial"].update({POLYLINE: [[7, 9]]}),
        f"{LABEL}.groups.Axial.frames['6'].objects.{POLYLINE}", "lies outside its segments ([7, 9])"),
    "segment running backwards": (
        lambda r: ann(r)["segments"]["Sagittal"].update({MASK: [[256, 256], [300, 290]]}),
        f"{LABEL}.segments.Sagittal.{MASK}[1]", "starts at frame 300, after it ends at frame 290"),
    "feature on two planes": (
        _second_plane, f"{LABEL}.groups.Coronal.frames['6'].objects.{POLYLINE}", "on Axial and on Coronal"),
    "object keyed by another id": (
        lambda r: ann(r)["groups"]["Axial"]["frames"]["6"]["objects"][POLYLINE].update(feature_id=MASK),
        f"{LABEL}.groups.Axial.frames['6'].objects.{POLYLINE}.feature_id", "keyed by"),
    "label id repeated": (
        lambda r: r["projects"][PROJECT]["labels"].append(copy.deepcopy(r["projects"][PROJECT]["labels"][0])),
        f"$.projects.{PROJECT}.labels[1].id", "appears twice"),
    "project without a name": (
        lambda r: r["projects"][PROJECT].pop("project_name"), f"$.projects.{PROJECT}",
        "needs one of 'name', 'project_name'"),
    "required key missing": (lambda r: r["data_row"].pop("row_data"), "$.data_row.row_data",
                             "required key is missing"),
}


# The brief's four, through the real command line; the rest in-process.
VIA_SUBPROCESS = {"frame key 0", "polyline with no points", "key_frame_feature_map names a missing feature",
                  "segment not covering a key frame"}


@pytest.mark.parametrize("case", sorted(BROKEN_V2))
def test_broken_v2_row_is_reported_with_row_and_path(tmp_path, v2_lines, capsys, case):
    mutate, path, message = BROKEN_V2[case]
    row = sample_row()
    mutate(row)
    broken = v2_file_with(tmp_path, v2_lines, row)
    code, out, err = validate(broken) if case in VIA_SUBPROCESS else validate_here(capsys, broken)
    assert code == 1, out
    assert err == ""
    *reports, summary = out
    assert reports and all(line.startswith(f"row {BROKEN_LINE}: $") for line in reports), out
    assert any(line.startswith(f"row {BROKEN_LINE}: {path}: ") and message in line for line in reports), out
    assert summary == f"FAILED: {len(reports)} violation(s) in 1 of 30 rows, format v2"


def test_duplicate_data_row_names_the_first_row(tmp_path, v2_lines, capsys):
    lines = [*v2_lines[:5], v2_lines[1]]
    path = tmp_path / "dup.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    code, out, _ = validate_here(capsys, path)
    assert code == 1
    assert out[0].startswith("row 6: $.data_row.id: duplicate data row id ")
    assert out[0].endswith("(first in row 2)")


def test_invariants_catch_what_the_schema_accepts():
    row = sample_row()
    ann(row)["segments"]["Axial"][POLYLINE] = [[7, 9]]
    assert schema_violations(row, "export_v2_dicom_row") == []
    assert [v.path for v in validate_row(row, "v2")] == [f"{LABEL}.groups.Axial.frames['6'].objects.{POLYLINE}"]


def test_missing_key_frame_feature_map_is_tolerated():
    row = sample_row()
    del ann(row)["key_frame_feature_map"]
    assert validate_row(row, "v2") == []


def test_max_errors_limits_the_report(tmp_path, v2_lines, capsys):
    row = sample_row()
    ann(row)["groups"]["Axial"]["frames"]["6"]["objects"][POLYLINE]["line"] = []
    lines = []
    for i in range(5):
        row["data_row"]["id"] = f"cldnyuj4z1qjk083c20247zz{i}"
        lines.append(json.dumps(row))
    path = tmp_path / "many.ndjson"
    path.write_text("\n".join(lines) + "\n")
    code, out, _ = validate_here(capsys, path, "--max-errors", "2")
    assert code == 1
    assert [line.split(":")[0] for line in out[:2]] == ["row 1", "row 2"]
    assert out[2:] == ["... 3 more violation(s) not shown (--max-errors)",
                       "FAILED: 5 violation(s) in 5 of 5 rows, format v2"]


# ---------------------------------------------------------------- broken legacy / frames


def test_legacy_missing_required_key(tmp_path, good_legacy):
    rows = json.loads(good_legacy.read_bytes())
    assert len(rows) >= 3
    del rows[2]["Seconds to Label"]
    path = tmp_path / "legacy.json"
    path.write_text(json.dumps(rows, indent=2))
    code, out, _ = validate(path)
    assert code == 1
    assert out == ["row 3: $['Seconds to Label']: required key is missing",
                   f"FAILED: 1 violation(s) in 1 of {len(rows)} rows, format legacy"]


def test_legacy_group_invariants(tmp_path, capsys):
    rows = sample("legacy_export.json")
    other = copy.deepcopy(rows[0])
    other["ID"] = "cl2y5gyv5pl2s07749ceb5zzz"
    other["View Label"] = other["View Label"].replace(rows[0]["ID"], other["ID"])
    other["Label"]["groups"].append(copy.deepcopy(other["Label"]["groups"][0]))  # axial twice, wrong label
    rows.append(other)
    path = tmp_path / "legacy.json"
    path.write_text(json.dumps(rows))
    code, out, _ = validate_here(capsys, path)
    assert code == 1
    assert out == [
        "row 2: $.Label.groups[0].frames: frames URL does not contain the label id cl2y5gyv5pl2s07749ceb5zzz",
        "row 2: $.Label.groups[1].name: plane 'axial' is listed twice (also groups[0])",
        "row 2: $.Label.groups[1].frames: frames URL does not contain the label id cl2y5gyv5pl2s07749ceb5zzz",
        "FAILED: 3 violation(s) in 1 of 2 rows, format legacy",
    ]


def test_broken_frame_records(tmp_path, capsys):
    good = sample("frame_record_mask.json")
    bad = sample("frame_record_polyline.json")
    bad["frameNumber"] = 0
    bad["objects"][0]["color"] = "#12345"
    path = tmp_path / "frames.ndjson"
    path.write_text(f"{json.dumps(good)}\n\n{json.dumps(bad)}\n")  # blank line 2 still counts
    code, out, _ = validate_here(capsys, path)
    assert code == 1
    assert out[0] == "row 3: $.frameNumber: 0 is less than the minimum 1"
    assert out[1].startswith("row 3: $.objects[0].color: \"#12345\" does not match")
    assert out[2] == "FAILED: 2 violation(s) in 1 of 2 rows, format frames"


# ---------------------------------------------------------------- unreadable input


def _one_error_line(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lbmock validate: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_invalid_json_on_line_3(tmp_path, v2_lines):
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b"\n".join([v2_lines[0], v2_lines[1], v2_lines[2][:-40], *v2_lines[3:]]) + b"\n")
    code, out, err = validate(path)
    assert code == 2
    assert out == []  # lines 1 and 2 are fine; no summary for an unreadable file
    _one_error_line(err, str(path), "line 3", "not valid JSON")


@pytest.mark.parametrize(("content", "fragment"), [
    (b"", "empty file"),
    (b"\n  \n\n", "blank lines only"),
    (bytes(range(256)) * 8, "binary data"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
    (b"42\n", "top-level JSON value is an integer"),
    (b'"export"\n', "top-level JSON value is a string"),
    (b"{not json}\n", "line 1, column 2: not valid JSON"),
    (b"[\n  {\"ID\": 1},\n  oops\n]", "line 3, column 3: not valid JSON"),
], ids=["empty", "blank", "binary", "png", "number", "string", "garbage-object", "broken-array"])
def test_unreadable_content(tmp_path, content, fragment, capsys):
    path = tmp_path / "input"
    path.write_bytes(content)
    code, out, err = validate_here(capsys, path)
    assert (code, out) == (2, [])
    _one_error_line(err, fragment)


def test_missing_file(tmp_path):
    code, out, err = validate(tmp_path / "nope.ndjson")
    assert (code, out) == (2, [])
    _one_error_line(err, "nope.ndjson", "no such file")


def test_directory(tmp_path):
    code, out, err = validate(tmp_path)
    assert (code, out) == (2, [])
    _one_error_line(err, "is a directory")


def test_validate_path_in_process_reports_to_the_given_streams(good_v2):
    out, err = io.StringIO(), io.StringIO()
    assert validate_path(str(good_v2), out, err=err) == 0
    assert out.getvalue() == "OK: 30 rows, format v2\n" and err.getvalue() == ""
    assert validate_path(str(good_v2.parent / "missing"), out, err=err) == 2
    assert err.getvalue().count("\n") == 1
