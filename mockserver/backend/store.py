"""The mock's only mutable state, in SQLite, so many workers share it.

What a client creates (export tasks, legacy exports), what it is owed
(poll counters), the faults in force, the journal and which world is served
live in a few small tables.  Everything else — rows, export files, byte
offsets, masks — is *derived* from the seed and a task's spec, identically
in any worker, so workers never ship payloads to each other.

One process uses a private in-memory database; ``lbmock serve --workers N``
points every worker at one file (WAL mode).  Several hosts behind a load
balancer share one PostgreSQL database instead (``store_pg.PostgresStore``):
:class:`Store` below is the whole interface (a handful of keyed reads and
atomic updates), and ``state.open_state`` picks the engine from ``--state``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import uuid
from typing import Any, Protocol

import orjson

MAX_TASKS = 1000  # live export tasks kept; the oldest expire first
MAX_LEGACY = 1000
MAX_JOURNAL = 10_000
MAX_ANNOUNCED = 10_000  # unmatched reasons remembered as announced (16-byte digests); the oldest go first

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, owner TEXT NOT NULL, spec BLOB NOT NULL,
                                  refreshes INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL, advanced TEXT);
CREATE INDEX IF NOT EXISTS tasks_owner ON tasks(owner, seq);
CREATE TABLE IF NOT EXISTS legacy (key TEXT PRIMARY KEY, id TEXT UNIQUE NOT NULL, spec BLOB NOT NULL,
                                   polls INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS faults (name TEXT PRIMARY KEY, arg INTEGER, remaining INTEGER, arg2 INTEGER,
                                   uses INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS world (one INTEGER PRIMARY KEY CHECK (one = 1), spec BLOB NOT NULL,
                                  version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS transitions (model TEXT PRIMARY KEY, spec BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
DROP TABLE IF EXISTS unmatched;
CREATE TABLE IF NOT EXISTS announced (seq INTEGER PRIMARY KEY AUTOINCREMENT, key BLOB UNIQUE NOT NULL);
"""


def create_private(path: str) -> None:
    """Create the file at ``path`` readable by its owner only (mode 0600), unless it exists."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:  # a missing folder, a directory: said as SQLite would
        raise sqlite3.OperationalError(f"unable to open database file: {exc.strerror or exc}") from None



def announced_key(reason: str) -> bytes:
    """What the state keeps of an announced unmatched reason: a 16-byte digest."""
    return hashlib.blake2b(reason.encode("utf-8", "replace"), digest_size=16).digest()


class Store(Protocol):
    """What the backend's parts ask of the shared state, whichever engine holds it."""

    directory: str | None  # a folder beside the state that this host's workers share, or None
    shared_by_hosts: bool  # whether processes on other machines use the same state

    def put_task(self, task_id: str, owner: str, spec: dict) -> None: ...
    def get_task(self, task_id: str) -> tuple[str, dict, int, str | None] | None: ...
    def has_task(self, task_id: str) -> bool: ...
    def advance_task(self, task_id: str, status: str) -> bool: ...
    def task_ids_of(self, owner: str) -> list[str]: ...
    def recent_task_ids(self, limit: int | None = None) -> list[str]: ...
    def unfinished_tasks(self) -> list[tuple[str, str, dict, int, str | None]]: ...
    def bump_refresh(self, task_id: str) -> None: ...
    def legacy_poll(self, key: str, new_id: str, spec: dict) -> tuple[str, dict, int]: ...
    def get_legacy(self, export_id: str) -> dict | None: ...
    def set_fault(self, name: str, arg: int | None, remaining: int | None, arg2: int | None = None) -> None: ...
    def clear_faults(self, name: str | None = None) -> None: ...
    def take_fault(self, name: str) -> tuple[int | None, int | None, int | None, int] | None: ...
    def any_fault(self) -> bool: ...
    def has_fault(self, name: str) -> bool: ...
    def faults(self) -> list[tuple[str, int | None, int | None, int | None, int]]: ...
    def set_transition(self, model: str, spec: dict) -> None: ...
    def transition(self, model: str) -> dict | None: ...
    def unset_transitions(self, model: str | None) -> None: ...
    def append_journal_many(self, entries: list[dict]) -> None: ...
    def journal(self) -> list[tuple[int, dict]]: ...
    def journal_newest(self, limit: int | None = None, before: int | None = None) -> list[tuple[int, dict]]: ...
    def journal_size(self) -> int: ...
    def clear_journal(self) -> None: ...
    def first_unmatched(self, reason: str) -> bool: ...
    def setting(self, key: str, default: bytes) -> bytes: ...
    def put_setting(self, key: str, value: bytes) -> None: ...
    def take_setting(self, key: str, value: bytes) -> bool: ...
    def has_setting(self, key: str) -> bool: ...
    def summary(self) -> dict: ...
    def set_world(self, spec: dict | None) -> int: ...
    def world(self) -> tuple[dict | None, int]: ...
    def ping(self) -> None: ...


IMMEDIATE_SPEC = b'"progression":"immediate"'  # in a task's spec (orjson: no spaces): finished at its first read
_WINDOW = "seq > (SELECT COALESCE(MAX(seq), 0) FROM journal) - ?"  # the journal's last MAX_JOURNAL entries


class KeyedTables:
    """The statements both engines run alike, in one spelling (``?`` placeholders: the PostgreSQL
    store translates them).  Each engine supplies ``_one``, ``_all`` and ``_write`` (with its own
    retries), and writes what its dialect spells otherwise: counters, upserts, transactions."""

    _NO_LIMIT: Any = -1  # what LIMIT takes for "all rows"

    def _one(self, sql: str, params: tuple = ()) -> Any:
        raise NotImplementedError

    def _all(self, sql: str, params: tuple = ()) -> list:
        raise NotImplementedError

    def _write(self, sql: str, params: tuple = ()) -> int:
        """Run one statement; how many rows it changed."""
        raise NotImplementedError

    def get_task(self, task_id: str) -> tuple[str, dict, int, str | None] | None:
        """(owner, spec, status reads, status it was advanced to by hand or None)."""
        row = self._one("SELECT owner, spec, refreshes, advanced FROM tasks WHERE id = ?", (task_id,))
        return None if row is None else (row[0], orjson.loads(row[1]), row[2], row[3])

    def has_task(self, task_id: str) -> bool:
        return self._one("SELECT 1 FROM tasks WHERE id = ?", (task_id,)) is not None

    def advance_task(self, task_id: str, status: str) -> bool:
        """Move a task on by hand (``POST /_mock/tasks/<id>/advance``); False if there is no such task."""
        return self._write("UPDATE tasks SET advanced = ? WHERE id = ?", (status, task_id)) > 0

    def task_ids_of(self, owner: str) -> list[str]:
        return [r[0] for r in self._all("SELECT id FROM tasks WHERE owner = ? ORDER BY seq", (owner,))]

    def recent_task_ids(self, limit: int | None = None) -> list[str]:
        """Every client's tasks, newest first (at most ``limit``): the dashboard lists them."""
        rows = self._all("SELECT id FROM tasks ORDER BY seq DESC LIMIT ?",
                         (self._NO_LIMIT if limit is None else limit,))
        return [r[0] for r in rows]

    def unfinished_tasks(self) -> list[tuple[str, str, dict, int, str | None]]:
        """(id, owner, spec, status reads, None) of every task that may still be running: not moved on
        by hand, and not on the immediate transition (finished at its first read: most tasks, skipped
        before their spec is parsed)."""
        rows = self._all("SELECT id, owner, spec, refreshes FROM tasks WHERE advanced IS NULL")
        return [(r[0], r[1], orjson.loads(bytes(r[2])), r[3], None) for r in rows
                if IMMEDIATE_SPEC not in bytes(r[2])]

    def bump_refresh(self, task_id: str) -> None:
        self._write("UPDATE tasks SET refreshes = refreshes + 1 WHERE id = ?", (task_id,))

    def get_legacy(self, export_id: str) -> dict | None:
        row = self._one("SELECT spec FROM legacy WHERE id = ?", (export_id,))
        return None if row is None else orjson.loads(row[0])

    def clear_faults(self, name: str | None = None) -> None:
        if name is None:
            self._write("DELETE FROM faults")
        else:
            self._write("DELETE FROM faults WHERE name = ?", (name,))

    def has_fault(self, name: str) -> bool:
        return self._one("SELECT 1 FROM faults WHERE name = ?", (name,)) is not None

    def faults(self) -> list[tuple[str, int | None, int | None, int | None, int]]:
        """(name, arg, remaining, arg2, uses) of every fault in force."""
        return self._all("SELECT name, arg, remaining, arg2, uses FROM faults ORDER BY name")

    def transition(self, model: str) -> dict | None:
        row = self._one("SELECT spec FROM transitions WHERE model = ?", (model,))
        return None if row is None else orjson.loads(row[0])

    def unset_transitions(self, model: str | None) -> None:
        if model is None:
            self._write("DELETE FROM transitions")
        else:
            self._write("DELETE FROM transitions WHERE model = ?", (model,))

    def journal(self) -> list[tuple[int, dict]]:
        rows = self._all(f"SELECT seq, entry FROM journal WHERE {_WINDOW} ORDER BY seq", (MAX_JOURNAL,))
        return [(seq, orjson.loads(entry)) for seq, entry in rows]

    def journal_newest(self, limit: int | None = None, before: int | None = None) -> list[tuple[int, dict]]:
        """The journal newest first (the same window as :meth:`journal`): at most ``limit`` entries,
        older than sequence number ``before``; a page of a long journal reads only its rows."""
        rows = self._all(f"SELECT seq, entry FROM journal WHERE {_WINDOW} AND seq < ? ORDER BY seq DESC LIMIT ?",
                         (MAX_JOURNAL, 2**62 if before is None else before, self._NO_LIMIT if limit is None else limit))
        return [(seq, orjson.loads(entry)) for seq, entry in rows]

    def journal_size(self) -> int:
        return self._one(f"SELECT COUNT(*) FROM journal WHERE {_WINDOW}", (MAX_JOURNAL,))[0]

    def take_setting(self, key: str, value: bytes) -> bool:
        """Delete ``key`` if it holds ``value``; whether it did (one taker wins, across workers and hosts)."""
        return self._write("DELETE FROM meta WHERE key = ? AND value = ?", (key, value)) > 0

    def has_setting(self, key: str) -> bool:
        return self._one("SELECT 1 FROM meta WHERE key = ?", (key,)) is not None

    def summary(self) -> dict:
        """What the state holds, for a resuming server's banner."""
        def count(table: str) -> int:
            return self._one(f"SELECT COUNT(*) FROM {table}")[0]

        return {"tasks": count("tasks"), "journal": count("journal"), "faults": [f[0] for f in self.faults()]}


class SqliteStore(KeyedTables):
    """Thread- and process-safe state; one connection per thread."""

    shared_by_hosts = False

    def __init__(self, path: str | None = None) -> None:
        if path is None:
            self._uri = f"file:lbmock-{uuid.uuid4().hex}?mode=memory&cache=shared"
        else:
            if not path:
                raise sqlite3.OperationalError("the state file's path is empty")
            # Always a path, never a URI ('c#d.sqlite' is that file); made private first: it holds
            # the signing key and the journal (SQLite gives its -wal and -shm files the same mode).
            path = os.path.abspath(path)
            create_private(path)
            self._uri = path
        self._local = threading.local()
        self._memory = path is None
        self.directory = None if path is None else os.path.dirname(os.path.abspath(path))
        self._memory_lock = threading.RLock()
        self._reads: dict[str, Any] = {}  # see _hot_read
        self._anchor = self._connect()  # keeps a shared in-memory database alive
        with self._anchor:
            self._anchor.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._uri, uri=self._memory, timeout=30, isolation_level=None,
                               check_same_thread=False)
        if not self._memory:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        else:
            conn.execute("PRAGMA read_uncommitted=0")
        return conn

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            # never use a connection inherited across fork (gunicorn workers)
            conn = self._local.conn = self._connect()
            self._local.pid = os.getpid()
        return conn

    def _write(self, sql: str, params: tuple = ()) -> int:
        return self._retrying(lambda: self._written(self.db.execute(sql, params).rowcount))

    def _one(self, sql: str, params: tuple = ()) -> Any:
        return self._retrying(lambda: self.db.execute(sql, params).fetchone())

    def _all(self, sql: str, params: tuple = ()) -> list:
        return self._retrying(lambda: self.db.execute(sql, params).fetchall())

    def _written(self, result: Any) -> Any:
        self._reads.clear()  # (under the lock with the write itself, in memory mode)
        return result

    def _hot_read(self, name: str, read: Any) -> Any:
        """``read()``, remembered until the next write when this process alone holds the state
        (every request asks whether a fault is set and which world is served)."""
        if not self._memory:
            return read()
        with self._memory_lock:
            if name not in self._reads:
                self._reads[name] = read()
            return self._reads[name]

    def _transaction(self, body: Any) -> Any:
        def run() -> Any:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                result = body(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return self._written(result)

        return self._retrying(run)

    def _retrying(self, action: Any) -> Any:
        # A private in-memory database lives in this process only: one lock
        # serialises it (shared-cache SQLite answers "locked" instead of waiting).
        # A file database is shared by workers: back off and retry when busy.
        if self._memory:
            with self._memory_lock:
                return action()
        delay = 0.002
        for attempt in range(60):
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == 59:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")

    def _next(self, db: sqlite3.Connection, name: str) -> int:
        db.execute("INSERT INTO counters(name, value) VALUES (?, 1) "
                   "ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,))
        return db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]

    # ------------------------------------------------------------ tasks

    def put_task(self, task_id: str, owner: str, spec: dict) -> None:
        def body(db: sqlite3.Connection) -> None:
            seq = self._next(db, "tasks")
            db.execute("INSERT INTO tasks(id, owner, spec, seq) VALUES (?, ?, ?, ?)",
                       (task_id, owner, orjson.dumps(spec), seq))
            db.execute("DELETE FROM tasks WHERE seq <= ?", (seq - MAX_TASKS,))

        self._transaction(body)

    # ------------------------------------------------------------ legacy exports

    def legacy_poll(self, key: str, new_id: str, spec: dict) -> tuple[str, dict, int]:
        """(export id, its spec, polls so far including this one) for a client's export of a window;
        ``new_id`` and ``spec`` start the export if this is its first poll."""

        def body(db: sqlite3.Connection) -> tuple[str, dict, int]:
            row = db.execute("SELECT id, spec, polls FROM legacy WHERE key = ?", (key,)).fetchone()
            if row is None:
                seq = self._next(db, "legacy")
                db.execute("INSERT INTO legacy(key, id, spec, polls, seq) VALUES (?, ?, ?, 1, ?)",
                           (key, new_id, orjson.dumps(spec), seq))
                db.execute("DELETE FROM legacy WHERE seq <= ?", (seq - MAX_LEGACY,))
                return new_id, spec, 1
            db.execute("UPDATE legacy SET polls = polls + 1 WHERE key = ?", (key,))
            return row[0], orjson.loads(row[1]), row[2] + 1

        return self._transaction(body)

    # ------------------------------------------------------------ faults

    def set_fault(self, name: str, arg: int | None, remaining: int | None, arg2: int | None = None) -> None:
        self._write("INSERT OR REPLACE INTO faults(name, arg, remaining, arg2) VALUES (?, ?, ?, ?)",
                    (name, arg, remaining, arg2))

    def take_fault(self, name: str) -> tuple[int | None, int | None, int | None, int] | None:
        """(arg, arg2, remaining before this use, uses including this one) of an active fault,
        using it up once; None if inactive."""

        def body(db: sqlite3.Connection) -> tuple[int | None, int | None, int | None, int] | None:
            row = db.execute("SELECT arg, arg2, remaining, uses FROM faults WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            if row[2] is not None and row[2] <= 1:
                db.execute("DELETE FROM faults WHERE name = ?", (name,))
            else:
                db.execute("UPDATE faults SET remaining = remaining - 1, uses = uses + 1 WHERE name = ?", (name,))
            return row[0], row[1], row[2], row[3] + 1

        if not self.any_fault():  # cheap read first: almost every request meets no fault
            return None
        return self._transaction(body)

    def any_fault(self) -> bool:
        return self._hot_read("any_fault", lambda: self._retrying(
            lambda: self.db.execute("SELECT 1 FROM faults LIMIT 1").fetchone()) is not None)

    # ------------------------------------------------------------ state-manager transitions

    def set_transition(self, model: str, spec: dict) -> None:
        self._write("INSERT OR REPLACE INTO transitions(model, spec) VALUES (?, ?)", (model, orjson.dumps(spec)))

    # ------------------------------------------------------------ journal

    def append_journal_many(self, entries: list[dict]) -> None:
        """Store ``entries`` in order, in one transaction."""

        def body(db: sqlite3.Connection) -> None:
            before = db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]
            db.executemany("INSERT INTO journal(entry) VALUES (?)", [(orjson.dumps(e),) for e in entries])
            last = before + len(entries)
            if last // 100 != before // 100:  # trim now and then, not on every batch
                db.execute("DELETE FROM journal WHERE seq <= ?", (last - MAX_JOURNAL,))

        self._transaction(body)

    def clear_journal(self) -> None:
        """Forget the journal, and which unmatched reasons were announced (they are again, once)."""
        def body(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM journal")
            db.execute("DELETE FROM announced")

        self._transaction(body)

    # ------------------------------------------------------------ unmatched requests

    def first_unmatched(self, reason: str) -> bool:
        """True the first time any worker reports ``reason`` (each is announced once).  Kept as a
        digest, at most MAX_ANNOUNCED of them: hostile clients can make endless distinct reasons."""
        key = announced_key(reason)

        def body(db: sqlite3.Connection) -> bool:
            added = db.execute("INSERT OR IGNORE INTO announced(key) VALUES (?)", (key,))
            if added.rowcount == 0:
                return False
            db.execute("DELETE FROM announced WHERE seq <= "
                       "(SELECT seq FROM announced ORDER BY seq DESC LIMIT 1 OFFSET ?)", (MAX_ANNOUNCED,))
            return True

        return self._transaction(body)

    # ------------------------------------------------------------ what the state was made with

    def setting(self, key: str, default: bytes) -> bytes:
        """The value stored under ``key``; ``default`` is stored first if there is none, so every
        worker, and every later start on the same file, reads the first writer's value."""
        self._write("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, default))
        return self._retrying(lambda: self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone())[0]

    def put_setting(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        self._write("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def ping(self) -> None:
        """Raise if the state cannot be read (the health check)."""
        self._retrying(lambda: self.db.execute("SELECT 1").fetchone())

    # ------------------------------------------------------------ world and reset

    def set_world(self, spec: dict | None) -> int:
        """Record which world is served (None: the one the server started with); returns its version."""

        def body(db: sqlite3.Connection) -> int:
            version = self._next(db, "world")
            db.execute("INSERT OR REPLACE INTO world(one, spec, version) VALUES (1, ?, ?)",
                       (orjson.dumps(spec), version))
            db.execute("DELETE FROM tasks")
            db.execute("DELETE FROM legacy")
            return version

        return self._transaction(body)

    def world(self) -> tuple[dict | None, int]:
        row = self._hot_read("world", lambda: self._retrying(
            lambda: self.db.execute("SELECT spec, version FROM world WHERE one = 1").fetchone()))
        return (None, 0) if row is None else (orjson.loads(row[0]), row[1])


SharedState = SqliteStore  # the name the backend's parts and tests knew it by
