"""How far one render of an export stream has got: world rows gone through, of those it goes through.

The first export of a big world spends seconds rendering before its header can be answered; the
dashboard, the admin API and the task's ``completionPercentage`` read this to say why.  Counted
per block of rows (a helper's part, or :data:`BLOCK_ROWS` rendered in this process), never per
row, so rendering pays nothing measurable for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from lbmock.mockserver.exports.job import ExportJob

BLOCK_ROWS = 1_000  # rows rendered in this process between two updates (~0.1 s of work)


@dataclass(frozen=True, slots=True)
class ProgressView:
    """One reading of a :class:`RenderProgress`."""

    rows_done: int
    rows_total: int | None  # None: not started (the rows to go through are not counted yet)
    rows_per_second: float | None  # None: nothing rendered yet
    finished: bool

    def fraction(self) -> float | None:
        """Rows done over rows to do (None before the render starts; 1.0 for an empty render)."""
        if self.rows_total is None:
            return None
        return self.rows_done / self.rows_total if self.rows_total else 1.0

    def to_json(self) -> dict[str, object]:
        return {"rows_done": self.rows_done, "rows_total": self.rows_total,
                "rows_per_second": None if self.rows_per_second is None else round(self.rows_per_second, 1),
                "finished": self.finished}


class RenderProgress:
    """The counts of one render.  One thread writes (the one iterating the render), any reads.

    No lock: each write is one attribute assignment of an int or float (atomic under the GIL),
    ``rows_total`` is written before any ``rows_done`` and never again, so a reader sees at worst
    the reading before the latest (a block behind), never a torn or impossible one.
    """

    def __init__(self) -> None:
        self.rows_total: int | None = None
        self.rows_done = 0
        self._started: float | None = None
        self._finished_at: float | None = None

    def start(self, rows_total: int) -> None:
        """The render begins; it will go through ``rows_total`` world rows."""
        self._started = time.monotonic()
        self.rows_total = rows_total

    def advance(self, rows_done: int) -> None:
        """Rows before ``rows_done`` (of those gone through) are rendered: called once per block."""
        self.rows_done = rows_done

    def finish(self) -> None:
        """Every row is rendered."""
        if self.rows_total is None:
            self.start(0)
        self.rows_done = self.rows_total or 0
        self._finished_at = time.monotonic()

    def read(self) -> ProgressView:
        started, finished_at, done = self._started, self._finished_at, self.rows_done
        rate = None
        if started is not None and done:
            elapsed = (finished_at if finished_at is not None else time.monotonic()) - started
            rate = done / elapsed if elapsed > 0 else None
        return ProgressView(done, self.rows_total, rate, finished_at is not None)


def in_blocks(job: ExportJob, progress: RenderProgress, start: int = 0) -> Iterator[bytes]:
    """The job's lines from world row ``start`` on, rendered in this process :data:`BLOCK_ROWS` rows
    at a time (the stream is its parts in order: the same bytes as one pass), counted per block."""
    n = len(job.world) if job.needs_rows() else 0
    if progress.rows_total is None:
        progress.start(n)
    # rows named by id are looked up once per call: one block, not a lookup per block
    step = BLOCK_ROWS if job.filters.data_row_ids is None else max(n - start, 1)
    for block in range(start, n, step):
        stop = min(block + step, n)
        yield from job.lines(range(block, stop))
        progress.advance(stop)
    progress.finish()
