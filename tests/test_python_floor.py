"""The Python floor (pyproject: requires-python >=3.10): no file of the package, its tests, docs
scripts, examples or benchmarks uses what only Python 3.11 or later has.  CI runs 3.11, so this
is where 3.10 is held: each pattern names a 3.11+ (or 3.12+) API and the 3.10 way lbmock takes.
(Checked for real once under Python 3.10.13: every module imports and a test subset passes.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("lbmock", "mockserver", "strategies", "contract_tests", "tests", "docs", "examples", "benchmarks")
# (pattern, what to use instead, the one file allowed to use it)
NEWER: list[tuple[str, str, str | None]] = [
    (r"contextlib\.chdir|from contextlib import[^\n]*\bchdir\b", "os.chdir in try/finally (tests/test_docs.py)", None),
    (r"^\s*import tomllib", "lbmock.world_spec.parse_toml (tomli on 3.10)", "lbmock/world_spec.py"),
    (r"\.fromisoformat\(", "lbmock.render.common.parse_iso (3.10 reads no 'Z', no 1-5 or 7+ digit fractions)",
     "lbmock/render/common.py"),
    (r"datetime\.UTC\b|from datetime import[^\n]*\bUTC\b", "datetime.timezone.utc", None),
    (r"typing\.Self\b|from typing import[^\n]*\bSelf\b", "a quoted class name", None),
    (r"\bStrEnum\b", "class X(str, Enum) with __str__", None),
    (r"\bExceptionGroup\b|^\s*except\*", "plain exceptions", None),
    (r"asyncio\.(TaskGroup|timeout)\b", "asyncio.gather / wait_for", None),
    (r"\bitertools\.batched\b|from itertools import[^\n]*\bbatched\b", "slicing", None),
    (r"hashlib\.file_digest\b", "hashlib.new(...).update per chunk", None),
    (r"\.add_note\(", "a message that says it", None),
]


def _sources() -> list[Path]:
    found: set[Path] = set()
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            found.add(path.resolve())  # lbmock/ links to the top-level folders: each file once
    return sorted(found)


def test_nothing_newer_than_the_python_floor_is_used():
    this = Path(__file__).resolve()
    wrong = []
    for path in _sources():
        if path == this:
            continue
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT).as_posix()
        for pattern, instead, allowed in NEWER:
            if name == allowed:
                continue
            for match in re.finditer(pattern, text, re.MULTILINE):
                line = text.count("\n", 0, match.start()) + 1
                wrong.append(f"{name}:{line}: {match.group().strip()} is newer than Python 3.10: use {instead}")
    assert not wrong, "\n".join(wrong)


def test_the_guard_finds_what_it_looks_for():
    samples = {"contextlib.chdir(x)": 0, "import tomllib": 1, "datetime.fromisoformat(t)": 2,
               "from datetime import UTC": 3, "from typing import Self": 4}
    for sample, index in samples.items():
        assert re.search(NEWER[index][0], sample, re.MULTILINE), sample
