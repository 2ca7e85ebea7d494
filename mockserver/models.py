"""Server state: the world served, export tasks, legacy exports, file plans.

Pure Python, no Flask: the HTTP layer (``mockserver.responses``) and the
pytest plugin drive the same :class:`MockBackend`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from lbmock.export import ExportFilters, LegacyWindow, legacy_array_chunks, v2_lines
from lbmock.ids import base36, row_index_of
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.world import DataRow, Feature, Label, World
from mockserver.faults import FaultBook
from mockserver.journal import Journal
from mockserver.signing import UrlSigner

RESULT, ERRORS = "RESULT", "ERRORS"
DEFAULT_FILE_BYTES = 256 * 1024  # target size of one export file: big exports span several


class NotFound(Exception):
    """An id the client named does not exist (the API's RESOURCE_NOT_FOUND)."""


class BadInput(Exception):
    """A request that is well-formed GraphQL/HTTP but asks for something invalid."""


@dataclass(frozen=True)
class ExportFile:
    """One downloadable file of a stream: inclusive line and byte ranges."""

    index: int
    lines: tuple[int, int]
    offsets: tuple[int, int]
    first_row: int  # world index where this file's rows start
    row_count: int  # selected rows in this file


@dataclass
class StreamPlan:
    """How one stream of a task is cut into files (rows are re-rendered on download)."""

    files: list[ExportFile]
    total_lines: int
    total_size: int

    def file_at_offset(self, offset: int) -> ExportFile:
        for f in self.files:
            if f.offsets[0] <= offset <= f.offsets[1]:
                return f
        raise BadInput(f"offset {offset} is out of range: the stream holds {self.total_size} bytes")

    def file_at_line(self, line: int) -> ExportFile:
        for f in self.files:
            if f.lines[0] <= line <= f.lines[1]:
                return f
        raise BadInput(f"line {line} is out of range: the stream holds {self.total_lines} lines")


@dataclass
class ExportTask:
    id: str
    owner_key: str  # hash of the API key that created it: tasks are per client
    name: str | None
    params: ExportParams
    filters: ExportFilters
    urls: Urls
    created_at: int
    ready_at: float  # monotonic time when the task turns COMPLETE
    streamable: bool
    failed: bool = False  # fault export-fails
    error_every: int | None = None  # fault export-errors: rows with index % n == n - 1 fail
    slow_refreshes: int = 0  # fault slow-task: refreshes answered IN_PROGRESS
    refreshes: int = 0
    _plans: dict[str, StreamPlan] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fails_row(self, row: DataRow) -> bool:
        if self.failed:  # a failed task reports every selected row in its errors
            return True
        return self.error_every is not None and row.index % self.error_every == self.error_every - 1


@dataclass
class LegacyExport:
    id: str
    owner_key: str
    window: LegacyWindow
    urls: Urls
    polls: int = 0


def key_owner(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class MockBackend:
    """Everything the mock serves, for one world."""

    def __init__(self, world: World, *, api_key: str | None = None, task_delay: float = 0.0,
                 legacy_polls: int = 1, file_bytes: int = DEFAULT_FILE_BYTES,
                 signer: UrlSigner | None = None, user_timezone: str = "UTC") -> None:
        self.world = world
        self.origin_world = world  # what /_mock/reset returns to
        self.faults = FaultBook()
        self.journal = Journal()
        self.api_key = api_key
        self.task_delay = task_delay
        self.legacy_polls = legacy_polls
        self.file_bytes = file_bytes
        self.signer = signer or UrlSigner.random()
        self.user_timezone = user_timezone
        self.tasks: dict[str, ExportTask] = {}
        self.legacy: dict[str, LegacyExport] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ mock control

    def reset(self) -> None:
        """Back to the world the mock started with: no tasks, faults or journal."""
        self.load_world(self.origin_world)
        self.faults.clear()
        self.journal.clear()

    def load_world(self, world: World) -> None:
        with self._lock:
            self.world = world
            self.tasks.clear()
            self.legacy.clear()

    # ------------------------------------------------------------ auth

    def accepts_key(self, api_key: str | None) -> bool:
        if not api_key or self.faults.take("auth-revoked"):
            return False
        return self.api_key is None or hmac.compare_digest(api_key.encode(), self.api_key.encode())

    # ------------------------------------------------------------ lookups

    def row_for_id(self, entity_id: str) -> DataRow:
        index = row_index_of(entity_id)
        if index is None or index >= len(self.world):
            raise NotFound(entity_id)
        return self.world.row(index)

    def label(self, label_id: str) -> tuple[DataRow, Label]:
        row = self.row_for_id(label_id)
        label = row.label(label_id)
        if label is None:
            raise NotFound(label_id)
        return row, label

    def mask_feature(self, feature_id: str) -> tuple[DataRow, Feature]:
        row = self.row_for_id(feature_id)
        for label in row.labels:
            feature = label.feature(feature_id)
            if feature is not None:
                if feature.tool.kind != "mask":
                    raise NotFound(feature_id)
                return row, feature
        raise NotFound(feature_id)

    # ------------------------------------------------------------ export v2 tasks

    def create_export(self, api_key: str, params: ExportParams, filters: ExportFilters, urls: Urls,
                      name: str | None, streamable: bool, now_ms: int) -> ExportTask:
        task = ExportTask(
            id=_new_id(), owner_key=key_owner(api_key), name=name, params=params, filters=filters, urls=urls,
            created_at=now_ms, ready_at=time.monotonic() + self.task_delay, streamable=streamable)
        if self.faults.take("export-fails"):
            task.failed = True
        if (fault := self.faults.take("export-errors")) is not None:
            task.error_every = fault.arg or 3
        if (fault := self.faults.take("slow-task")) is not None:
            task.slow_refreshes = fault.arg or 3
        with self._lock:
            self.tasks[task.id] = task
        return task

    def task(self, api_key: str, task_id: str) -> ExportTask:
        task = self.tasks.get(task_id)
        if task is None or task.owner_key != key_owner(api_key):
            raise NotFound(task_id)
        return task

    def tasks_of(self, api_key: str) -> list[ExportTask]:
        owner = key_owner(api_key)
        return [t for t in self.tasks.values() if t.owner_key == owner]

    def note_refresh(self, task: ExportTask) -> None:
        """A client re-read the task (the SDK's poll): slow tasks advance per refresh."""
        with task._lock:
            task.refreshes += 1

    def task_progress(self, task: ExportTask) -> tuple[str, float]:
        """(status, completion percentage)."""
        if task.refreshes < task.slow_refreshes:
            return "IN_PROGRESS", round(100.0 * task.refreshes / task.slow_refreshes, 1)
        remaining = task.ready_at - time.monotonic()
        if remaining > 0 and self.task_delay > 0:
            done = 1.0 - remaining / self.task_delay
            return "IN_PROGRESS", round(max(0.0, min(done, 0.99)) * 100, 1)
        if task.failed:
            return "FAILED", 100.0
        return "COMPLETE", 100.0

    def stream_lines(self, task: ExportTask, stream: str, start_row: int = 0) -> Iterator[tuple[DataRow, bytes]]:
        """(row, NDJSON line) of a stream, from world row ``start_row`` on.

        RESULT holds the rendered rows; ERRORS one line per failed row (fault
        export-errors), and those rows are missing from RESULT.
        """
        world = self.world
        rows = (world.row(i) for i in range(start_row, len(world)))
        for row in rows:
            if not task.filters.matches(row):
                continue
            failed = task.fails_row(row)
            if stream == RESULT and not failed:
                yield row, next(v2_lines(world, (row,), task.params, task.urls))
            elif stream == ERRORS and failed:
                yield row, orjson.dumps({
                    "data_row": {"id": row.id, "global_key": row.global_key},
                    "errors": [{"code": "EXPORT_ROW_FAILED",
                                "message": f"Failed to export data row {row.id}: injected by lbmock"}],
                }) + b"\n"

    def plan(self, task: ExportTask, stream: str) -> StreamPlan | None:
        """The file plan of a stream; ``None`` for an empty stream (the API's null header)."""
        with task._lock:
            if stream not in task._plans:
                task._plans[stream] = self._plan_stream(task, stream)
        plan = task._plans[stream]
        return plan if plan.total_lines else None

    def _plan_stream(self, task: ExportTask, stream: str) -> StreamPlan:
        # Cut on line boundaries once a file reaches file_bytes; only the
        # boundaries are kept, rows are re-rendered when a file is downloaded.
        files: list[ExportFile] = []
        line = offset = start_line = start_offset = count = 0
        first_row = -1
        for row, data in self.stream_lines(task, stream):
            if count == 0:
                first_row, start_line, start_offset = row.index, line, offset
            line += 1
            offset += len(data)
            count += 1
            if offset - start_offset >= self.file_bytes:
                files.append(ExportFile(len(files), (start_line, line - 1), (start_offset, offset - 1),
                                        first_row, count))
                count = 0
        if count:
            files.append(ExportFile(len(files), (start_line, line - 1), (start_offset, offset - 1),
                                    first_row, count))
        return StreamPlan(files, line, offset)

    def file_bytes_of(self, task: ExportTask, stream: str, export_file: ExportFile) -> Iterator[bytes]:
        """The bytes of one export file, re-rendered from the world."""
        lines = self.stream_lines(task, stream, export_file.first_row)
        for emitted, (_row, data) in enumerate(lines, start=1):
            yield data
            if emitted == export_file.row_count:
                return

    def whole_stream(self, task: ExportTask, stream: str = RESULT) -> Iterator[bytes]:
        """A whole stream (3.40.1's ``result``/``errors`` URLs, ``/export-results``)."""
        return (data for _row, data in self.stream_lines(task, stream))

    # ------------------------------------------------------------ legacy export_labels

    def legacy_export(self, api_key: str, window: LegacyWindow, urls: Urls) -> LegacyExport:
        """The legacy export for this client and window; each call counts as one poll."""
        owner = key_owner(api_key)
        key = f"{owner}:{window!r}:{urls.api_base}"
        with self._lock:
            export = self.legacy.get(key)
            if export is None:
                export = LegacyExport(_new_id(), owner, window, urls)
                self.legacy[key] = export
                self.legacy[export.id] = export
            export.polls += 1
        return export

    def legacy_ready(self, export: LegacyExport) -> bool:
        if self.faults.take("legacy-never-ready"):
            return False
        return export.polls > self.legacy_polls

    def legacy_by_id(self, export_id: str) -> LegacyExport:
        export = self.legacy.get(export_id)
        if export is None or export.id != export_id:
            raise NotFound(export_id)
        return export

    def legacy_bytes(self, export: LegacyExport) -> Iterator[bytes]:
        return legacy_array_chunks(self.world.project, self.world, export.window, export.urls)


def _new_id() -> str:
    """Task ids: Labelbox-shaped, random (tasks are not part of the seeded world)."""
    return "c" + base36(uuid.uuid4().int % 36**24, 24)
