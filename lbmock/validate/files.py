"""Reading an export file (v2 NDJSON, legacy JSON array, frame records) and reporting on it."""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

import orjson

from lbmock.validate.explanations import json_type
from lbmock.validate.invariants import FileChecker

EXIT_OK, EXIT_VIOLATIONS, EXIT_UNREADABLE = 0, 1, 2

_SNIFF_BYTES = 8192


class UnreadableInput(Exception):
    """The input is not something we can validate (exit code 2)."""


def _not_json(exc: orjson.JSONDecodeError, first_line: int, one_line: bool) -> UnreadableInput:
    """Where the JSON broke: ``first_line`` is the file line the parsed text starts on."""
    msg = exc.msg.split(": line ")[0] if exc.msg else "invalid JSON"
    if one_line:  # an NDJSON line: the error is on that line, wherever the parser stopped
        where = f"line {first_line}" + (f", column {exc.colno}" if exc.lineno == 1 else "")
    else:
        where = f"line {first_line + exc.lineno - 1}, column {exc.colno}"
    return UnreadableInput(f"{where}: not valid JSON ({msg})")


def _looks_binary(chunk: bytes) -> bool:
    if b"\x00" in chunk:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(chunk, final=False)
    except UnicodeDecodeError:
        return True
    return False


def _ndjson_rows(fh: IO[bytes], after: int) -> Iterator[tuple[int, Any]]:
    number = after
    for line in fh:
        number += 1
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise _not_json(exc, number, one_line=True) from None


def _whole(first: bytes, fh: IO[bytes], first_number: int) -> Any:
    try:
        return orjson.loads(first + fh.read())
    except orjson.JSONDecodeError as exc:
        raise _not_json(exc, first_number, one_line=False) from None


def _rows(fh: IO[bytes]) -> tuple[str, Iterator[tuple[int, Any]]]:
    """Sniff the format; return it with ``(row number, row)`` pairs."""
    number, first = 0, b""
    for line in iter(fh.readline, b""):
        number += 1
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if _looks_binary(line[:_SNIFF_BYTES]):
            raise UnreadableInput(f"line {number}: binary data, not JSON text")
        if line.strip():
            first = line
            break
    if not first:
        raise UnreadableInput("empty file: no JSON in it" if number == 0 else "no JSON in it (blank lines only)")
    lead = first.lstrip()[:1]
    if lead == b"[":
        doc = _whole(first, fh, number)
        if not isinstance(doc, list):  # pragma: no cover - '[' always parses to a list
            raise UnreadableInput("top-level JSON value is not an array")
        return "legacy", ((i + 1, row) for i, row in enumerate(doc))
    try:
        head = orjson.loads(first)
    except orjson.JSONDecodeError as exc:
        if first.strip() == b"{":  # one pretty-printed object, e.g. a sample row
            head = _whole(first, fh, number)
            return ("frames" if "frameNumber" in head else "v2"), iter([(number, head)])
        raise _not_json(exc, number, one_line=True) from None
    if not isinstance(head, dict):
        raise UnreadableInput(
            f"line {number}: top-level JSON value is {'an' if json_type(head)[0] in 'aeiou' else 'a'} "
            f"{json_type(head)}; expected one object per line (export v2 or frame-record NDJSON) "
            "or an array (legacy export)")
    fmt = "frames" if "frameNumber" in head else "v2"
    return fmt, _chain(number, head, _ndjson_rows(fh, number))


def _chain(number: int, head: Any, rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    yield number, head
    yield from rest


@contextlib.contextmanager
def _open(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    p = Path(path)
    if p.is_dir():
        raise UnreadableInput("is a directory, not an export file")
    try:
        fh = p.open("rb")
    except FileNotFoundError:
        raise UnreadableInput("no such file") from None
    except OSError as exc:
        raise UnreadableInput(f"cannot open: {exc.strerror or exc}") from None
    with fh:
        yield fh


def _silence(out: TextIO) -> None:
    """Point a closed pipe at /dev/null so the interpreter's final flush stays quiet."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())


def validate_path(path: str, out: TextIO, max_reports: int = 200, *, err: TextIO | None = None) -> int:
    """Validate the export at ``path`` (``-`` for stdin), reporting to ``out``.

    Prints ``row N: <json-path>: <message>`` per violation (at most
    ``max_reports`` of them) and a summary line.  Returns 0 when clean, 1 on
    violations, 2 (with one line on ``err``, default stderr) when the input
    cannot be read as an export at all.
    """
    err = err if err is not None else sys.stderr
    shown = "<stdin>" if path == "-" else path
    fmt, n_rows, bad_rows, n_violations = "?", 0, 0, 0
    try:
        with _open(path) as fh:
            fmt, rows = _rows(fh)
            checker = FileChecker(fmt)
            for number, row in rows:
                n_rows += 1
                violations = checker.check(row, number)
                bad_rows += bool(violations)
                for violation in violations:
                    n_violations += 1
                    if n_violations <= max_reports:
                        out.write(f"row {number}: {violation}\n")
    except BrokenPipeError:  # `lbmock validate big.ndjson | head`: the reader has seen enough
        _silence(out)
        return EXIT_VIOLATIONS if n_violations else EXIT_OK
    except UnreadableInput as exc:
        out.flush()
        print(f"lbmock validate: error: {shown}: {exc}", file=err)
        return EXIT_UNREADABLE
    except OSError as exc:
        out.flush()
        print(f"lbmock validate: error: {shown}: cannot read: {exc.strerror or exc}", file=err)
        return EXIT_UNREADABLE
    if n_violations > max_reports:
        out.write(f"... {n_violations - max(max_reports, 0)} more violation(s) not shown (--max-errors)\n")
    if n_violations:
        out.write(f"FAILED: {n_violations} violation(s) in {bad_rows} of {n_rows} rows, format {fmt}\n")
        return EXIT_VIOLATIONS
    out.write(f"OK: {n_rows} rows, format {fmt}\n")
    return EXIT_OK
