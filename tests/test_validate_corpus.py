"""The compiled gate (jsonschema-rs) changes no verdict and no message: a corpus of broken rows.

Valid rows (the reference samples and rows from ``lbmock generate``) are broken in many distinct
ways: every key dropped or renamed, every value replaced by a wrong type, an empty or spaced
string, an odd frame number or URL, lists emptied, reversed or given a duplicate (duplicate ids,
backwards segments), frame keys moved.  Each broken row is checked by today's code and by the
reference path (jsonschema for every row, as before the gate), and the whole corpus as files
through ``validate_path`` with one process and with two.
"""

from __future__ import annotations

import copy
import io
import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lbmock import fixtures_dir
from lbmock.validate import FileChecker, validate_path, validate_row
from lbmock.validate import explanations as explanations_module
from lbmock.validate.explanations import explain_schema_errors
from lbmock.validate.invariants import _INVARIANTS, row_key
from lbmock.validate.schemas import _PY_NON_SPACE, FORMATS, fast_validator

REPO = Path(__file__).resolve().parents[1]
SAMPLES = fixtures_dir() / "samples"
PER_FORMAT = {"v2": 700, "legacy": 400, "frames": 300}  # broken rows drawn per format
AS_FILE = 250  # of them, in the file-level tests

_WRONG = [None, True, False, 0, -1, 1.5, 2**64 + 1, "", " ", "x y", "not-a-url", "http://a b", "\x1c",
          "ab\u0085", "\ufeffab", "a\n", "0", "-3", "01", "999999", "Axial", [], [1, 2], {}, {"a": 1}]


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


def _at(row: Any, path: tuple) -> Any:
    for part in path:
        row = row[part]
    return row


def _mutations(value: Any, in_dict: bool, key: Any) -> list:
    """``(what, how)`` pairs for the value at a path; ``how(parent)`` breaks it in place."""
    out: list = [(f"= {w!r}", lambda p, w=w: p.__setitem__(key, copy.deepcopy(w))) for w in _WRONG]
    out.append(("dropped", lambda p: p.pop(key)))
    if in_dict:
        for new in (f"{key}x", "0", "600", "Coronal", "bogus key"):
            out.append((f"renamed to {new!r}", lambda p, new=new: p.__setitem__(new, p.pop(key))))
    if isinstance(value, str):
        out += [("spaced", lambda p: p.__setitem__(key, p[key] + " ")),
                ("truncated", lambda p: p.__setitem__(key, p[key][: len(p[key]) // 2]))]
    if isinstance(value, int) and not isinstance(value, bool):
        out += [("negated", lambda p: p.__setitem__(key, -p[key])),
                ("far out", lambda p: p.__setitem__(key, p[key] + 100_000)),
                ("as text", lambda p: p.__setitem__(key, str(p[key])))]
    if isinstance(value, list) and value:
        out += [("reversed", lambda p: p[key].reverse()),
                ("first item twice", lambda p: p[key].append(copy.deepcopy(p[key][0]))),
                ("emptied", lambda p: p[key].clear())]
    if isinstance(value, dict):
        out.append(("extra key", lambda p: p[key].__setitem__("zz_unknown", 1)))
    return out


def _corpus(rows: list[Any], size: int, seed: int) -> list[tuple[str, Any]]:
    """``size`` distinct broken rows: every (path, mutation) pair of the rows, a seeded sample."""
    pairs = []
    for r, row in enumerate(rows):
        for path in _paths(row):
            if not path:
                continue
            parent = _at(row, path[:-1])
            for what, _how in _mutations(parent[path[-1]], isinstance(parent, dict), path[-1]):
                pairs.append((r, path, what))
    chosen = random.Random(seed).sample(pairs, min(size, len(pairs)))
    out = []
    for r, path, what in chosen:
        row = copy.deepcopy(rows[r])
        parent = _at(row, path[:-1])
        how = dict(_mutations(parent[path[-1]], isinstance(parent, dict), path[-1]))[what]
        how(parent)
        out.append((f"row {r} {list(path)} {what}", row))
    return out


def _generated(fmt: str) -> list[Any]:
    args = ["generate", "--rows", "12", "--seed", "28", "--quiet", "--format", "legacy" if fmt == "legacy" else "v2"]
    proc = subprocess.run([sys.executable, "-m", "lbmock.cli", *args], capture_output=True, cwd=REPO, check=True)
    if fmt == "legacy":
        return json.loads(proc.stdout)[:6]
    return [orjson.loads(line) for line in proc.stdout.splitlines()[:6]]


def _sources(fmt: str) -> list[Any]:
    samples = {"v2": ["v2_project_export_row.json"], "legacy": [],
               "frames": ["frame_record_mask.json", "frame_record_polyline.json"]}[fmt]
    rows = [json.loads((SAMPLES / name).read_text(encoding="utf-8")) for name in samples]
    if fmt == "legacy":
        rows += json.loads((SAMPLES / "legacy_export.json").read_text(encoding="utf-8"))
    if fmt != "frames":
        rows += _generated(fmt)
    return rows


@pytest.fixture(scope="module", params=sorted(PER_FORMAT))
def corpus(request) -> tuple[str, list[tuple[str, Any, list]]]:
    """``(format, [(what, broken row, the reference's violations)])``."""
    fmt = request.param
    rows = _sources(fmt)
    assert all(validate_row(row, fmt) == [] for row in rows), "the sources are valid"
    return fmt, [(what, row, reference_row(row, fmt)) for what, row in _corpus(rows, PER_FORMAT[fmt], seed=28)]


def reference_row(row: Any, fmt: str) -> list:
    """What ``validate_row`` gave before the compiled gate: jsonschema for every row."""
    return [*explain_schema_errors(row, FORMATS[fmt]), *_INVARIANTS[fmt](row)]


def test_every_broken_row_gets_the_reference_messages(corpus):
    fmt, broken = corpus
    assert fast_validator(FORMATS[fmt]) is not None, "jsonschema-rs is a dependency: the gate is on"
    failing = 0
    for what, row, expected in broken:
        assert validate_row(row, fmt) == expected, what
        failing += bool(expected)
    # the corpus is mostly broken rows, with the harmless mutations as controls
    assert failing >= 0.6 * len(broken), (failing, len(broken))


def _as_file(tmp_path: Path, fmt: str, rows: list[Any]) -> Path:
    path = tmp_path / f"corpus-{fmt}.{'json' if fmt == 'legacy' else 'ndjson'}"
    if fmt == "legacy":
        path.write_bytes(orjson.dumps(rows))
    else:
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


def _reference_report(fmt: str, rows: list[tuple[Any, list]]) -> list[str]:
    """The old ``validate_path`` loop: rows in order, each row's violations, then the summary."""
    checker, lines, bad, total = FileChecker(fmt), [], 0, 0
    for number, (row, expected) in enumerate(rows, 1):
        found = list(expected)
        found += checker.seen(row_key(row, fmt), number)
        bad += bool(found)
        total += len(found)
        lines += [f"row {number}: {v}" for v in found]
    lines.append(f"FAILED: {total} violation(s) in {bad} of {len(rows)} rows, format {fmt}")
    return lines


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_corpus_as_a_file_gets_the_reference_report(corpus, tmp_path, jobs):
    fmt, broken = corpus
    rows = [(row, expected) for _what, row, expected in broken[:AS_FILE] if not _too_big(row)]
    rows += rows[:3]  # the same rows again: duplicate ids across rows
    path = _as_file(tmp_path, fmt, [row for row, _ in rows])
    out = io.StringIO()
    code = validate_path(str(path), out, max_reports=10**6, err=io.StringIO(), jobs=jobs)
    assert code == 1
    assert out.getvalue().split("\n")[:-1] == _reference_report(fmt, rows)  # (splitlines: U+0085 too)


def test_the_pure_path_gives_the_same_report(corpus, tmp_path, monkeypatch):
    """Without jsonschema-rs (an install that lacks it) the report is the same."""
    fmt, broken = corpus
    rows = [(row, expected) for _what, row, expected in broken[:100] if not _too_big(row)]
    path = _as_file(tmp_path, fmt, [row for row, _ in rows])
    monkeypatch.setattr(explanations_module, "fast_validator", lambda _name: None)
    out = io.StringIO()
    assert validate_path(str(path), out, max_reports=10**6, err=io.StringIO()) == 1
    assert out.getvalue().split("\n")[:-1] == _reference_report(fmt, rows)  # (splitlines: U+0085 too)


def _too_big(row: Any) -> bool:
    try:
        orjson.dumps(row)
    except TypeError:  # 2**64 + 1 has no place in a file orjson reads
        return True
    return False


def test_no_character_passes_the_compiled_pattern_that_re_refuses():
    """The compiled validator's ``\\S`` (spelled out) never passes a string Python's ``re`` refuses."""
    import jsonschema_rs

    gate = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": f"^{_PY_NON_SPACE}+$"})
    python = re.compile(r"^\S+$")
    looser = [hex(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000
              and gate.is_valid(f"a{chr(c)}b") and not python.search(f"a{chr(c)}b")]
    assert looser == []


def test_ndjson_error_lines_and_rows_before_them_in_every_mode(tmp_path):
    """An unreadable line stops the report where it did, with the same message, under --jobs too."""
    good = [orjson.dumps(row) for row in _sources("v2")]
    lines = [*good, b"", b'{"data_row": ', *good]
    path = tmp_path / "cut.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    reports = []
    for jobs in (1, 2):
        out, err = io.StringIO(), io.StringIO()
        reports.append((validate_path(str(path), out, err=err, jobs=jobs), out.getvalue(), err.getvalue()))
    assert reports[0] == reports[1]
    assert reports[0][0] == 2
    assert f"line {len(good) + 2}" in reports[0][2]


def test_progress_line_only_when_asked_or_on_a_terminal(tmp_path, monkeypatch):
    rows = _sources("v2") * 40
    path = tmp_path / "many.ndjson"
    path.write_bytes(b"".join(orjson.dumps({**row, "data_row": {**row["data_row"], "id": f"c{i:024d}"}}) + b"\n"
                              for i, row in enumerate(rows)))
    monkeypatch.setattr("lbmock.validate.files._BATCH_BYTES", 4096)
    monkeypatch.setattr("lbmock.validate.files._REDRAW_SECONDS", 0.0)
    err = io.StringIO()
    assert validate_path(str(path), io.StringIO(), err=err) == 0
    assert err.getvalue() == ""  # a StringIO is no terminal
    err, out = io.StringIO(), io.StringIO()
    assert validate_path(str(path), out, err=err, progress=True) == 0
    assert out.getvalue() == f"OK: {len(rows)} rows, format v2\n"
    drawn = err.getvalue()
    assert re.search(r"\rlbmock validate: [\d,]+ rows, [\d.,]+ MB/s, \d+%, [\d,]+ s left\x1b\[K", drawn), drawn
    assert drawn.endswith("\r\x1b[K")  # wiped before the summary
