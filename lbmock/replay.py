"""Replay: export v2 rows someone already has (a recording, a capture) served as they are.

``--replay FILE.ndjson`` takes rows as the SDK's stream yields them, one JSON object a line.  The
files are read once to index them: each row's byte offset, the ids it holds (data row, labels,
features), its dataset and its projects, and what the world needs from all rows together
(projects, datasets, batches, the tools of each project's ontology).  Rows are read again, one at a
time, when an export, a mask or a lookup needs them: an export of a replayed world is streamed from
the file, never held whole in memory.

Each row becomes a :class:`~lbmock.world.DataRow` (ids, dataset, a membership per project with its
workflow status, batch and labels, each label's features with their key frames; masks as
:class:`~lbmock.world.RecordedMask`) for selection and lookups, and keeps the recorded JSON in
``recorded``: exports serve that JSON itself (:func:`lbmock.render.v2.render_recorded_v2_row`).

Assets (mask PNGs, DICOM files) live beside the file, in the layout ``lbmock capture --sample`` and
``--lb-record`` write: ``<folder of FILE>/assets/masks/<feature id>/<frame>.png`` and
``<folder of FILE>/assets/row_data/<data row id>.dcm``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from lbmock.ontology import derived_id, parse_ontology
from lbmock.render.common import parse_iso
from lbmock.world import (
    SERIES_NOT_DRAWN,
    Batch,
    CachedRows,
    DataRow,
    Dataset,
    Feature,
    Keyframe,
    Label,
    Ontology,
    Person,
    Polyline,
    Project,
    ProjectRow,
    RecordedMask,
    RecordedRow,
    Tool,
    Volume,
    WorkflowStatus,
    World,
)
from lbmock.world_spec import SpecError

ASSETS = "assets"
DEFAULT_DATASET_NAME = "Replayed rows"  # rows recorded without data_row_details


class ReplayError(SpecError):
    """A replay file that cannot be served: the message names the file and the line."""


def assets_dir(replay_file: str | os.PathLike) -> Path:
    """Where a replay file's assets are: ``<folder of FILE>/assets``."""
    return Path(replay_file).parent / ASSETS


def mask_asset(assets: str | os.PathLike, feature_id: str, frame: int) -> Path:
    """A mask PNG of a replay: ``<assets>/masks/<feature id>/<frame>.png``."""
    return Path(assets, "masks", feature_id, f"{frame}.png")


def row_data_asset(assets: str | os.PathLike, data_row_id: str) -> Path:
    """A data row's DICOM file of a replay: ``<assets>/row_data/<data row id>.dcm``."""
    return Path(assets, "row_data", f"{data_row_id}.dcm")


@dataclass(frozen=True)
class ReplayFile:
    """One replay file: its absolute path, and its content's digest (it names the world: export
    templates are keyed by it, so a changed file is never served from a stale template)."""

    path: str
    digest: str
    size: int

    @property
    def assets(self) -> str:
        return str(assets_dir(self.path))


# project_details.workflow_status spells statuses in upper snake case
_STATUS = {s.name: s for s in WorkflowStatus}


def _ms(value: Any, where: str) -> int | None:
    """Epoch ms of an export timestamp (``2024-02-16T17:49:08.951+00:00``, ``...Z``, a bare date)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: not a timestamp: {value!r}")
    try:
        return int(parse_iso(value).timestamp() * 1000)
    except ValueError:
        raise ValueError(f"{where}: not a timestamp: {value!r}") from None


def _check_time(value: Any, where: Callable[[], str]) -> None:
    """Raise :func:`_ms`'s ValueError if ``value`` is not a timestamp it reads (``where``: made only
    then); a third of the work of reading it."""
    if value is None:
        return
    if isinstance(value, str):
        try:
            parse_iso(value)
            return
        except ValueError:
            pass
    _ms(value, where())


def _read_row(index: ReplayIndex, row: Any, ids: list[str]) -> None:
    """Raise ValueError saying why ``row`` is not an export v2 row; else note what the world learns
    from it (its projects' names, ontologies, batches and tools) and put the ids of its labels and
    their features in ``ids``.  One walk checks the frames and notes their objects; what can fail
    in the noting (a priority, a timestamp) is looked at after every check, so the error a row
    gets is the first check it fails, then the first value it cannot read."""
    if not isinstance(row, dict):
        raise ValueError(f"not a JSON object but {type(row).__name__}")
    data_row = row.get("data_row")
    if not isinstance(data_row, dict) or not isinstance(data_row.get("id"), str) or not data_row["id"]:
        raise ValueError('no "data_row" object with an "id"')
    details = data_row.get("details")
    if details is not None and not isinstance(details, dict):
        raise ValueError("data_row.details is not an object")
    projects = row.get("projects", {})
    if not isinstance(projects, dict):
        raise ValueError('"projects" is not an object')
    for pid, project in projects.items():
        if not isinstance(project, dict):
            raise ValueError(f"projects.{pid} is not an object")
        details = project.get("project_details")
        if details is not None and not isinstance(details, dict):
            raise ValueError(f"projects.{pid}.project_details is not an object")
        status = (details or {}).get("workflow_status")
        if status is not None and status not in _STATUS:
            raise ValueError(f"projects.{pid}.project_details.workflow_status: {status!r} is none of "
                             f"{', '.join(_STATUS)}")
        labels = project.get("labels", [])
        if not isinstance(labels, list):
            raise ValueError(f"projects.{pid}.labels is not a list")
        seen = index.projects.get(pid)
        if seen is None:
            seen = index.projects[pid] = _SeenProject(str(project.get("name") or project.get("project_name") or pid))
        tools = seen.tools
        for i, label in enumerate(labels):
            if not isinstance(label, dict) or not isinstance(label.get("id"), str):
                raise ValueError(f"projects.{pid}.labels[{i}] is not a label with an id")
            annotations = label.get("annotations", {})
            if not isinstance(annotations, dict):
                raise ValueError(f"projects.{pid}.labels[{i}].annotations is not an object")
            ids.append(label["id"])
            ids.extend(annotations.get("key_frame_feature_map") or {})
            for plane, group in (annotations.get("groups") or {}).items():
                frames = group.get("frames") if isinstance(group, dict) else None
                if not isinstance(frames, dict):
                    raise ValueError(f"projects.{pid}.labels[{i}].annotations.groups.{plane} has no frames object")
                for number, slot in frames.items():
                    if not number.isdigit() or not isinstance(slot, dict) or not isinstance(
                            slot.get("objects", {}), dict):
                        raise ValueError(f"projects.{pid}.labels[{i}].annotations.groups.{plane}.frames.{number}: "
                                         "not a frame")
                    objects = slot.get("objects") or {}
                    ids.extend(objects)
                    for obj in objects.values():
                        if not isinstance(obj, dict):
                            continue
                        known = obj.get("feature_schema_id")
                        if known and known in tools:  # (the tool _tool would give is known)
                            continue
                        tool = _tool(obj)
                        if tool is not None and tool.schema_id not in tools:
                            tools[tool.schema_id] = tool
    for pid, project in projects.items():
        details = project.get("project_details") or {}
        seen = index.projects[pid]
        seen.ontology_id = seen.ontology_id or details.get("ontology_id")
        if isinstance(details.get("consensus_expected_label_count"), int):
            seen.consensus = details["consensus_expected_label_count"]
        if details.get("batch_id") and details["batch_id"] not in seen.batches:
            seen.batches[details["batch_id"]] = Batch(details["batch_id"], str(details.get("batch_name") or ""),
                                                      int(details.get("priority") or 0))
        # timestamps are checked now: a bad one is an error with its line, not a failed export
        for label in project.get("labels", []):
            _check_time((label.get("label_details") or {}).get("created_at"),
                        lambda label=label: f"{label['id']}.label_details.created_at")
    details = data_row.get("details") or {}
    for key in ("created_at", "updated_at", "last_activity_at"):
        _check_time(details.get(key), lambda key=key: f"data_row.details.{key}")


SCAN_BYTES = 4 << 20  # the scan reads a file this much at a time
_SPACE = frozenset(b" \t\n\r\x0b\x0c")  # what bytes.isspace() counts as space


def _lines(path: str) -> Iterator[tuple[int, int, bytes | memoryview]]:
    """(line number, byte offset, line) of each non-blank line: views into blocks read
    :data:`SCAN_BYTES` at a time (reading line by line costs twice the parsing's read)."""
    with open(path, "rb") as fh:
        number = base = 0  # lines before the block; the block's offset in the file
        rest = b""  # the start of a line the last block cut
        while block := fh.read(SCAN_BYTES):
            data = rest + block if rest else block
            view, start = memoryview(data), 0
            while (end := data.find(b"\n", start)) >= 0:
                number += 1
                if data[start] not in _SPACE or not data[start:end + 1].isspace():
                    yield number, base + start, view[start:end + 1]
                start = end + 1
            base, rest = base + start, data[start:]
        if rest and not rest.isspace():  # a last line without its newline
            yield number + 1, base, rest


def _label_ids(row: dict) -> Iterator[str]:
    for project in row.get("projects", {}).values():
        for label in project.get("labels", []):
            yield label["id"]
            annotations = label.get("annotations") or {}
            yield from annotations.get("key_frame_feature_map") or {}
            for group in (annotations.get("groups") or {}).values():
                for slot in group["frames"].values():
                    yield from slot.get("objects") or {}


@dataclass
class _SeenProject:
    name: str
    ontology_id: str | None = None
    consensus: int = 1
    tools: dict[str, Tool] = field(default_factory=dict)  # by schema id
    batches: dict[str, Batch] = field(default_factory=dict)


def _tool(obj: dict) -> Tool | None:
    """The tool an exported object was drawn with (its schema id derived from its name when the
    export leaves it out, as the reference page's sample does)."""
    kind = "mask" if isinstance(obj.get("mask"), dict) else "polyline" if isinstance(obj.get("line"), list) else None
    if kind is None:
        return None
    name = str(obj.get("name") or obj.get("value") or "unnamed")
    return _tool_of(obj.get("feature_schema_id"), name, str(obj.get("value") or name), kind)


@functools.lru_cache(maxsize=1024)  # a file's objects use a few tools over and over
def _tool_of(schema_id: str | None, name: str, value: str, kind: str) -> Tool:
    schema_id = schema_id or derived_id("replayed tool", name)
    color = "#" + hashlib.blake2b(schema_id.encode(), digest_size=3).hexdigest().upper()
    return Tool(schema_id, name, value, color, kind)


class RowIds:
    """Every id the replayed rows hold (data rows, labels, features) -> the row that holds it.

    A dict of 300,000 ids takes ~40 MB; this keeps each id's 64-bit ``hash()`` beside its row,
    sorted (12 bytes an id), and a lookup reads the candidate rows to confirm (two ids sharing a
    hash, or an id no row holds, are told apart).  A data row's own id names its row; an id that
    only labels or features hold names the first row holding it.  ``hash()`` is this process's
    (and its forks'): the ids never leave it (see :meth:`ReplayIndex.__getstate__`)."""

    def __init__(self, hashes: array, rows: array) -> None:
        keys = np.frombuffer(hashes, dtype=np.int64)
        order = np.argsort(keys, kind="stable")  # stable: a hash's rows stay in file order
        keys, owners = keys[order], np.frombuffer(rows, dtype=np.int32)[order]
        kept = np.ones(len(keys), dtype=bool)  # once per row (a feature is in each of its frames)
        kept[1:] = (keys[1:] != keys[:-1]) | (owners[1:] != owners[:-1])
        self.keys, self.rows = keys[kept], owners[kept]

    def __len__(self) -> int:
        return len(self.keys)

    def candidates(self, entity_id: str) -> list[int]:
        key = hash(entity_id)
        lo, hi = np.searchsorted(self.keys, key, "left"), np.searchsorted(self.keys, key, "right")
        return self.rows[lo:hi].tolist()


@dataclass
class ReplayIndex:
    """Where each replayed row is, and what the world needs from all of them (see the module)."""

    files: tuple[ReplayFile, ...]
    offsets: array = field(default_factory=lambda: array("q"))
    lengths: array = field(default_factory=lambda: array("q"))
    file_of: array = field(default_factory=lambda: array("H"))
    dataset_of: array = field(default_factory=lambda: array("H"))  # index into ``datasets``
    datasets: dict[str, str] = field(default_factory=dict)  # id -> name, in order of appearance
    members: dict[str, bytearray] = field(default_factory=dict)  # project id -> one byte a row
    projects: dict[str, _SeenProject] = field(default_factory=dict)  # in order of appearance
    ids: RowIds | None = None  # rebuilt after unpickling, when a lookup needs it

    def __post_init__(self) -> None:
        self._fds: dict[int, int] = {}
        self._fds_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.offsets)

    def __getstate__(self) -> dict:
        # helper processes and template keys do without the ids (a key has the files' digests; the
        # hashes are this process's); a process that needs them reads the files again
        return {k: v for k, v in self.__dict__.items() if k not in ("ids", "_fds", "_fds_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, ids=None)
        self.__post_init__()

    def __del__(self) -> None:
        for fd in getattr(self, "_fds", {}).values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def _fd(self, k: int) -> int:
        fd = self._fds.get(k)
        if fd is None:
            replay_file = self.files[k]
            fd = os.open(replay_file.path, os.O_RDONLY)
            if os.fstat(fd).st_size != replay_file.size:  # never read rows at offsets of another content
                os.close(fd)
                raise ReplayError(f"{replay_file.path}: the file changed since it was read; serve it again")
            with self._fds_lock:
                kept = self._fds.setdefault(k, fd)
            if kept != fd:  # another thread opened it first
                os.close(fd)
            fd = kept
        return fd

    def line(self, index: int) -> bytes:
        """Row ``index``'s line as recorded (os.pread: threads share one descriptor per file)."""
        return os.pread(self._fd(self.file_of[index]), self.lengths[index], self.offsets[index])

    def lines(self, indices: Iterable[int]) -> Iterator[tuple[int, memoryview]]:
        """(index, line) of each of ``indices`` (ascending), neighbours read together: an export's
        pass reads its rows a block at a time, not with a system call each."""
        block, start, k, base = memoryview(b""), 0, -1, 0
        for index in indices:
            offset, length = self.offsets[index], self.lengths[index]
            if self.file_of[index] != k or not base <= offset or offset + length > base + len(block):
                k, base, stop = self.file_of[index], offset, index
                while stop < len(self) and self.file_of[stop] == k and stop - index < READ_ROWS:
                    stop += 1
                end = self.offsets[stop - 1] + self.lengths[stop - 1]
                block = memoryview(os.pread(self._fd(k), end - offset, offset))
            start = offset - base
            yield index, block[start:start + length]

    def index_of(self, entity_id: str) -> int | None:
        if self.ids is None:
            self.ids = _scan_files(self.files).ids
        assert self.ids is not None
        found = None
        for index in self.ids.candidates(entity_id):
            row = orjson.loads(self.line(index))
            if row["data_row"]["id"] == entity_id:
                return index
            if found is None and entity_id in _label_ids(row):
                found = index
        return found


READ_ROWS = 256  # rows read together by ReplayIndex.lines


def scan_replay_files(paths: Sequence[str | os.PathLike]) -> ReplayIndex:
    """The index of the replay files (:class:`ReplayError` naming the file and line of the first
    line that is not an export v2 row)."""
    return _scan_files(read_replay_files(paths))


def _scan_files(files: tuple[ReplayFile, ...]) -> ReplayIndex:
    index = ReplayIndex(files)
    hashes, owners = array("q"), array("i")  # each id's hash and row (RowIds)
    default_dataset = derived_id("dataset", "replay", DEFAULT_DATASET_NAME)
    dataset_ids: dict[str, int] = {}
    numbers, data_rows = array("q"), array("q")  # each row's line number, and its data row id's hash
    for k, path in enumerate(f.path for f in files):
        for number, offset, line in _lines(path):
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise _first_error(index, numbers, data_rows, ReplayError(
                    f"{_where(path, number)}: not an export v2 row: not JSON ({exc})")) from None
            ids: list[str] = []
            try:
                _read_row(index, row, ids)
            except ValueError as exc:
                raise _first_error(index, numbers, data_rows, ReplayError(
                    f"{_where(path, number)}: not an export v2 row: {exc}")) from None
            row_index = len(index.offsets)
            data_row = row["data_row"]
            numbers.append(number)
            data_rows.append(hash(data_row["id"]))
            ids.append(data_row["id"])
            hashes.extend(map(hash, ids))
            owners.extend(repeat(row_index, len(ids)))
            details = data_row.get("details") or {}
            dataset_id = details.get("dataset_id") or default_dataset
            if dataset_id not in dataset_ids:
                dataset_ids[dataset_id] = len(dataset_ids)
                index.datasets[dataset_id] = str(details.get("dataset_name") or (
                    DEFAULT_DATASET_NAME if dataset_id == default_dataset else dataset_id))
            index.offsets.append(offset)
            index.lengths.append(len(line))
            index.file_of.append(k)
            index.dataset_of.append(dataset_ids[dataset_id])
            for pid in row.get("projects", {}):
                members = index.members.setdefault(pid, bytearray())
                members.extend(bytes(row_index + 1 - len(members)))  # 0 for the rows before, 1 for this one
                members[row_index] = 1
    for members in index.members.values():  # one byte a row each
        members.extend(bytes(len(index.offsets) - len(members)))
    twice = _replayed_twice(index, numbers, data_rows)
    if twice is not None:
        raise twice
    if not index.datasets:  # a world has a dataset, even with no rows
        index.datasets[default_dataset] = DEFAULT_DATASET_NAME
    index.ids = RowIds(hashes, owners)
    return index


def _first_error(index: ReplayIndex, numbers: array, data_rows: array, error: ReplayError) -> ReplayError:
    """``error`` (of the line after the rows indexed), or a row before it replaying a data row again."""
    return _replayed_twice(index, numbers, data_rows) or error


def _replayed_twice(index: ReplayIndex, numbers: array, data_rows: array) -> ReplayError | None:
    """The error of the first row (in file order) whose data row an earlier row holds, or None.
    Found through the data row ids' hashes (a dict of 100,000 ids would be ~15 MB more at the
    scan's peak), the rows sharing one read to tell the same id from a shared hash."""
    keys = np.frombuffer(data_rows, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    shared = np.nonzero(ordered[1:] == ordered[:-1])[0]
    if not len(shared):
        return None
    by_hash: dict[int, list[int]] = {}
    for row in order[np.union1d(shared, shared + 1)].tolist():
        by_hash.setdefault(int(keys[row]), []).append(row)
    for later in sorted(order[shared + 1].tolist()):  # the earliest candidate first
        row_id = orjson.loads(index.line(later))["data_row"]["id"]
        for first in by_hash[int(keys[later])]:  # (ascending: the sort is stable)
            if first >= later:
                break
            if orjson.loads(index.line(first))["data_row"]["id"] == row_id:
                where = _where(index.files[index.file_of[later]].path, numbers[later])
                first_where = _where(index.files[index.file_of[first]].path, numbers[first])
                return ReplayError(f"{where}: data row {row_id} is replayed twice (first: {first_where})")
    return None


def _where(path: str, number: int) -> str:
    return f"{path}: line {number}"


def read_replay_files(paths: Sequence[str | os.PathLike]) -> tuple[ReplayFile, ...]:
    """Each file with its digest (read once, streamed)."""
    out = []
    for path in paths:
        absolute = os.path.abspath(path)
        digest = hashlib.sha256()
        try:
            with open(absolute, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError as exc:
            raise ReplayError(f"{path}: cannot read the replay file: {exc.strerror}") from None
        out.append(ReplayFile(absolute, digest.hexdigest(), os.path.getsize(absolute)))
    return tuple(out)


class ReplayRows(CachedRows):
    """The replayed rows as a world's row source: read from the files on demand (a small LRU)."""

    def __init__(self, index: ReplayIndex, projects: tuple[Project, ...], datasets: tuple[Dataset, ...],
                 first_project: str, cache_size: int = 256) -> None:
        self.index = index
        self.projects = {p.id: p for p in projects}
        self.datasets = datasets
        self.first_project = first_project
        self._init_cache(cache_size)
        self._setup()

    def _setup(self) -> None:
        self._tools = {pid: {**{t.name: t for t in p.ontology.tools}, **{t.schema_id: t for t in p.ontology.tools}}
                       for pid, p in self.projects.items()}
        self._assets = tuple(f.assets for f in self.index.files)  # (a Path each row costs 3 µs)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_cache", "_lock", "_tools", "_assets")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_cache()
        self._setup()

    def __len__(self) -> int:
        return len(self.index)

    def _make(self, index: int) -> DataRow:
        return self.draw(index)

    def text(self, index: int) -> bytes:
        """Row ``index``'s line as recorded."""
        return self.index.line(index)

    def draw(self, index: int) -> DataRow:
        """Row ``index`` read afresh, not cached (an export's pass)."""
        index = self._position(index)
        line = self.text(index)
        row = orjson.loads(line)
        return self._data_row(index, row, line.strip().decode())

    def _data_row(self, index: int, row: dict, text: str) -> DataRow:
        data_row = row["data_row"]
        details = data_row.get("details") or {}
        assets = self._assets[self.index.file_of[index]]
        memberships = []
        for pid, project in row.get("projects", {}).items():
            project_details = project.get("project_details") or {}
            labels = tuple(self._label(pid, label, assets) for label in project.get("labels", []))
            status = project_details.get("workflow_status")
            # a row recorded without project_details: done if labelled (the status is not in the row)
            status = _STATUS[status] if status else WorkflowStatus.DONE if labels else WorkflowStatus.TO_LABEL
            batch_id = project_details.get("batch_id") or ""
            batch = self.projects[pid].batches[0] if not batch_id and self.projects[pid].batches else Batch(
                batch_id, str(project_details.get("batch_name") or ""), int(project_details.get("priority") or 0))
            memberships.append(ProjectRow(pid, batch, status, (), labels, int(project_details.get("priority") or 0)))
        memberships.sort(key=lambda m: m.project_id != self.first_project)  # the world's project first
        created = _ms(details.get("created_at"), "created_at") or 0
        # last_activity_at is the row's own when recorded: the row's updated_at carries it (labels
        # are placed at their creation, no later), so DataRow.last_activity_at gives it back
        updated = _ms(details.get("last_activity_at"), "") or _ms(details.get("updated_at"), "") or created
        email = str(details.get("created_by") or "")
        return DataRow(
            index=index, id=data_row["id"], global_key=data_row.get("global_key"),
            external_id=data_row.get("external_id"), dataset=self.datasets[self.index.dataset_of[index]],
            created_at=created, updated_at=updated, created_by=Person("", email.split("@")[0], email),
            volume=Volume(0, 0, 0), metadata=(), attachments=(), memberships=tuple(memberships),
            embedding_seed=0, series=SERIES_NOT_DRAWN, recorded=RecordedRow(text, assets))

    def _label(self, project_id: str, label: dict, assets: str) -> Label:
        details = label.get("label_details") or {}
        performance = label.get("performance_details") or {}
        created = _ms(details.get("created_at"), "") or 0
        email = str(details.get("created_by") or "")
        return Label(
            id=label["id"], created_by=Person("", email.split("@")[0], email), created_at=created,
            updated_at=created, seconds_to_create=float(performance.get("seconds_to_create") or 0),
            seconds_to_review=float(performance.get("seconds_to_review") or 0),
            skipped=bool(performance.get("skipped")), reviews=(),
            features=self._features(project_id, label.get("annotations") or {}), classifications=(),
            frame_classifications=(), consensus_score=performance.get("consensus_score"),
            benchmark_score=performance.get("benchmark_score"),
            benchmark_reference_label=performance.get("benchmark_reference_label"))

    def _features(self, project_id: str, annotations: dict) -> tuple[Feature, ...]:
        key_map = annotations.get("key_frame_feature_map") or {}
        found: dict[str, tuple[Tool, str, list[Keyframe]]] = {}
        tools = self._tools.get(project_id, {})
        for plane, group in (annotations.get("groups") or {}).items():
            for number, slot in group["frames"].items():
                for feature_id, obj in (slot.get("objects") or {}).items():
                    if not isinstance(obj, dict):
                        continue
                    keys = (key_map.get(feature_id) or {}).get(plane) if feature_id in key_map else None
                    if keys is not None and number not in keys:
                        continue  # an interpolated frame
                    if "mask" in obj and isinstance(obj["mask"], dict):
                        geometry: Any = RecordedMask(str(obj["mask"].get("url") or ""))
                    elif isinstance(obj.get("line"), list):
                        geometry = Polyline(tuple((float(p["x"]), float(p["y"])) for p in obj["line"]))
                    else:
                        continue
                    if feature_id not in found:
                        drawn = _tool(obj)
                        assert drawn is not None
                        tool = tools.get(drawn.schema_id) or tools.get(drawn.name) or drawn
                        found[feature_id] = (tool, plane, [])
                    found[feature_id][2].append(Keyframe(int(number), geometry))
        segments = annotations.get("segments") or {}
        return tuple(Feature(fid, tool, plane, _segments(tool, keyframes, (segments.get(plane) or {}).get(fid)))
                     for fid, (tool, plane, keyframes) in found.items())


def _segments(tool: Tool, keyframes: list[Keyframe], ranges: Any) -> tuple[tuple[Keyframe, ...], ...]:
    keyframes = sorted(keyframes, key=lambda kf: kf.frame)
    if isinstance(ranges, list) and ranges:
        out: list[list[Keyframe]] = []
        for kf in keyframes:
            inside = next((i for i, r in enumerate(ranges) if isinstance(r, list) and len(r) == 2
                           and r[0] <= kf.frame <= r[1]), None)
            if out and inside is not None and inside == getattr(out[-1], "range", None):
                out[-1].append(kf)
            else:
                run = _Run([kf])
                run.range = inside
                out.append(run)
        return tuple(tuple(run) for run in out)
    if tool.kind == "mask":  # lbmock's masks: one key frame a segment
        return tuple((kf,) for kf in keyframes)
    return (tuple(keyframes),)


class _Run(list):
    range: int | None = None


@dataclass(frozen=True)
class ReplayWorld(World):
    """A world of replayed rows: rows, datasets and projects are the files' (see the module)."""

    replay: ReplayIndex | None = None

    def index_of(self, entity_id: str) -> int | None:
        assert self.replay is not None
        return self.replay.index_of(entity_id)

    def dataset_at(self, index: int) -> Dataset:
        assert self.replay is not None
        return self.datasets[self.replay.dataset_of[index]]

    def in_project_at(self, project_id: str, index: int) -> bool:
        assert self.replay is not None
        members = self.replay.members.get(project_id)
        return members is not None and bool(members[index])

    def row_count(self, owner_id: str) -> int:
        assert self.replay is not None
        members = self.replay.members.get(owner_id)
        if members is not None:
            return members.count(1)
        if self.dataset_by_id(owner_id) is not None:
            k = [d.id for d in self.datasets].index(owner_id)
            return self.replay.dataset_of.count(k)
        return 0

    @property
    def files(self) -> tuple[ReplayFile, ...]:
        assert self.replay is not None
        return self.replay.files


def replay_world(paths: Sequence[str | os.PathLike], base: Project, ontology: str | None = None,
                 project_id: str | None = None, seed: int | None = None) -> ReplayWorld:
    """The world the replay files hold.  ``base`` lends what rows do not carry (organisation,
    people, workflow, embedding); each recorded project gets its id, name, ontology id, batches and
    the tools its rows use, or ``ontology`` (a normalized ontology document) when given.  The first
    project is ``project_id`` if the rows name it, else the first the rows name (else ``base``).
    Raises :class:`ReplayError` naming the file and line of a row that is not an export v2 row."""
    index = scan_replay_files(paths)
    datasets = tuple(Dataset(did, name) for did, name in index.datasets.items())
    projects = []
    for pid, seen in index.projects.items():
        ontology_id = seen.ontology_id or derived_id("replayed ontology", pid)
        if ontology is not None:
            served = parse_ontology(ontology, ontology_id, f"{seen.name} ontology")
        else:
            served = Ontology(ontology_id, f"{seen.name} ontology", tuple(seen.tools.values()), ())
        projects.append(replace(base, id=pid, name=seen.name, description=f"Replayed {seen.name}", ontology=served,
                                datasets=datasets, batches=tuple(seen.batches.values()) or base.batches,
                                consensus_expected_label_count=seen.consensus, object_classifications=False))
    if not projects:  # rows in no project (a dataset export): the base project holds none of them
        projects.append(replace(base, datasets=datasets, **({"id": project_id} if project_id else {})))
    projects.sort(key=lambda p: p.id != project_id)
    rows = ReplayRows(index, tuple(projects), datasets, projects[0].id)
    return ReplayWorld(projects[0], rows, seed=seed, projects=tuple(projects), replay=index)
