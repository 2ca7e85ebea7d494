"""The spool: each export stream rendered once into a file, then served as byte ranges.

The first worker to need a stream renders it into ``<dir>/<key>.ndjson`` and writes its
file plan beside it (``<key>.plan.json``), each by atomic rename: whoever sees a plan sees
its data.  Any worker then serves byte ranges of that file, so downloads move bytes instead
of re-rendering rows.  The spool keeps the most recently written streams only.
"""

from __future__ import annotations

import bisect
import os
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from lbmock.keyed_locks import KeyedLocks
from lbmock.mockserver.errors import BadInput, NotFound, small_number

PLAN_CACHE = 64  # stream plans kept per worker (each is a few boundaries per file)
SPOOL_FILES = 64  # rendered export streams kept on disk


@dataclass(frozen=True)
class RenderedPart:
    """Consecutive lines of a stream rendered elsewhere (a helper process) into the file at
    ``path``: ``lengths`` gives each line's size.  The spool moves the bytes into the stream
    and deletes the file."""

    path: str
    lengths: Sequence[int]


Lines = Iterable[bytes | RenderedPart]  # a stream's lines in order: each a line, or a part of several


@dataclass(frozen=True)
class ExportFile:
    """One downloadable file of a stream: inclusive line and byte ranges."""

    index: int
    lines: tuple[int, int]
    offsets: tuple[int, int]


@dataclass
class StreamPlan:
    """How one stream of a task is cut into files."""

    files: list[ExportFile]
    total_lines: int
    total_size: int

    def file_at_offset(self, offset: int) -> ExportFile:
        # files follow one another (asked once per file of a walk: a scan would be quadratic)
        at = bisect.bisect_right(self.files, offset, key=lambda f: f.offsets[0]) - 1
        if at >= 0 and self.files[at].offsets[0] <= offset <= self.files[at].offsets[1]:
            return self.files[at]
        raise BadInput(f"offset {offset} is out of range: the stream holds {self.total_size} bytes")

    def file_at_line(self, line: int) -> ExportFile:
        for f in self.files:
            if f.lines[0] <= line <= f.lines[1]:
                return f
        raise BadInput(f"line {line} is out of range: the stream holds {self.total_lines} lines")


class Spool:
    """Rendered streams on disk, shared by every worker pointing at the same directory."""

    def __init__(self, directory: str | None, file_bytes: int) -> None:
        if directory is not None:
            os.makedirs(directory, mode=0o700, exist_ok=True)  # exports of the state's tasks: the owner's
        self._dir: Path | None = Path(directory) if directory else None
        self.file_bytes = file_bytes
        self._plans: OrderedDict[str, StreamPlan] = OrderedDict()  # derived, per worker
        self._rendering = KeyedLocks()  # per stream being planned: one render, a retry waits for it
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop this worker's cached plans (the world changed: keys are reused by no one)."""
        with self._lock:
            self._plans.clear()

    def plan(self, key: str, lines: Callable[[], Lines]) -> StreamPlan:
        """The file plan of stream ``key``, rendering ``lines()`` into the spool the first time."""
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
        if plan is None:
            with self._rendering.holding(key):  # one render per stream: a client's retry waits for it
                plan = self._load_plan(key) or self._render(key, lines())
            with self._lock:
                self._plans[key] = plan
                while len(self._plans) > PLAN_CACHE:
                    self._plans.popitem(last=False)
        return plan

    def known_plan(self, key: str) -> StreamPlan | None:
        """Stream ``key``'s plan if this worker has it at hand (nothing is read or rendered)."""
        with self._lock:
            return self._plans.get(key)

    def planned(self, key: str) -> StreamPlan | None:
        """The plan of stream ``key`` if it was rendered already (by any worker); never renders."""
        return self.known_plan(key) or self._load_plan(key)

    def open_at(self, key: str, lines: Callable[[], Lines], start: int) -> BinaryIO:
        """Stream ``key``'s file, opened and positioned at ``start`` (rendered again if pruned meanwhile)."""
        for _attempt in range(3):
            self.plan(key, lines)
            try:
                handle = open(self._path(key, ".ndjson"), "rb", buffering=0)  # noqa: SIM115 - the caller closes it
            except FileNotFoundError:  # pruned since it was planned: render it again
                with self._lock:
                    self._plans.pop(key, None)
                self._path(key, ".plan.json").unlink(missing_ok=True)
                continue
            handle.seek(start)
            return handle
        raise NotFound(f"export file {key} is gone")

    def _path(self, key: str, suffix: str) -> Path:
        if self._dir is None:
            with self._lock:
                if self._dir is None:
                    self._dir = Path(tempfile.mkdtemp(prefix="lbmock-spool-"))
                    weakref.finalize(self, shutil.rmtree, self._dir, True)
        return self._dir / f"{key}{suffix}"

    def _load_plan(self, key: str) -> StreamPlan | None:
        try:
            meta = orjson.loads(self._path(key, ".plan.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        files = [ExportFile(f[0], tuple(f[1]), tuple(f[2])) for f in meta["files"]]
        return StreamPlan(files, meta["total_lines"], meta["total_size"])

    def scratch_dir(self) -> Path:
        """The spool's directory: where helpers write :class:`RenderedPart` files and templates are
        kept (the file system of the streams)."""
        return self._path("-", "").parent

    def _render(self, key: str, lines: Lines) -> StreamPlan:
        # Cut on line boundaries once a file reaches file_bytes.  Data goes in
        # before the plan, each by atomic rename: whoever sees a plan sees its data.
        self._prune()
        data_path, plan_path = self._path(key, ".ndjson"), self._path(key, ".plan.json")
        private = f".{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            return self._write(data_path, plan_path, private, lines)
        except BaseException:  # a full disk, a failed render: no partial file stays behind
            data_path.with_suffix(private).unlink(missing_ok=True)
            plan_path.with_suffix(private).unlink(missing_ok=True)
            raise

    def _write(self, data_path: Path, plan_path: Path, private: str, lines: Lines) -> StreamPlan:
        files: list[ExportFile] = []
        line = offset = start_line = start_offset = count = 0
        with open(data_path.with_suffix(private), "wb") as out:
            for item in lines:
                if isinstance(item, RenderedPart):
                    append_file(out, item.path)
                    sizes: Iterable[int] = item.lengths
                else:
                    out.write(item)
                    sizes = (len(item),)
                for size in sizes:
                    if count == 0:
                        start_line, start_offset = line, offset
                    line += 1
                    offset += size
                    count += 1
                    if offset - start_offset >= self.file_bytes:
                        files.append(ExportFile(len(files), (start_line, line - 1), (start_offset, offset - 1)))
                        count = 0
        if count:
            files.append(ExportFile(len(files), (start_line, line - 1), (start_offset, offset - 1)))
        plan = StreamPlan(files, line, offset)
        if line:
            os.replace(data_path.with_suffix(private), data_path)
        else:  # an empty stream (usually ERRORS) needs only its plan
            data_path.with_suffix(private).unlink(missing_ok=True)
        plan_path.with_suffix(private).write_bytes(orjson.dumps(
            {"files": [[f.index, f.lines, f.offsets] for f in files],
             "total_lines": line, "total_size": offset}))
        os.replace(plan_path.with_suffix(private), plan_path)
        return plan

    def _prune(self) -> None:
        """Keep the spool bounded: drop the least recently written streams.

        Another worker or thread may delete files meanwhile; a reader that
        already opened one keeps reading it, and one that finds it gone
        renders it again.
        """
        if self._dir is None:
            return
        for old in prune_least_recent(self._dir.glob("*.ndjson"), max_files=SPOOL_FILES):
            old.with_suffix(".plan.json").unlink(missing_ok=True)
        remove_orphans(self._dir)


def prune_least_recent(paths: Iterable[Path], *, max_files: int | None = None, max_bytes: int | None = None,
                       adding_bytes: int = 0) -> list[Path]:
    """Delete the least recently used of ``paths`` (oldest mtime first) until at most ``max_files``
    remain and their bytes, plus ``adding_bytes`` about to be written, fit in ``max_bytes``; the
    deleted paths.  A file another worker deleted meanwhile counts as empty and old."""

    def used(path: Path) -> tuple[float, int]:
        try:
            st = path.stat()
        except OSError:
            return 0.0, 0
        return st.st_mtime, st.st_size

    kept, kept_bytes, deleted = 0, adding_bytes, []
    for (_mtime, size), path in sorted(((used(p), p) for p in paths), reverse=True):  # newest first
        fits = (max_files is None or kept < max_files) and (max_bytes is None or kept_bytes + size <= max_bytes)
        if fits and len(deleted) == 0:  # once one is dropped, every older one goes too
            kept, kept_bytes = kept + 1, kept_bytes + size
        else:
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted


def remove_orphans(directory: Path) -> None:
    """Delete the partial files (``<name>.<pid>.<thread>.tmp``) in ``directory`` whose writer was
    killed mid-write.  (Render parts, ``.part-<uuid>.tmp``, are their reader's to delete.)"""
    for partial in directory.glob("*.tmp"):
        pid = small_number(partial.name.split(".")[-3])
        if pid is not None and not pid_alive(pid):
            partial.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs: files named after a dead writer's pid are litter."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def append_file(out, path: str) -> None:
    """Append the file at ``path`` to ``out`` (in the kernel where it can), then delete it."""
    out.flush()
    with open(path, "rb") as part:
        size = os.fstat(part.fileno()).st_size
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(part.fileno(), out.fileno(), size - copied)
                if n == 0:
                    break
                copied += n
        except (AttributeError, OSError):  # no copy_file_range here: copy through user space
            part.seek(copied)
            out.seek(0, os.SEEK_END)
            shutil.copyfileobj(part, out, 4 * 1024 * 1024)
            copied = size
        if copied < size:
            raise OSError(f"rendered part {path} shrank while it was copied")
    out.seek(0, os.SEEK_END)  # the buffered writer goes on after the copied bytes
    os.unlink(path)
