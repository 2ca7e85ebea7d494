"""A per-row summary of the served world, for the data-rows page's filters and the overview's counts.

Rows are derived, not stored: drawing one costs ~0.1 ms, so filtering 100,000 rows by drawing
them would take seconds.  The index keeps, per row and project, what the filters ask (workflow
status, label count, which tool was used on which plane) in a few numpy arrays: about 10 bytes a
row and project, 1 MB for 100,000 rows.  It is computed once per world, from the world's own
rows (the same objects every export renders: no second copy of any logic), in row order:

* on the request path only as far as a page needs (the first page of a filter needs its first
  matches, not the whole world), within a time budget;
* the rest by a background thread, in small chunks with pauses, which waits while a dashboard
  request is being answered (the interpreter lock would make the request share its core).
  Worlds of up to :data:`SYNC_ROWS` rows are indexed at once.

Until it is complete a page is still exact (its rows are the first matches in world order);
only the totals are lower bounds, and the pages say so.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lbmock.world import PLANES, DataRow, Project, WorkflowStatus, World

STATUSES: tuple[WorkflowStatus, ...] = tuple(WorkflowStatus)
NOT_MEMBER = 255  # status code of a row outside a project
SYNC_ROWS = 1000  # worlds this small are indexed entirely at first use (~0.1 s)
CHUNK_ROWS = 128  # rows indexed under the lock at a time (~15 ms)
BACKGROUND_PAUSE = 0.015  # seconds the background thread rests between chunks: at most half a core
SCAN_BUDGET = 0.2  # seconds a request may spend indexing rows it needs (pages answer within ~0.3 s)
MAX_TOOLS = 64 // len(PLANES)  # (tool, plane) pairs fit a uint64


@dataclass(frozen=True, slots=True)
class RowFilter:
    """What the data-rows page asks for; ``None`` leaves a criterion open.

    ``project`` is an index into ``world.projects``; ``tool`` an index into that project's
    ontology tools.  Status, labels, plane and tool are the row's in that project.
    """

    project: int = 0
    status: WorkflowStatus | None = None
    labelled: bool | None = None
    plane: str | None = None
    tool: int | None = None

    @property
    def needs_index(self) -> bool:
        return any(v is not None for v in (self.status, self.labelled, self.plane, self.tool))


def feature_bit(tool: int, plane: str) -> int:
    """The bit of "a feature of tool number ``tool`` on ``plane``"."""
    return 1 << (tool * len(PLANES) + PLANES.index(plane))


def filter_bits(tools: int, plane: str | None, tool: int | None) -> int:
    """Bits any of which a row must have: every (tool, plane) pair the filter allows."""
    return sum(feature_bit(t, p) for t in range(tools) for p in PLANES
               if (tool is None or t == tool) and (plane is None or p == plane))


@dataclass(frozen=True, slots=True)
class RowSummary:
    """One row in one project: status code (:data:`NOT_MEMBER` outside it), labels, feature bits."""

    status: int
    labels: int
    bits: int


def summarise(row: DataRow, project: Project) -> RowSummary:
    """What the index keeps of ``row`` in ``project``: read off the world's row itself."""
    membership = row.in_project(project.id)
    if membership is None:
        return RowSummary(NOT_MEMBER, 0, 0)
    tool_number = {t.schema_id: n for n, t in enumerate(project.ontology.tools[:MAX_TOOLS])}
    bits = 0
    for label in membership.labels:
        for feature in label.features:
            number = tool_number.get(feature.tool.schema_id)
            if number is not None:
                bits |= feature_bit(number, feature.plane)
    return RowSummary(STATUSES.index(membership.status), min(len(membership.labels), 255), bits)


@dataclass(frozen=True, slots=True)
class RowPage:
    """One page of matching rows: their indices, and how sure the totals are."""

    indices: list[int]
    total: int  # matches found (exact when ``complete``, else a lower bound)
    complete: bool  # the whole world has been looked at for this filter
    indexed: int  # rows of the world indexed so far
    has_next: bool


class RowIndex:
    """The summaries of one world's rows, filled in row order (see the module docstring)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.n_rows = len(world)
        shape = (self.n_rows, len(world.projects))
        self.status = np.full(shape, NOT_MEMBER, dtype=np.uint8)
        self.labels = np.zeros(shape, dtype=np.uint8)
        self.bits = np.zeros(shape, dtype=np.uint64)
        self.done = 0  # rows 0..done-1 are indexed
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ filling

    @property
    def complete(self) -> bool:
        return self.done >= self.n_rows

    def _index_chunk(self) -> None:
        with self._lock:
            start = self.done
            stop = min(start + CHUNK_ROWS, self.n_rows)
            for index in range(start, stop):
                row = self.world.row(index)
                for p, project in enumerate(self.world.projects):
                    summary = summarise(row, project)
                    self.status[index, p], self.labels[index, p] = summary.status, summary.labels
                    self.bits[index, p] = summary.bits
            self.done = stop

    def fill(self, until: Callable[[], bool] = lambda: False, deadline: float | None = None) -> None:
        """Index further rows until ``until()`` holds, the world is done, or ``deadline`` (perf_counter)."""
        while not self.complete and not until():
            if deadline is not None and time.perf_counter() > deadline:
                return
            self._index_chunk()

    def start(self) -> None:
        """Index small worlds now, larger ones in a background thread (once)."""
        if self.n_rows <= SYNC_ROWS:
            self.fill()
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._background, name="lbmock-dashboard-index", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _background(self) -> None:
        while not self.complete and not self._stopped.is_set():
            if _busy.value:  # a dashboard request is being answered: hold the interpreter back for it
                time.sleep(BACKGROUND_PAUSE / 3)
                continue
            self._index_chunk()
            time.sleep(BACKGROUND_PAUSE)  # let requests run: this thread is a guest

    # ------------------------------------------------------------ asking

    def _matching(self, f: RowFilter) -> np.ndarray:
        """Indices of indexed rows matching ``f``, in world order."""
        n = self.done
        status, labels, bits = self.status[:n, f.project], self.labels[:n, f.project], self.bits[:n, f.project]
        keep = status != NOT_MEMBER
        if f.status is not None:
            keep &= status == STATUSES.index(f.status)
        if f.labelled is not None:
            keep &= (labels > 0) == f.labelled
        if f.plane is not None or f.tool is not None:
            tools = min(len(self.world.projects[f.project].ontology.tools), MAX_TOOLS)
            keep &= (bits & np.uint64(filter_bits(tools, f.plane, f.tool))) != 0
        return np.flatnonzero(keep)

    def page(self, f: RowFilter, offset: int, size: int, budget: float = SCAN_BUDGET) -> RowPage:
        """Rows ``offset..offset+size-1`` of those matching ``f``; indexes what it needs first (within ``budget``)."""
        wanted = offset + size + 1  # one more tells whether a next page exists
        deadline = time.perf_counter() + budget
        self.fill(until=lambda: len(self._matching(f)) >= wanted, deadline=deadline)
        found = self._matching(f)
        return RowPage([int(i) for i in found[offset:offset + size]], len(found), self.complete, self.done,
                       len(found) > offset + size)

    def status_counts(self, project: int) -> dict[str, int]:
        """Rows per workflow status in a project, among the rows indexed so far."""
        codes = np.bincount(self.status[:self.done, project], minlength=NOT_MEMBER + 1)
        return {s.value: int(codes[n]) for n, s in enumerate(STATUSES)}

    def labelled_count(self, project: int) -> int:
        n = self.done
        return int(np.count_nonzero((self.labels[:n, project] > 0) & (self.status[:n, project] != NOT_MEMBER)))


class _Counter:
    """Dashboard requests in flight in this process (the background indexer waits while any is)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, delta: int) -> None:
        with self._lock:
            self.value += delta


_busy = _Counter()


def request_started() -> None:
    _busy.add(1)


def request_finished(_exc: BaseException | None = None) -> None:
    _busy.add(-1)


_INDEXES: weakref.WeakKeyDictionary[object, RowIndex] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def index_of(owner: object, world: World) -> RowIndex:
    """The index of the world ``owner`` (a backend) serves now, started on first use; a new world
    gets a new index and the old one's background thread stops."""
    with _REGISTRY_LOCK:
        index = _INDEXES.get(owner)
        if index is None or index.world is not world:
            if index is not None:
                index.stop()
            index = _INDEXES[owner] = RowIndex(world)
    index.start()
    return index
