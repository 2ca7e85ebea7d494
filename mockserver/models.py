"""Server state: the world served, export tasks, legacy exports, file plans.

Pure Python, no Flask: the HTTP layer (``mockserver.handlers``) and the
pytest plugin drive the same :class:`MockBackend`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from lbmock.export import (
    ExportFilters,
    ExportScope,
    LegacyWindow,
    TimeRange,
    legacy_array_chunks,
    selected_rows,
    v2_lines,
)
from lbmock.ids import base36, row_index_of
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.world import DataRow, Feature, Label, WorkflowStatus, World
from lbmock.world_spec import WorldSpec
from mockserver.config import ServerConfig
from mockserver.errors import BadInput, NotFound
from mockserver.faults import Fault, FaultBook
from mockserver.journal import Journal
from mockserver.signing import UrlSigner
from mockserver.state import SharedState
from strategies.served_world import resolve_world

RESULT, ERRORS = "RESULT", "ERRORS"
PLAN_CACHE = 64  # stream plans kept per worker (each is a few boundaries per file)
SPOOL_FILES = 64  # rendered export streams kept on disk


@dataclass(frozen=True)
class ExportFile:
    """One downloadable file of a stream: inclusive line and byte ranges."""

    index: int
    lines: tuple[int, int]
    offsets: tuple[int, int]


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
    ready_at: float  # wall-clock time (epoch s) when the task turns COMPLETE: any worker can tell
    streamable: bool
    scope: ExportScope | None = None  # where the export is taken from; None: the world's first project
    failed: bool = False  # fault export-fails
    error_every: int | None = None  # fault export-errors: rows with index % n == n - 1 fail
    slow_refreshes: int = 0  # fault slow-task: refreshes answered IN_PROGRESS
    refreshes: int = 0

    def spec(self) -> dict:
        """Everything that defines the task, as JSON: workers rebuild it from this."""
        f = self.filters
        return {
            "name": self.name, "params": asdict(self.params), "urls": asdict(self.urls),
            "created_at": self.created_at, "ready_at": self.ready_at, "streamable": self.streamable,
            "failed": self.failed, "error_every": self.error_every, "slow_refreshes": self.slow_refreshes,
            "filters": {
                "last_activity_at": _range_json(f.last_activity_at), "labeled_at": _range_json(f.labeled_at),
                "statuses": sorted(s.value for s in f.statuses) if f.statuses is not None else None,
                "data_row_ids": sorted(f.data_row_ids) if f.data_row_ids is not None else None,
                "global_keys": sorted(f.global_keys) if f.global_keys is not None else None,
                "batch_ids": sorted(f.batch_ids) if f.batch_ids is not None else None,
                "dataset_ids": sorted(f.dataset_ids) if f.dataset_ids is not None else None,
            },
            "scope": None if self.scope is None else {
                "project_id": self.scope.project_id,
                "project_ids": sorted(self.scope.project_ids) if self.scope.project_ids is not None else None},
        }

    @classmethod
    def from_spec(cls, task_id: str, owner: str, spec: dict, refreshes: int) -> ExportTask:
        f = spec["filters"]
        filters = ExportFilters(
            last_activity_at=_range_from(f["last_activity_at"]), labeled_at=_range_from(f["labeled_at"]),
            statuses=frozenset(WorkflowStatus(s) for s in f["statuses"]) if f["statuses"] is not None else None,
            data_row_ids=_frozen(f["data_row_ids"]), global_keys=_frozen(f["global_keys"]),
            batch_ids=_frozen(f["batch_ids"]), dataset_ids=_frozen(f.get("dataset_ids")))
        scope = spec.get("scope")
        return cls(id=task_id, owner_key=owner, name=spec["name"], params=ExportParams(**spec["params"]),
                   filters=filters, urls=Urls(**spec["urls"]), created_at=spec["created_at"],
                   ready_at=spec["ready_at"], streamable=spec["streamable"],
                   scope=None if scope is None else ExportScope(scope["project_id"], _frozen(scope["project_ids"])),
                   failed=spec["failed"],
                   error_every=spec["error_every"], slow_refreshes=spec["slow_refreshes"], refreshes=refreshes)

    def fails_row(self, row: DataRow) -> bool:
        if self.failed:  # a failed task reports every selected row in its errors
            return True
        return self.error_every is not None and row.index % self.error_every == self.error_every - 1


@dataclass
class LegacyExport:
    id: str
    window: LegacyWindow
    urls: Urls
    polls: int = 0
    project_id: str | None = None  # None: the world's first project

    def spec(self) -> dict:
        return {"created": _range_json(self.window.created), "last_activity": _range_json(self.window.last_activity),
                "urls": asdict(self.urls), "project_id": self.project_id}

    @classmethod
    def from_spec(cls, export_id: str, spec: dict, polls: int = 0) -> LegacyExport:
        window = LegacyWindow(_range_from(spec["created"]), _range_from(spec["last_activity"]))
        return cls(export_id, window, Urls(**spec["urls"]), polls, spec.get("project_id"))


def key_owner(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def _range_json(r: TimeRange | None) -> list | None:
    return None if r is None else [r.start, r.end]


def _range_from(value: list | None) -> TimeRange | None:
    return None if value is None else TimeRange(value[0], value[1])


def _frozen(values: list | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


class MockBackend:
    """Everything the mock serves, for one world."""

    def __init__(self, world: World, config: ServerConfig | None = None) -> None:
        self.config = config = config or ServerConfig()
        self.world = world
        self.origin_world = world  # what /_mock/reset returns to
        self.state = SharedState(config.state_path)
        self.faults = FaultBook(self.state)
        self.journal = Journal(self.state)
        self.api_key = config.api_key
        self.task_delay = config.task_delay
        self.legacy_polls = config.legacy_polls
        self.file_bytes = config.file_bytes
        self.signer = UrlSigner(config.signing_key) if config.signing_key else UrlSigner.random()
        self.user_timezone = config.user_timezone
        state_path, spool_dir = config.state_path, config.spool_dir
        self._world_version = 0
        # Rendered export streams: next to a shared state file (so workers share them), else private.
        if spool_dir is None and state_path is not None:
            spool_dir = os.path.join(os.path.dirname(os.path.abspath(state_path)), "spool")
        if spool_dir is not None:
            os.makedirs(spool_dir, exist_ok=True)
        self._spool_dir: Path | None = Path(spool_dir) if spool_dir else None
        self._plans: OrderedDict[tuple[str, str], StreamPlan] = OrderedDict()  # derived, per worker
        self._lock = threading.Lock()

    # ------------------------------------------------------------ mock control

    def sync(self) -> None:
        """Serve the world the shared state names (another worker may have loaded one)."""
        spec, version = self.state.world()
        if version == self._world_version:
            return
        with self._lock:
            if spec is None:
                self.world = self.origin_world
            else:
                self.world = resolve_world(WorldSpec.from_json(spec))
            self._plans.clear()
            self._world_version = version

    def reset(self) -> None:
        """Back to the world the mock started with: no tasks, faults or journal."""
        self.state.set_world(None)
        self.faults.clear()
        self.journal.clear()
        self.sync()

    def load_world(self, spec: WorldSpec) -> World:
        """Serve the world ``spec`` names from now on, in every worker."""
        self.state.set_world(spec.to_json())
        self.sync()
        return self.world

    # ------------------------------------------------------------ auth

    def accepts_key(self, api_key: str | None) -> bool:
        if not api_key or self.faults.take(Fault.AUTH_REVOKED):
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

    def mask_feature(self, feature_id: str, project_id: str | None = None) -> tuple[DataRow, Feature]:
        """The mask feature (of any project's label; of ``project_id``'s labels when given)."""
        row = self.row_for_id(feature_id)
        if project_id is None:
            labels = row.all_labels
        else:
            membership = row.in_project(project_id)
            labels = membership.labels if membership is not None else ()
        for label in labels:
            feature = label.feature(feature_id)
            if feature is not None:
                if feature.tool.kind != "mask":
                    raise NotFound(feature_id)
                return row, feature
        raise NotFound(feature_id)

    # ------------------------------------------------------------ export v2 tasks

    def create_export(self, api_key: str, params: ExportParams, filters: ExportFilters, urls: Urls,
                      name: str | None, streamable: bool, now_ms: int,
                      scope: ExportScope | None = None) -> ExportTask:
        """A new export task (``scope`` None: of the world's first project)."""
        task = ExportTask(
            id=_new_id(), owner_key=key_owner(api_key), name=name, params=params, filters=filters, urls=urls,
            created_at=now_ms, ready_at=time.time() + self.task_delay, streamable=streamable, scope=scope)
        if self.faults.take(Fault.EXPORT_FAILS):
            task.failed = True
        if (fault := self.faults.take(Fault.EXPORT_ERRORS)) is not None:
            task.error_every = fault.arg or 3
        if (fault := self.faults.take(Fault.SLOW_TASK)) is not None:
            task.slow_refreshes = fault.arg or 3
        self.state.put_task(task.id, task.owner_key, task.spec())
        return task

    def task_by_id(self, task_id: str) -> ExportTask:
        """Any client's task (signed file URLs carry no key: the signature vouches)."""
        record = self.state.get_task(task_id)
        if record is None:
            raise NotFound(task_id)
        owner, spec, refreshes = record
        return ExportTask.from_spec(task_id, owner, spec, refreshes)

    def task(self, api_key: str, task_id: str) -> ExportTask:
        task = self.task_by_id(task_id)
        if task.owner_key != key_owner(api_key):  # tasks are per client
            raise NotFound(task_id)
        return task

    def tasks_of(self, api_key: str) -> list[ExportTask]:
        owner = key_owner(api_key)
        return [self.task_by_id(t) for t in self.state.task_ids_of(owner)]

    def note_refresh(self, task: ExportTask) -> None:
        """A client re-read the task (the SDK's poll): slow tasks advance per refresh."""
        self.state.bump_refresh(task.id)
        task.refreshes += 1

    def task_progress(self, task: ExportTask) -> tuple[str, float]:
        """(status, completion percentage)."""
        if task.refreshes < task.slow_refreshes:
            return "IN_PROGRESS", round(100.0 * task.refreshes / task.slow_refreshes, 1)
        remaining = task.ready_at - time.time()
        if remaining > 0 and self.task_delay > 0:
            done = 1.0 - remaining / self.task_delay
            return "IN_PROGRESS", round(max(0.0, min(done, 0.99)) * 100, 1)
        if task.failed:
            return "FAILED", 100.0
        return "COMPLETE", 100.0

    def stream_lines(self, task: ExportTask, stream: str) -> Iterator[bytes]:
        """The NDJSON lines of a stream.

        RESULT holds the rendered rows; ERRORS one line per failed row (fault
        export-errors), and those rows are missing from RESULT.
        """
        world = self.world
        for row in selected_rows(world, task.filters, task.scope):
            failed = task.fails_row(row)
            if stream == RESULT and not failed:
                yield next(v2_lines(world, (row,), task.params, task.urls, task.scope))
            elif stream == ERRORS and failed:
                yield orjson.dumps({
                    "data_row": {"id": row.id, "global_key": row.global_key},
                    "errors": [{"code": "EXPORT_ROW_FAILED",
                                "message": f"Failed to export data row {row.id}: injected by lbmock"}],
                }) + b"\n"

    def plan(self, task: ExportTask, stream: str) -> StreamPlan | None:
        """The file plan of a stream; ``None`` for an empty stream (the API's null header).

        The first worker to need it renders the stream once into a spool file
        (and its plan beside it); any worker then serves byte ranges of that
        file, so downloads move bytes instead of re-rendering rows.
        """
        key = (task.id, stream)
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
        if plan is None:
            plan = self._load_plan(task, stream) or self._spool_stream(task, stream)
            with self._lock:
                self._plans[key] = plan
                while len(self._plans) > PLAN_CACHE:
                    self._plans.popitem(last=False)
        return plan if plan.total_lines else None

    # -- spool files: <dir>/<task>-<stream>.ndjson and .plan.json, written once, read by all

    def _spool(self, task: ExportTask, stream: str, suffix: str) -> Path:
        if self._spool_dir is None:
            with self._lock:
                if self._spool_dir is None:
                    self._spool_dir = Path(tempfile.mkdtemp(prefix="lbmock-spool-"))
                    weakref.finalize(self, shutil.rmtree, self._spool_dir, True)
        return self._spool_dir / f"{task.id}-{stream}{suffix}"

    def _load_plan(self, task: ExportTask, stream: str) -> StreamPlan | None:
        try:
            meta = orjson.loads(self._spool(task, stream, ".plan.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        files = [ExportFile(f[0], tuple(f[1]), tuple(f[2])) for f in meta["files"]]
        return StreamPlan(files, meta["total_lines"], meta["total_size"])

    def _spool_stream(self, task: ExportTask, stream: str) -> StreamPlan:
        # Cut on line boundaries once a file reaches file_bytes.  Data goes in
        # before the plan, each by atomic rename: whoever sees a plan sees its data.
        self._prune_spool()
        data_path, plan_path = self._spool(task, stream, ".ndjson"), self._spool(task, stream, ".plan.json")
        private = f".{os.getpid()}.{threading.get_ident()}.tmp"
        files: list[ExportFile] = []
        line = offset = start_line = start_offset = count = 0
        with open(data_path.with_suffix(private), "wb") as out:
            for data in self.stream_lines(task, stream):
                out.write(data)
                if count == 0:
                    start_line, start_offset = line, offset
                line += 1
                offset += len(data)
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

    def _prune_spool(self) -> None:
        """Keep the spool bounded: drop the least recently written exports.

        Another worker or thread may delete files meanwhile; a reader that
        already opened one keeps reading it, and one that finds it gone
        renders it again.
        """
        if self._spool_dir is None:
            return

        def written(path: Path) -> float:
            try:
                return path.stat().st_mtime
            except OSError:
                return 0.0

        entries = sorted(self._spool_dir.glob("*.ndjson"), key=written)
        for old in entries[:max(0, len(entries) - SPOOL_FILES)]:
            for path in (old, old.with_suffix(".plan.json")):
                path.unlink(missing_ok=True)

    def _read_spool(self, task: ExportTask, stream: str, start: int, size: int) -> Iterator[bytes]:
        handle = None
        for _attempt in range(3):
            self.plan(task, stream)
            try:
                handle = open(self._spool(task, stream, ".ndjson"), "rb")  # noqa: SIM115 - closed below
                break
            except FileNotFoundError:  # pruned since it was planned: render it again
                with self._lock:
                    self._plans.pop((task.id, stream), None)
                self._spool(task, stream, ".plan.json").unlink(missing_ok=True)
        if handle is None:
            raise NotFound(f"export file of task {task.id} is gone")
        with handle:
            handle.seek(start)
            left = size
            while left > 0:
                chunk = handle.read(min(left, 4 * 1024 * 1024))  # an export file in one write
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def file_bytes_of(self, task: ExportTask, stream: str, export_file: ExportFile) -> Iterator[bytes]:
        """The bytes of one export file: a byte range of the spooled stream."""
        start, end = export_file.offsets
        return self._read_spool(task, stream, start, end - start + 1)

    def whole_stream(self, task: ExportTask, stream: str = RESULT) -> Iterator[bytes]:
        """A whole stream (3.40.1's ``result``/``errors`` URLs, ``/export-results``)."""
        plan = self.plan(task, stream)
        return iter(()) if plan is None else self._read_spool(task, stream, 0, plan.total_size)

    # ------------------------------------------------------------ legacy export_labels

    def legacy_export(self, api_key: str, window: LegacyWindow, urls: Urls,
                      project_id: str | None = None) -> LegacyExport:
        """The legacy export for this client, project and window; each call counts as one poll."""
        export = LegacyExport(_new_id(), window, urls, project_id=project_id)
        key = f"{key_owner(api_key)}:{orjson.dumps(export.spec()).decode()}"
        export.id, export.polls = self.state.legacy_poll(key, export.id, export.spec())
        return export

    def legacy_ready(self, export: LegacyExport) -> bool:
        if self.faults.take(Fault.LEGACY_NEVER_READY):
            return False
        return export.polls > self.legacy_polls

    def legacy_by_id(self, export_id: str) -> LegacyExport:
        spec = self.state.get_legacy(export_id)
        if spec is None:
            raise NotFound(export_id)
        return LegacyExport.from_spec(export_id, spec)

    def legacy_bytes(self, export: LegacyExport) -> Iterator[bytes]:
        world = self.world
        project = world.project_by_id(export.project_id) if export.project_id else world.project
        if project is None:
            raise NotFound(f"project {export.project_id}")
        rows = (world.row(i) for i in range(len(world)) if world.in_project_at(project.id, i))
        return legacy_array_chunks(project, rows, export.window, export.urls)


def _new_id() -> str:
    """Task ids: Labelbox-shaped, random (tasks are not part of the seeded world)."""
    return "c" + base36(uuid.uuid4().int % 36**24, 24)
