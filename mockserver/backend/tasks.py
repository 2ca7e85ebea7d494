"""Export v2 tasks: what a task is (its spec, written once to the shared state), how far along
it is (its state-manager transition), and the job each of its streams renders
(``lbmock.mockserver.exports.job``)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from lbmock.export import ExportFilters, ExportScope, TimeRange
from lbmock.mockserver.backend.state_manager import Transition
from lbmock.mockserver.exports.job import ERRORS, RESULT, ExportJob, filters_json, scope_json
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.world import WorkflowStatus, World

__all__ = ["ERRORS", "RESULT", "ExportTask", "export_file_path"]


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
    reads: int = 0  # status reads so far (the SDK's polls)
    advanced: str | None = None  # COMPLETE or FAILED when moved on by hand (/_mock/tasks/<id>/advance)

    def spec(self) -> dict:
        """Everything that defines the task, as JSON: workers rebuild it from this."""
        return {
            "name": self.name, "params": asdict(self.params), "urls": self.urls.to_json(),
            "created_at": self.created_at, "started": self.started, "streamable": self.streamable,
            "transition": self.transition.to_json(), "failed": self.failed, "error_every": self.error_every,
            "lag_rows": self.lag_rows, "hostile": self.hostile,
            "filters": filters_json(self.filters), "scope": scope_json(self.scope),
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

    def job(self, stream: str, world: World, urls: Urls) -> ExportJob:
        """What renders ``stream``: from ``world`` (the task's view of it) with ``urls`` (signed)."""
        return ExportJob(self.id, stream, world, self.params, self.filters, self.scope, urls,
                         fails_all=self.failed or self.advanced == "FAILED",  # every selected row in ERRORS
                         error_every=self.error_every, lag_rows=self.lag_rows)


def range_from(value: list | None) -> TimeRange | None:
    return None if value is None else TimeRange(value[0], value[1])


def _frozen(values: list | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)
