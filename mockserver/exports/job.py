"""What decides one export stream's bytes, frozen: an :class:`ExportJob`, and its lines.

The backend builds a job from a task once its faults and lookups are resolved (which world,
which rows fail or lag, the signed URLs); from then on the pipeline, the template cache and the
helper processes see only the job.  It pickles whole (helpers rebuild it) and holds nothing that
changes while the stream is read.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

import orjson

from lbmock.export import ExportFilters, ExportScope, TimeRange, export_v2_lines, selected_rows, v2_lines
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.world import DataRow, World

RESULT, ERRORS = "RESULT", "ERRORS"


# eq=False: a job is compared by identity (comparing two worlds field by field would draw rows)
@dataclass(frozen=True, eq=False)
class ExportJob:
    """One stream of one export task, as rendering sees it."""

    task_id: str  # names the stream on disk; no byte depends on it
    stream: str  # RESULT or ERRORS
    world: World  # the world rendered (fault hostile-content already applied)
    params: ExportParams
    filters: ExportFilters
    scope: ExportScope | None  # None: the world's first project
    urls: Urls  # the server's bases, row_data signed as of the task's creation
    fails_all: bool = False  # a failed task: every selected row is in ERRORS
    error_every: int | None = None  # fault export-errors: rows with index % n == n - 1 fail
    lag_rows: int | None = None  # fault index-lag: the n most recently active selected rows are missing
    lagging: frozenset[int] | None = None  # derived from lag_rows once a stream (see with_lagging)

    @property
    def name(self) -> str:
        """The stream's name in the spool."""
        return f"{self.task_id}-{self.stream}"

    def may_fail_rows(self) -> bool:
        """Whether any row can fail: if not, the ERRORS stream is empty without looking at a row."""
        return self.fails_all or self.error_every is not None

    def fails_row(self, row: DataRow) -> bool:
        return self.fails_all or (self.error_every is not None and row.index % self.error_every == self.error_every - 1)

    def needs_rows(self) -> bool:
        """Whether the lines depend on the rows: not an ERRORS stream of a job no row fails in."""
        return self.stream == RESULT or (self.stream == ERRORS and self.may_fail_rows())

    def with_lagging(self) -> ExportJob:
        """The job with its lagging rows worked out (once, over the whole selection), so that each
        part of the stream, in whichever process, need not select every row again."""
        if not self.lag_rows or self.lagging is not None:
            return self
        return replace(self, lagging=lagging_rows(self.world, self.filters, self.scope, self.lag_rows))

    def template_key(self) -> dict:
        """What a template of this stream is keyed by, apart from the world and the code (JSON)."""
        return {"params": asdict(self.params), "filters": filters_json(self.filters),
                "scope": scope_json(self.scope), "lag_rows": self.lag_rows}

    def lines(self, indices: range | None = None) -> Iterator[bytes]:
        """The NDJSON lines: RESULT renders the rows that did not fail; ERRORS holds one line per
        failed row.  ``indices``: the part of the stream that comes from those world rows (the
        stream is its parts in order)."""
        if not self.needs_rows():
            return iter(())  # selecting the rows would draw every one of them for nothing
        lagging = self.with_lagging().lagging or frozenset()
        if self.stream == RESULT and not self.may_fail_rows():
            return export_v2_lines(self.world, self.filters, self.params, self.urls, self.scope, indices, lagging)
        outcomes = ((row, self.fails_row(row)) for row in selected_rows(self.world, self.filters, self.scope, indices)
                    if row.index not in lagging)
        if self.stream == RESULT:
            return v2_lines(self.world, (row for row, failed in outcomes if not failed), self.params, self.urls,
                            self.scope)
        if self.stream == ERRORS:
            return (_error_line(row) for row, failed in outcomes if failed)
        return iter(())


def lagging_rows(world: World, filters: ExportFilters, scope: ExportScope | None, lag_rows: int) -> frozenset[int]:
    """Fault index-lag: the indices of the ``lag_rows`` most recently active selected rows
    (greatest ``last_activity_at``, the export's ``details.last_activity_at``; on a tie, the later
    row in export order), which an index that has not caught up does not hold yet."""
    recent = heapq.nlargest(lag_rows, ((row.last_activity_at, row.index)
                                       for row in selected_rows(world, filters, scope)))
    return frozenset(index for _at, index in recent)


def _error_line(row: DataRow) -> bytes:
    return orjson.dumps({
        "data_row": {"id": row.id, "global_key": row.global_key},
        "errors": [{"code": "EXPORT_ROW_FAILED", "message": f"Failed to export data row {row.id}: injected by lbmock"}],
    }) + b"\n"


def filters_json(f: ExportFilters) -> dict:
    """The filters as JSON, sets sorted: a task's spec and a template's key."""
    return {
        "last_activity_at": range_json(f.last_activity_at), "labeled_at": range_json(f.labeled_at),
        "statuses": sorted(s.value for s in f.statuses) if f.statuses is not None else None,
        "data_row_ids": sorted(f.data_row_ids) if f.data_row_ids is not None else None,
        "global_keys": sorted(f.global_keys) if f.global_keys is not None else None,
        "batch_ids": sorted(f.batch_ids) if f.batch_ids is not None else None,
        "dataset_ids": sorted(f.dataset_ids) if f.dataset_ids is not None else None,
    }


def scope_json(scope: ExportScope | None) -> dict | None:
    return None if scope is None else {
        "project_id": scope.project_id,
        "project_ids": sorted(scope.project_ids) if scope.project_ids is not None else None}


def range_json(r: TimeRange | None) -> list | None:
    return None if r is None else [r.start, r.end]
