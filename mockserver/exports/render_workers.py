"""Export streams of big worlds rendered by helper processes, in row order.

A cold export is bound by drawing and rendering its rows (~0.15 ms a row on one core, most of
it drawing), and the server's one interpreter renders on one core.  Rows never depend on other
rows (``lbmock.strategies.served_world``), so any process draws the same row with the same bytes: the
server cuts the world's row indices into parts, helper processes (spawned once, one per core)
render each part's lines into a file beside the spool, and the spool appends the parts in
order.  The stream's bytes, line boundaries and file plan are those of rendering in the
server process.

Small worlds render in the server process: starting helpers costs more than it saves.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import multiprocessing
import os
import pickle
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from lbmock.mockserver.exports.job import ExportJob
from lbmock.mockserver.exports.progress import RenderProgress, in_blocks
from lbmock.mockserver.exports.spool import Lines, RenderedPart
from lbmock.world import World

MIN_ROWS = 5_000  # worlds smaller than this render in the server process
MAX_PROCESSES = 4  # helpers beyond a few cores only add start-up and memory


def default_processes() -> int:
    """One helper per core (up to :data:`MAX_PROCESSES`); none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores, MAX_PROCESSES) if cores > 1 else 0


class RenderWorkers:
    """Helper processes rendering parts of export streams (started on first use, or by :meth:`warm`)."""

    def __init__(self, processes: int, min_rows: int = MIN_ROWS, part_rows: int | None = None) -> None:
        self.processes = processes
        self.min_rows = min_rows
        self.part_rows = part_rows
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def used_for(self, world: World) -> bool:
        return self.processes > 0 and len(world) >= self.min_rows

    def warm(self) -> None:
        """Start the helpers now, in the background (a big world is served: an export will come)."""
        threading.Thread(target=self._warm, name="lbmock-render-warm", daemon=True).start()

    def _warm(self) -> None:
        try:
            pool = self._executor()
            for f in [pool.submit(_ready) for _ in range(self.processes)]:
                f.result()
        except (BrokenProcessPool, CancelledError, OSError, RuntimeError):
            self.close()  # rendering falls back to the server process (a later export starts helpers again)

    def close(self) -> None:
        """Stop the helpers (without waiting for them); the next big export starts them again."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def lines(self, job: ExportJob, scratch: Path, progress: RenderProgress) -> Lines:
        """The job's lines, rendered by the helpers when its world is big enough; ``progress``
        counts its rows as they are rendered (per part, or per block here)."""
        if not (self.used_for(job.world) and job.needs_rows()):
            return in_blocks(job, progress)
        try:
            blob = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):  # a world no helper can rebuild
            return in_blocks(job, progress)
        return self._parts(job, blob, scratch, progress)

    def _parts(self, job: ExportJob, blob: bytes, scratch: Path, progress: RenderProgress) -> Iterator:
        n = len(job.world)
        progress.start(n)
        size = self.part_rows or max(500, min(2000, n // (self.processes * 8) or 1))  # small: a short tail
        starts = iter(range(0, n, size))
        packed = (hashlib.blake2b(blob, digest_size=16).hexdigest(), blob)
        pending: deque[tuple[int, str, Future]] = deque()
        done_upto = 0  # rows before this index are in the stream already
        try:
            pool = self._executor()

            def submit() -> bool:
                start = next(starts, None)
                if start is None:
                    return False
                path = str(scratch / f".part-{uuid.uuid4().hex}.tmp")
                pending.append((start, path, pool.submit(_render_part, packed, start, min(start + size, n), path)))
                return True

            while len(pending) < 2 * self.processes and submit():  # a few parts ahead, not the whole stream
                pass
            while pending:
                start, path, future = pending[0]
                lengths = future.result()
                pending.popleft()
                submit()
                done_upto = min(start + size, n)
                progress.advance(done_upto)
                yield RenderedPart(path, lengths)
        except (BrokenProcessPool, CancelledError, OSError, RuntimeError):
            # a helper died, none could start, or close() stopped them: the rest renders here, same bytes
            self.close()
            yield from in_blocks(job, progress, done_upto)
            return
        finally:
            for _start, path, future in pending:
                if not future.cancel():
                    with contextlib.suppress(Exception):  # cleaning up after a failure elsewhere
                        future.result()  # the helper may still write the part: wait, then delete
                Path(path).unlink(missing_ok=True)
        progress.finish()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the server has threads (a forked lock could be held forever)
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_follow_parent, initargs=(os.getpid(),))
            return self._pool


# ---------------------------------------------------------------- in the helper processes

_JOBS: OrderedDict[str, ExportJob] = OrderedDict()  # unpickled once per stream


def _follow_parent(parent: int) -> None:
    """Exit when the server does: a killed server (SIGTERM) leaves no helper behind."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="lbmock-follow-parent", daemon=True).start()


def _ready() -> bool:
    return True


def _render_part(packed: tuple[str, bytes], start: int, stop: int, path: str) -> array.array:
    """Render the stream's lines from world rows ``start..stop-1`` into ``path``; their sizes."""
    key, blob = packed
    if key not in _JOBS:
        _JOBS[key] = pickle.loads(blob)
        while len(_JOBS) > 2:
            _JOBS.popitem(last=False)
    lengths = array.array("Q")
    with open(path, "wb", buffering=1 << 20) as out:
        for line in _JOBS[key].lines(range(start, stop)):
            out.write(line)
            lengths.append(len(line))
    return lengths
