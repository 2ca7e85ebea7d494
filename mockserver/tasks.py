"""Export v2 tasks: what a task is (its spec, written once to the shared state), how far along
it is (its state-manager transition), which rows it exports or fails, and its streams' lines."""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import orjson

from lbmock.export import ExportFilters, ExportScope, TimeRange, selected_rows, v2_lines
from lbmock.mockserver.state_manager import Transition
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.world import DataRow, WorkflowStatus, World

RESULT, ERRORS = "RESULT", "ERRORS"


def export_file_path(task_id: str, stream: str, index: int | str) -> str:
    """Where one export file is served (``index`` "all": the whole stream, 3.40.1's ``result``);
    the SDK gets it signed (``MockBackend.export_file_url``)."""
    return f"/files/{task_id}/{stream}/{index}"


@dataclass
class ExportTask:
    id: str
    owner_key: str  # hash of the API key that created it: tasks are per client
    name: str | None
    params: ExportParams
    filters: ExportFilters
    urls: Urls
    created_at: int  # ms, as the API reports it
    streamable: bool
    scope: ExportScope | None = None  # where the export is taken from; None: the world's first project
    transition: Transition = field(default_factory=Transition.immediate)  # its export-task progression
    started: float = field(default_factory=time.time)  # wall-clock epoch s: any worker can tell the age
    failed: bool = False  # fault export-fails
    error_every: int | None = None  # fault export-errors: rows with index % n == n - 1 fail
    lag_rows: int | None = None  # fault index-lag: the n most recently active selected rows are missing
    hostile: bool = False  # fault hostile-content was set when it was created: rendered from the hostile world
    lagging: frozenset[int] | None = None  # derived, not in the spec: lagging_rows, computed once a stream
    reads: int = 0  # status reads so far (the SDK's polls)
    advanced: str | None = None  # COMPLETE or FAILED when moved on by hand (/_mock/tasks/<id>/advance)

    def spec(self) -> dict:
        """Everything that defines the task, as JSON: workers rebuild it from this."""
        f = self.filters
        return {
            "name": self.name, "params": asdict(self.params), "urls": self.urls.to_json(),
            "created_at": self.created_at, "started": self.started, "streamable": self.streamable,
            "transition": self.transition.to_json(), "failed": self.failed, "error_every": self.error_every,
            "lag_rows": self.lag_rows, "hostile": self.hostile,
            "filters": {
                "last_activity_at": range_json(f.last_activity_at), "labeled_at": range_json(f.labeled_at),
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
    def from_spec(cls, task_id: str, owner: str, spec: dict, reads: int, advanced: str | None) -> ExportTask:
        f = spec["filters"]
        filters = ExportFilters(
            last_activity_at=range_from(f["last_activity_at"]), labeled_at=range_from(f["labeled_at"]),
            statuses=frozenset(WorkflowStatus(s) for s in f["statuses"]) if f["statuses"] is not None else None,
            data_row_ids=_frozen(f["data_row_ids"]), global_keys=_frozen(f["global_keys"]),
            batch_ids=_frozen(f["batch_ids"]), dataset_ids=_frozen(f.get("dataset_ids")))
        scope = spec.get("scope")
        return cls(id=task_id, owner_key=owner, name=spec["name"], params=ExportParams(**spec["params"]),
                   filters=filters, urls=Urls(**spec["urls"]), created_at=spec["created_at"],
                   streamable=spec["streamable"],
                   scope=None if scope is None else ExportScope(scope["project_id"], _frozen(scope["project_ids"])),
                   transition=Transition.from_json(spec["transition"]),
                   started=spec["started"], failed=spec["failed"], error_every=spec["error_every"],
                   lag_rows=spec.get("lag_rows"), hostile=spec.get("hostile", False),
                   reads=reads, advanced=advanced)

    def progress(self, now: float | None = None) -> tuple[str, float]:
        """(status, completion percentage) at this read."""
        if self.advanced is not None:
            return self.advanced, 100.0
        done = self.transition.progress(self.reads, (time.time() if now is None else now) - self.started)
        if done < 1.0:
            return "IN_PROGRESS", round(min(done, 0.99) * 100, 1)
        return ("FAILED" if self.failed else "COMPLETE"), 100.0

    def updated_at(self, complete: bool) -> int:
        waited = self.transition.seconds if complete and self.transition.progression == "time" else 0
        return self.created_at + int((waited or 0) * 1000)

    def _fails_every_row(self) -> bool:
        return self.failed or self.advanced == "FAILED"  # a failed task reports every selected row in its errors

    def may_fail_rows(self) -> bool:
        """Whether any row can fail: if not, the ERRORS stream is empty without looking at a row."""
        return self._fails_every_row() or self.error_every is not None

    def fails_row(self, row: DataRow) -> bool:
        return self._fails_every_row() or (
            self.error_every is not None and row.index % self.error_every == self.error_every - 1)


def lagging_rows(world: World, task: ExportTask) -> frozenset[int]:
    """Fault index-lag: the indices of the ``lag_rows`` most recently active rows the task selects
    (greatest ``last_activity_at``, the export's ``details.last_activity_at``; on a tie, the later
    row in export order), which an index that has not caught up does not hold yet.  Taken over the
    whole selection, whichever part of the stream is being rendered."""
    if not task.lag_rows:
        return frozenset()
    recent = heapq.nlargest(task.lag_rows, ((row.last_activity_at, row.index)
                                            for row in selected_rows(world, task.filters, task.scope)))
    return frozenset(index for _at, index in recent)


def row_outcomes(world: World, task: ExportTask, indices: range | None = None) -> Iterator[tuple[DataRow, bool]]:
    """Each row the task selects, in export order, with whether it fails: what every stream renders.
    Rows an index lag hides (fault index-lag) are in neither stream."""
    lagging = task.lagging if task.lagging is not None else lagging_rows(world, task)
    for row in selected_rows(world, task.filters, task.scope, indices):
        if row.index not in lagging:
            yield row, task.fails_row(row)


def stream_lines(world: World, task: ExportTask, stream: str, indices: range | None = None) -> Iterator[bytes]:
    """The NDJSON lines of a stream: RESULT renders the rows that did not fail; ERRORS holds one
    line per failed row (fault export-errors, or a failed task).  ``indices``: the part of the
    stream that comes from those world rows (the stream is its parts in order)."""
    if not stream_needs_rows(task, stream):
        return iter(())  # selecting the rows would draw every one of them for nothing
    outcomes = row_outcomes(world, task, indices)
    if stream == RESULT:
        return v2_lines(world, (row for row, failed in outcomes if not failed), task.params, task.urls, task.scope)
    if stream == ERRORS:
        return (_error_line(row) for row, failed in outcomes if failed)
    return iter(())


def stream_needs_rows(task: ExportTask, stream: str) -> bool:
    """Whether the stream's lines depend on the rows: not an ERRORS stream of a task no row fails in."""
    return stream == RESULT or (stream == ERRORS and task.may_fail_rows())


def _error_line(row: DataRow) -> bytes:
    return orjson.dumps({
        "data_row": {"id": row.id, "global_key": row.global_key},
        "errors": [{"code": "EXPORT_ROW_FAILED", "message": f"Failed to export data row {row.id}: injected by lbmock"}],
    }) + b"\n"


def range_json(r: TimeRange | None) -> list | None:
    return None if r is None else [r.start, r.end]


def range_from(value: list | None) -> TimeRange | None:
    return None if value is None else TimeRange(value[0], value[1])


def _frozen(values: list | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)
