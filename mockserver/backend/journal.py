"""The request journal: every request the mock answered, for assertions.

Like WireMock's request log and ``verify``: tests ask what clients did,
e.g. that one export was created with given filters, or that a file was
downloaded exactly once.  Keys are never stored, only a short hash.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import struct
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lbmock.mockserver.backend.store import SharedState, Store
from lbmock.mockserver.errors import StateUnavailable
from lbmock.mockserver.exports.spool import pid_alive

log = logging.getLogger("lbmock")
FLUSH_WAIT_SECONDS = 5.0  # how long a read waits for other workers' queued entries


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    at_ms: int
    method: str
    path: str
    operation: str | None
    variables: Any
    status: int
    duration_ms: float
    client: str | None  # hash of the API key, never the key
    unmatched: str | None = None  # why nothing matched: the closest route, field, argument ... (near miss)
    stub: str | None = None  # the stub that answered (backend/stubs.py)

    def as_dict(self) -> dict:
        return asdict(self)


class VerificationError(AssertionError):
    """A journal expectation that did not hold."""


class Journal:
    """Requests answered, kept in the shared state (every worker writes to one journal).

    Recording is off the request path: :meth:`record` queues the entry and a writer thread
    stores queued entries in order, several per transaction.  Every read (:meth:`entries`,
    :meth:`verify`, ``GET /_mock/journal``) first stores this process's queue and waits for
    other workers' (see :class:`QueueMarks`), so it sees every request answered before it.
    """

    def __init__(self, state: Store | None = None) -> None:
        self._state = state if state is not None else SharedState()
        self._queue: list[tuple[bytes, dict[str, Any]]] = []  # (idempotency key, entry)
        self._queue_lock = threading.Lock()
        self._storing = threading.Lock()  # one batch at a time: entries reach the table in queue order
        folder = self._state.directory
        self._marks = QueueMarks(folder) if folder is not None else None
        # A database shared by hosts: no file beside it tells a read what other hosts still have
        # queued, so each entry is stored before its response goes out (queued while it is down).
        self._at_once = self._state.shared_by_hosts

    def record(self, **fields: Any) -> None:
        with self._queue_lock:
            self._queue.append((os.urandom(16), fields))  # its key: stored once however often retried
            if self._marks is not None:
                self._marks.queued(1)
        if self._at_once:
            with contextlib.suppress(StateUnavailable):  # kept queued: the writer stores it later
                self.store()
                return
        _WRITER.wake(self)

    def flush(self) -> None:
        """Store every entry queued so far in this process, and wait (a little) for other workers'."""
        self.store()
        if self._marks is not None:
            self._marks.wait_for_others(FLUSH_WAIT_SECONDS)

    def store(self) -> None:
        """Store this process's queued entries, in order."""
        with self._storing:
            with self._queue_lock:
                batch, self._queue = self._queue, []
            if not batch:
                return
            try:
                self._state.append_journal_many([e for _, e in batch], [k for k, _ in batch])
            except BaseException:
                with self._queue_lock:  # keep them for the next try, still first
                    self._queue[:0] = batch
                raise
            if self._marks is not None:
                self._marks.stored(len(batch))

    def clear(self) -> None:
        self.flush()  # requests answered before the clear go too
        self._state.clear_journal()

    def entries(self, *, operation: str | None = None, path: str | None = None, path_prefix: str | None = None,
                method: str | None = None, status: int | None = None,
                unmatched: bool | None = None) -> list[JournalEntry]:
        """Entries matching every given criterion, oldest first (``unmatched=True``: only the
        requests nothing matched, each with its near miss)."""
        self.flush()
        found = [JournalEntry(seq=seq, **fields) for seq, fields in self._state.journal()]
        return [e for e in found
                if (operation is None or e.operation == operation)
                and (path is None or e.path == path)
                and (path_prefix is None or e.path.startswith(path_prefix))
                and (method is None or e.method == method)
                and (status is None or e.status == status)
                and (unmatched is None or bool(e.unmatched) == unmatched)]

    def newest(self, limit: int | None = None, before: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        """``(seq, fields)`` of the entries newest first, at most ``limit``, older than ``before``: a page of a
        long journal without building every entry (``JournalEntry(seq=seq, **fields)`` for those shown)."""
        self.flush()
        return self._state.journal_newest(limit, before)

    def size(self) -> int:
        """How many entries the journal holds."""
        self.flush()
        return self._state.journal_size()

    def verify(self, count: int | None = None, **criteria: Any) -> list[JournalEntry]:
        """Assert how many requests matched (at least one when ``count`` is None)."""
        found = self.entries(**criteria)
        if (count is None and not found) or (count is not None and len(found) != count):
            wanted = "at least 1" if count is None else str(count)
            seen = ", ".join(f"{e.method} {e.path} ({e.operation})" for e in self.entries()[-10:])
            raise VerificationError(f"expected {wanted} request(s) matching {criteria}, found {len(found)}; "
                                    f"last requests: {seen or 'none'}")
        return found

    def exports_created(self) -> list[dict]:
        """The ``input`` of every export creation, oldest first."""
        return [e.variables.get("input") for e in self.entries(operation="exportDataRowsInProjectPyApi")
                if isinstance(e.variables, dict)]


class _Writer:
    """One thread per process storing the queued entries of every journal that has some
    (a journal is referenced here only while it has entries to store).

    Woken by the first entry after it went idle, it lets entries gather for ``BATCH_SECONDS``
    and stores them together: a busy server pays one wake-up and one transaction a batch.
    """

    BATCH_SECONDS = 0.05

    def __init__(self) -> None:
        self._waiting: dict[int, Journal] = {}
        self._wakeup = threading.Condition(threading.Lock())
        self._pid = 0

    def wake(self, journal: Journal) -> None:
        with self._wakeup:
            idle = not self._waiting
            self._waiting[id(journal)] = journal
            if self._pid != os.getpid():  # first use in this process, or a fork of it
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="lbmock-journal", daemon=True).start()
            if idle:
                self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._waiting:
                    self._wakeup.wait()
            time.sleep(self.BATCH_SECONDS)
            with self._wakeup:
                journals, self._waiting = list(self._waiting.values()), {}
            for journal in journals:
                try:
                    journal.store()
                except StateUnavailable as exc:  # the database is down: try again in a while
                    log.warning("lbmock: journal entries kept queued: %s", exc)
                    time.sleep(1.0)
                    _WRITER.wake(journal)
                except Exception:  # the entries stay queued: the next request or read stores them
                    log.exception("lbmock: storing journal entries failed")
                    time.sleep(0.1)


_WRITER = _Writer()


class QueueMarks:
    """How many journal entries each worker process has queued and stored: two counters in a
    small memory-mapped file per process beside the state file (no SQLite write per request).

    A read waits until every other live worker has stored what it had queued when the read
    began; a worker that died takes its queue with it (its file is removed).
    """

    _FORMAT = "<QQ"  # queued, stored

    def __init__(self, folder: str) -> None:
        self._folder = Path(folder)
        self._pid = 0
        self._map: mmap.mmap | None = None
        self._lock = threading.Lock()

    def _own(self) -> mmap.mmap:
        if self._pid != os.getpid():  # first use in this process (or in a fork of it)
            path = self._folder / f"journal-queue-{os.getpid()}.bin"
            path.write_bytes(bytes(struct.calcsize(self._FORMAT)))
            with open(path, "r+b") as f:
                self._map = mmap.mmap(f.fileno(), 0)
            self._pid = os.getpid()
        assert self._map is not None
        return self._map

    def _add(self, field: int, n: int) -> None:
        with self._lock:
            counters = list(struct.unpack_from(self._FORMAT, self._own()))
            counters[field] += n
            struct.pack_into(self._FORMAT, self._own(), 0, *counters)

    def queued(self, n: int) -> None:
        self._add(0, n)

    def stored(self, n: int) -> None:
        self._add(1, n)

    def _others(self) -> dict[Path, int]:
        """Each other worker's file and how many entries it had queued."""
        found = {}
        for path in self._folder.glob("journal-queue-*.bin"):
            pid = int(path.stem.rsplit("-", 1)[1])
            if pid == os.getpid():
                continue
            if not pid_alive(pid):
                path.unlink(missing_ok=True)
                continue
            with contextlib.suppress(OSError, struct.error):
                found[path] = struct.unpack(self._FORMAT, path.read_bytes())[0]
        return found

    def wait_for_others(self, timeout: float) -> None:
        waiting = self._others()
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for path, queued in list(waiting.items()):
                try:
                    stored = struct.unpack(self._FORMAT, path.read_bytes())[1]
                except (OSError, struct.error):
                    stored = queued  # gone: nothing left to wait for
                if stored >= queued:
                    del waiting[path]
            if waiting:
                time.sleep(0.001)
