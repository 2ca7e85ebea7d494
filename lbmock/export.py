"""Which rows an export holds, and the export as a stream of bytes.

Shared by ``lbmock generate`` and the server, so both select and encode
identically.  Nothing here holds more than one row at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson

from lbmock.render.common import Urls
from lbmock.render.legacy import render_legacy_row
from lbmock.render.v2 import ExportParams, render_export_v2_row
from lbmock.world import DataRow, Label, Project, WorkflowStatus, World


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Inclusive bounds in epoch ms; ``None`` leaves a side open."""

    start: int | None = None
    end: int | None = None

    def __contains__(self, ms: int) -> bool:
        return (self.start is None or ms >= self.start) and (self.end is None or ms <= self.end)


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """Export v2 filters; every one given must hold (they are ANDed)."""

    last_activity_at: TimeRange | None = None
    labeled_at: TimeRange | None = None  # selects rows having a label created in the range
    statuses: frozenset[WorkflowStatus] | None = None
    data_row_ids: frozenset[str] | None = None
    global_keys: frozenset[str] | None = None
    batch_ids: frozenset[str] | None = None

    def matches(self, row: DataRow) -> bool:
        if self.data_row_ids is not None and row.id not in self.data_row_ids:
            return False
        if self.global_keys is not None and row.global_key not in self.global_keys:
            return False
        if self.batch_ids is not None and row.batch.id not in self.batch_ids:
            return False
        if self.statuses is not None and row.status not in self.statuses:
            return False
        if self.last_activity_at is not None and row.last_activity_at not in self.last_activity_at:
            return False
        return self.labeled_at is None or any(lb.created_at in self.labeled_at for lb in row.labels)


def selected_rows(world: World, filters: ExportFilters) -> Iterator[DataRow]:
    """The world's rows an export with ``filters`` holds, in world order."""
    for row in world:
        if filters.matches(row):
            yield row


def v2_lines(world: World, rows: Iterable[DataRow], params: ExportParams, urls: Urls) -> Iterator[bytes]:
    """Export v2 NDJSON, one ``\\n``-terminated line per data row."""
    for row in rows:
        yield orjson.dumps(render_export_v2_row(world.project, row, params, urls)) + b"\n"


@dataclass(frozen=True, slots=True)
class LegacyWindow:
    """``export_labels`` selection: label created in ``created``, row active in ``last_activity``."""

    created: TimeRange | None = None
    last_activity: TimeRange | None = None

    def labels(self, row: DataRow) -> Iterator[Label]:
        if self.last_activity is not None and row.last_activity_at not in self.last_activity:
            return
        for label in row.labels:
            if self.created is None or label.created_at in self.created:
                yield label


def legacy_array_chunks(project: Project, rows: Iterable[DataRow], window: LegacyWindow,
                        urls: Urls) -> Iterator[bytes]:
    """The legacy export as a JSON array, streamed one label object at a time."""
    yield b"["
    first = True
    for row in rows:
        for label in window.labels(row):
            yield (b"" if first else b",") + orjson.dumps(render_legacy_row(project, row, label, urls))
            first = False
    yield b"]"
