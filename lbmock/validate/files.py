"""Reading an export file (v2 NDJSON, legacy JSON array, frame records) and reporting on it."""

from __future__ import annotations

import codecs
import collections
import contextlib
import io
import os
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple, TextIO

import orjson

from lbmock.validate.explanations import Violation, json_type
from lbmock.validate.invariants import FileChecker, row_key, validate_row
from lbmock.validate.schemas import FORMATS, fast_validator, validator

EXIT_OK, EXIT_VIOLATIONS, EXIT_UNREADABLE = 0, 1, 2

_SNIFF_BYTES = 8192
_REDRAW_SECONDS = 0.2  # the progress line, at most this often
_BATCH_BYTES = 1 << 20  # NDJSON goes to the checkers in line-aligned pieces of about this size


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


def _whole(first: bytes, fh: IO[bytes], first_number: int) -> Any:
    try:
        return orjson.loads(first + fh.read())
    except orjson.JSONDecodeError as exc:
        raise _not_json(exc, first_number, one_line=False) from None


def _rows(fh: IO[bytes]) -> tuple[str, Iterator[tuple[int, Any]] | _Lines]:
    """Sniff the format; return it with ``(row number, row)`` pairs, or NDJSON's lines to come."""
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
    return fmt, _Lines(number, first)


class _Lines(NamedTuple):
    """An NDJSON file from its first non-blank line (``number``, ``first``) on: the rest is read
    in pieces by :func:`_pieces`, never whole."""

    number: int
    first: bytes


def _pieces(fh: IO[bytes], lines: _Lines) -> Iterator[tuple[int, bytes]]:
    """``(number of its first line, bytes)``: whole lines, about ``_BATCH_BYTES`` at a time."""
    number, piece = lines.number, lines.first
    while True:
        chunk = fh.read(_BATCH_BYTES)
        if chunk and not chunk.endswith(b"\n"):
            chunk += fh.readline()
        piece += chunk
        if piece:
            yield number, piece
        if not chunk:
            return
        number += piece.count(b"\n")
        piece = b""


class _Checked(NamedTuple):
    """What checking a piece of a file found: ``(row number, row_key, violations)`` per row, and
    the message of the unreadable line that stopped it (no row after it is checked)."""

    rows: list[tuple[int, str | int | None, list[Violation]]]
    error: str | None
    size: int


def check_lines(fmt: str, number: int, piece: bytes) -> _Checked:
    """Parse and check the NDJSON lines of ``piece``, the first being line ``number`` (in a worker
    process under ``--jobs``: rows cross back as results only; the rule across rows stays with the reader)."""
    rows: list[tuple[int, str | int | None, list[Violation]]] = []
    for line in io.BytesIO(piece):  # splits on b"\n" alone and keeps it, as reading the file does
        if line.strip():
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                return _Checked(rows, str(_not_json(exc, number, one_line=True)), len(piece))
            rows.append((number, row_key(row, fmt), validate_row(row, fmt)))
        number += 1
    return _Checked(rows, None, len(piece))


def _check_parsed(fmt: str, rows: Iterable[tuple[int, Any]]) -> Iterator[_Checked]:
    for number, row in rows:
        yield _Checked([(number, row_key(row, fmt), validate_row(row, fmt))], None, 0)


def _check_pieces(fmt: str, pieces: Iterator[tuple[int, bytes]], jobs: int) -> Iterator[_Checked]:
    """:func:`check_lines` of each piece, in file order; ``jobs`` > 1: in that many processes, at
    most two pieces per process read ahead (memory stays flat whatever the file's size)."""
    if jobs <= 1:
        for number, piece in pieces:
            yield check_lines(fmt, number, piece)
        return
    import multiprocessing

    fast_validator(FORMATS[fmt]), validator(FORMATS[fmt])  # built once, before the workers fork
    with multiprocessing.get_context().Pool(jobs) as pool:  # leaving it (done, error, closed pipe) ends them
        ahead: collections.deque = collections.deque()
        for number, piece in pieces:
            ahead.append(pool.apply_async(check_lines, (fmt, number, piece)))
            if len(ahead) >= 2 * jobs:
                yield ahead.popleft().get()
        while ahead:
            yield ahead.popleft().get()


class _Progress:
    """One self-rewriting line on a terminal's stderr: rows, MB/s, share done and time left."""

    def __init__(self, err: TextIO, enabled: bool) -> None:
        self.err, self.enabled, self.total = err, enabled, None
        self.start = self.last = time.perf_counter()
        self.drawn = False

    def update(self, rows: int, done: int) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.last < _REDRAW_SECONDS:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        text = f"lbmock validate: {rows:,} rows"
        if rate > 0:
            text += f", {rate / 1e6:,.1f} MB/s"
            if self.total:
                text += f", {min(done / self.total, 1):.0%}, {max(self.total - done, 0) / rate:,.0f} s left"
        self.err.write(f"\r{text}\x1b[K")
        self.err.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self.drawn = False


def _size(fh: IO[bytes]) -> int | None:
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        st = os.fstat(fh.fileno())
        return st.st_size if stat.S_ISREG(st.st_mode) else None
    return None


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


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


def validate_path(path: str, out: TextIO, max_reports: int = 200, *, err: TextIO | None = None, jobs: int = 1,
                  progress: bool | None = None) -> int:
    """Validate the export at ``path`` (``-`` for stdin), reporting to ``out``.

    Prints ``row N: <json-path>: <message>`` per violation (at most
    ``max_reports`` of them) and a summary line.  Returns 0 when clean, 1 on
    violations, 2 (with one line on ``err``, default stderr) when the input
    cannot be read as an export at all.  ``jobs``: processes checking NDJSON
    rows (the same report, in the same order); ``progress``: a progress line
    on ``err`` (default: when ``err`` is a terminal).
    """
    err = err if err is not None else sys.stderr
    shown = "<stdin>" if path == "-" else path
    fmt, n_rows, bad_rows, n_violations = "?", 0, 0, 0
    bar = _Progress(err, _is_tty(err) if progress is None else progress)
    try:
        with _open(path) as fh, contextlib.ExitStack() as stack:
            bar.total = _size(fh)
            fmt, rows = _rows(fh)
            checked = (_check_pieces(fmt, _pieces(fh, rows), jobs) if isinstance(rows, _Lines)
                       else _check_parsed(fmt, rows))
            stack.callback(checked.close)  # (and with it the workers, on any way out)
            checker, done = FileChecker(fmt), 0
            for piece in checked:
                for number, key, found in piece.rows:
                    n_rows += 1
                    violations = [*found, *checker.seen(key, number)]
                    bad_rows += bool(violations)
                    for violation in violations:
                        n_violations += 1
                        if n_violations <= max_reports:
                            bar.clear()
                            out.write(f"row {number}: {violation}\n")
                if piece.error is not None:
                    raise UnreadableInput(piece.error)
                done += piece.size
                bar.update(n_rows, done)
    except BrokenPipeError:  # `lbmock validate big.ndjson | head`: the reader has seen enough
        bar.clear()
        _silence(out)
        return EXIT_VIOLATIONS if n_violations else EXIT_OK
    except UnreadableInput as exc:
        bar.clear()
        out.flush()
        print(f"lbmock validate: error: {shown}: {exc}", file=err)
        return EXIT_UNREADABLE
    except OSError as exc:
        bar.clear()
        out.flush()
        print(f"lbmock validate: error: {shown}: cannot read: {exc.strerror or exc}", file=err)
        return EXIT_UNREADABLE
    bar.clear()
    if n_violations > max_reports:
        out.write(f"... {n_violations - max(max_reports, 0)} more violation(s) not shown (--max-errors)\n")
    if n_violations:
        out.write(f"FAILED: {n_violations} violation(s) in {bad_rows} of {n_rows} rows, format {fmt}\n")
        return EXIT_VIOLATIONS
    out.write(f"OK: {n_rows} rows, format {fmt}\n")
    return EXIT_OK
