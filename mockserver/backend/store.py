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
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

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
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry BLOB NOT NULL, rid BLOB);
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
    def unfinished_tasks(self) -> list[UnfinishedTask]: ...
    def create_task(self, task_id: str, owner: str, make_spec: MakeSpec) -> dict: ...
    def bump_refresh(self, task_id: str) -> None: ...
    def legacy_poll(self, key: str, new_id: str, spec: dict) -> tuple[str, dict, int]: ...
    def get_legacy(self, export_id: str) -> dict | None: ...
    def set_fault(self, name: str, arg: int | None, remaining: int | None, arg2: int | None = None) -> None: ...
    def clear_faults(self, name: str | None = None) -> None: ...
    def take_fault(self, name: str) -> TakenFault | None: ...
    def any_fault(self) -> bool: ...
    def has_fault(self, name: str) -> bool: ...
    def faults(self) -> list[tuple[str, int | None, int | None, int | None, int]]: ...
    def set_transition(self, model: str, spec: dict) -> None: ...
    def transition(self, model: str) -> dict | None: ...
    def unset_transitions(self, model: str | None) -> None: ...
    def append_journal_many(self, entries: list[dict], keys: Sequence[bytes] | None = None) -> None: ...
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

T = TypeVar("T")
UnfinishedTask = tuple[str, str, dict, int, None]  # (id, owner, spec, status reads, advanced: None)
TakenFault = tuple[int | None, int | None, int | None, int]  # (arg, arg2, remaining before this use, uses)
# create_task's callback: (unfinished tasks, take_fault) -> the new task's spec, or raise to refuse it
MakeSpec = Callable[[list[UnfinishedTask], Callable[[str], TakenFault | None]], dict]
_UNFINISHED = "SELECT id, owner, spec, refreshes FROM tasks WHERE advanced IS NULL"


def _unfinished(rows: list) -> list[UnfinishedTask]:
    return [(r[0], r[1], orjson.loads(bytes(r[2])), r[3], None) for r in rows if IMMEDIATE_SPEC not in bytes(r[2])]


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list: ...


class Tx(Protocol):
    """One transaction's statements, spelled with ``?`` placeholders whatever the engine."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...


class KeyedTables:
    """Every statement of the shared state, in one spelling that SQLite and PostgreSQL both run
    (``?`` placeholders, ``ON CONFLICT`` upserts, ``RETURNING``).  An engine supplies only what its
    dialect or its failure modes make different: ``_one``, ``_all`` and ``_write`` (one statement,
    with its own retries), ``_transaction`` (its way to begin, and for a database over a network,
    idempotent retries: ``once``), ``_hot_read`` and ``_NO_LIMIT``."""

    _NO_LIMIT: Any = -1  # what LIMIT takes for "all rows"
    # Whether a commit's acknowledgement can be lost (a database over a network): only then do
    # writes carry idempotency keys (an in-process engine's commit returns or raises, and keys cost).
    acks_can_be_lost = False
    _journaled = 0  # journal entries this process stored (it trims the journal every 100)

    def _one(self, sql: str, params: tuple = ()) -> Any:
        raise NotImplementedError

    def _all(self, sql: str, params: tuple = ()) -> list:
        raise NotImplementedError

    def _write(self, sql: str, params: tuple = ()) -> int:
        """Run one statement; how many rows it changed.  Only for writes that a repeat leaves as
        they were (set, replace, delete by key): the others go through ``_transaction(once=True)``."""
        raise NotImplementedError

    def _transaction(self, body: Callable[[Tx], T], once: bool = False) -> T:
        """``body`` in one transaction.  ``once``: applied once though the engine retries it after
        losing the commit's acknowledgement (its result is then the first attempt's)."""
        raise NotImplementedError

    def _hot_read(self, name: str, read: Callable[[], T]) -> T:
        """``read()``; an engine may remember it until its next write."""
        return read()

    @staticmethod
    def _next(db: Tx, name: str) -> int:
        return db.execute("INSERT INTO counters(name, value) VALUES (?, 1) "
                          "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                          (name,)).fetchall()[0][0]

    # ------------------------------------------------------------ tasks

    def put_task(self, task_id: str, owner: str, spec: dict) -> None:
        self._transaction(lambda db: self._insert_task(db, self._next(db, "tasks"), task_id, owner, spec), once=True)

    def create_task(self, task_id: str, owner: str, make_spec: MakeSpec) -> dict:
        """Create a task unless ``make_spec`` refuses it, in one transaction that creations take one at
        a time, on every engine and host: its first statement bumps the task counter, whose row lock
        PostgreSQL holds to COMMIT (a second creation waits there, then reads what the first wrote);
        SQLite's BEGIN IMMEDIATE, and the in-memory database's lock, serialise the whole transaction.

        ``make_spec(unfinished, take_fault)`` gets every task that may still run (as
        :meth:`unfinished_tasks`) and a ``take_fault(name)`` using faults up in the same transaction (as
        :meth:`take_fault`); it returns the new task's spec, or raises to refuse it: then nothing is
        written and no fault is used.  Returns the spec stored."""

        def body(db: Tx) -> dict:
            seq = self._next(db, "tasks")  # first: the lock every creation queues on
            unfinished = _unfinished(db.execute(_UNFINISHED).fetchall())
            faulted = db.execute("SELECT 1 FROM faults LIMIT 1").fetchone() is not None
            spec = make_spec(unfinished, lambda name: self._take_fault(db, name) if faulted else None)
            self._insert_task(db, seq, task_id, owner, spec)
            return spec

        return self._transaction(body, once=True)

    @staticmethod
    def _insert_task(db: Tx, seq: int, task_id: str, owner: str, spec: dict) -> None:
        db.execute("INSERT INTO tasks(id, owner, spec, seq) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                   (task_id, owner, orjson.dumps(spec), seq))
        db.execute("DELETE FROM tasks WHERE seq <= ?", (seq - MAX_TASKS,))

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

    def unfinished_tasks(self) -> list[UnfinishedTask]:
        """(id, owner, spec, status reads, None) of every task that may still be running: not moved on
        by hand, and not on the immediate transition (finished at its first read: most tasks, skipped
        before their spec is parsed)."""
        return _unfinished(self._all(_UNFINISHED))

    def _write_once(self, sql: str, params: tuple) -> int:
        """One statement that a repeat would change (a count, a take); how many rows it changed.
        Keyed (``_transaction(once=True)``) where a commit's acknowledgement can be lost."""
        if not self.acks_can_be_lost:
            return self._write(sql, params)
        return self._transaction(lambda db: db.execute(sql, params).rowcount, once=True)

    def bump_refresh(self, task_id: str) -> None:
        """Count one status read (``manual:N`` progressions count them across hosts: each once)."""
        self._write_once("UPDATE tasks SET refreshes = refreshes + 1 WHERE id = ?", (task_id,))

    # ------------------------------------------------------------ legacy exports

    def legacy_poll(self, key: str, new_id: str, spec: dict) -> tuple[str, dict, int]:
        """(export id, its spec, polls so far including this one) for a client's export of a window;
        ``new_id`` and ``spec`` start the export if this is its first poll."""

        def body(db: Tx) -> tuple[str, dict, int]:
            rows = db.execute("UPDATE legacy SET polls = polls + 1 WHERE key = ? RETURNING id, spec, polls",
                              (key,)).fetchall()
            if not rows:  # the first poll (or one racing it on another host: the upsert counts it)
                seq = self._next(db, "legacy")
                rows = db.execute("INSERT INTO legacy(key, id, spec, polls, seq) VALUES (?, ?, ?, 1, ?) "
                                  "ON CONFLICT (key) DO UPDATE SET polls = legacy.polls + 1 RETURNING id, spec, polls",
                                  (key, new_id, orjson.dumps(spec), seq)).fetchall()
                db.execute("DELETE FROM legacy WHERE seq <= ?", (seq - MAX_LEGACY,))
            export_id, stored, polls = rows[0]
            return export_id, orjson.loads(stored), polls

        return self._transaction(body, once=True)

    def get_legacy(self, export_id: str) -> dict | None:
        row = self._one("SELECT spec FROM legacy WHERE id = ?", (export_id,))
        return None if row is None else orjson.loads(row[0])

    # ------------------------------------------------------------ faults

    def set_fault(self, name: str, arg: int | None, remaining: int | None, arg2: int | None = None) -> None:
        """Set a fault; set again, its count of uses starts afresh."""
        self._write("INSERT INTO faults(name, arg, remaining, arg2, uses) VALUES (?, ?, ?, ?, 0) "
                    "ON CONFLICT (name) DO UPDATE SET arg = excluded.arg, remaining = excluded.remaining, "
                    "arg2 = excluded.arg2, uses = 0", (name, arg, remaining, arg2))

    def clear_faults(self, name: str | None = None) -> None:
        if name is None:
            self._write("DELETE FROM faults")
        else:
            self._write("DELETE FROM faults WHERE name = ?", (name,))

    def take_fault(self, name: str) -> TakenFault | None:
        """(arg, arg2, remaining before this use, uses including this one) of an active fault,
        using it up once; None if inactive.  One UPDATE does it: takers on several hosts queue on
        the row, and each gets its own use."""
        if not self.any_fault():  # cheap read first: almost every request meets no fault
            return None
        return self._transaction(lambda db: self._take_fault(db, name), once=True)

    @staticmethod
    def _take_fault(db: Tx, name: str) -> TakenFault | None:
        rows = db.execute("UPDATE faults SET remaining = remaining - 1, uses = uses + 1 WHERE name = ? "
                          "RETURNING arg, arg2, remaining, uses", (name,)).fetchall()
        if not rows:
            return None
        arg, arg2, left, uses = rows[0]
        if left is not None and left <= 0:
            db.execute("DELETE FROM faults WHERE name = ?", (name,))
        return arg, arg2, None if left is None else left + 1, uses

    def any_fault(self) -> bool:
        return self._hot_read("any_fault", lambda: self._one("SELECT 1 FROM faults LIMIT 1") is not None)

    def has_fault(self, name: str) -> bool:
        return self._one("SELECT 1 FROM faults WHERE name = ?", (name,)) is not None

    def faults(self) -> list[tuple[str, int | None, int | None, int | None, int]]:
        """(name, arg, remaining, arg2, uses) of every fault in force."""
        return self._all("SELECT name, arg, remaining, arg2, uses FROM faults ORDER BY name")

    # ------------------------------------------------------------ state-manager transitions

    def set_transition(self, model: str, spec: dict) -> None:
        self._write("INSERT INTO transitions(model, spec) VALUES (?, ?) "
                    "ON CONFLICT (model) DO UPDATE SET spec = excluded.spec", (model, orjson.dumps(spec)))

    def transition(self, model: str) -> dict | None:
        row = self._one("SELECT spec FROM transitions WHERE model = ?", (model,))
        return None if row is None else orjson.loads(row[0])

    def unset_transitions(self, model: str | None) -> None:
        if model is None:
            self._write("DELETE FROM transitions")
        else:
            self._write("DELETE FROM transitions WHERE model = ?", (model,))

    # ------------------------------------------------------------ journal

    def append_journal_many(self, entries: list[dict], keys: Sequence[bytes] | None = None) -> None:
        """Store ``entries`` in order, in one transaction.  ``keys`` (one per entry, made when the
        request was answered; fresh ones if not given) make storing an entry twice store it once."""
        if not entries:
            return
        if not self.acks_can_be_lost:  # no keys: NULLs never conflict (nor enter SQLite's index)
            keys = [None] * len(entries)  # type: ignore[list-item]
        elif keys is None:
            keys = [os.urandom(16) for _ in entries]
        rows = list(zip(keys, (orjson.dumps(e) for e in entries), strict=True))
        before = self._journaled
        self._journaled = after = before + len(rows)

        def body(db: Tx) -> None:
            db.executemany("INSERT INTO journal(rid, entry) VALUES (?, ?) "
                           "ON CONFLICT (rid) WHERE rid IS NOT NULL DO NOTHING", rows)
            if after // 100 != before // 100:  # trim now and then (each process), not on every batch
                db.execute("DELETE FROM journal WHERE seq <= (SELECT MAX(seq) FROM journal) - ?", (MAX_JOURNAL,))

        self._transaction(body)

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

    def clear_journal(self) -> None:
        """Forget the journal, and which unmatched reasons were announced (they are again, once)."""
        def body(db: Tx) -> None:
            db.execute("DELETE FROM journal")
            db.execute("DELETE FROM announced")

        self._transaction(body)

    # ------------------------------------------------------------ unmatched requests

    def first_unmatched(self, reason: str) -> bool:
        """True the first time any worker or host reports ``reason`` (each is announced once).  Kept
        as a digest, at most MAX_ANNOUNCED of them: hostile clients can make endless distinct reasons."""
        key = announced_key(reason)

        def body(db: Tx) -> bool:
            if db.execute("INSERT INTO announced(key) VALUES (?) ON CONFLICT DO NOTHING", (key,)).rowcount == 0:
                return False
            db.execute("DELETE FROM announced WHERE seq <= "
                       "(SELECT seq FROM announced ORDER BY seq DESC LIMIT 1 OFFSET ?)", (MAX_ANNOUNCED,))
            return True

        return self._transaction(body, once=True)

    # ------------------------------------------------------------ what the state was made with

    def setting(self, key: str, default: bytes) -> bytes:
        """The value stored under ``key``; ``default`` is stored first if there is none, so every
        worker, every host and every later start on the same state reads the first writer's value."""
        self._write("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (key, default))
        return bytes(self._one("SELECT value FROM meta WHERE key = ?", (key,))[0])

    def put_setting(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        self._write("INSERT INTO meta(key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def take_setting(self, key: str, value: bytes) -> bool:
        """Delete ``key`` if it holds ``value``; whether it did (one taker wins, across workers and hosts)."""
        return self._write_once("DELETE FROM meta WHERE key = ? AND value = ?", (key, value)) > 0

    def has_setting(self, key: str) -> bool:
        return self._one("SELECT 1 FROM meta WHERE key = ?", (key,)) is not None

    def summary(self) -> dict:
        """What the state holds, for a resuming server's banner."""
        def count(table: str) -> int:
            return self._one(f"SELECT COUNT(*) FROM {table}")[0]

        return {"tasks": count("tasks"), "journal": count("journal"), "faults": [f[0] for f in self.faults()]}

    def ping(self) -> None:
        """Raise if the state cannot be read (the health check)."""
        self._one("SELECT 1")

    # ------------------------------------------------------------ world and reset

    def set_world(self, spec: dict | None) -> int:
        """Record which world is served (None: the one the server started with); returns its version."""

        def body(db: Tx) -> int:
            version = self._next(db, "world")
            db.execute("INSERT INTO world(one, spec, version) VALUES (1, ?, ?) "
                       "ON CONFLICT (one) DO UPDATE SET spec = excluded.spec, version = excluded.version",
                       (orjson.dumps(spec), version))
            db.execute("DELETE FROM tasks")
            db.execute("DELETE FROM legacy")
            return version

        return self._transaction(body, once=True)

    def world(self) -> tuple[dict | None, int]:
        row = self._hot_read("world", lambda: self._one("SELECT spec, version FROM world WHERE one = 1"))
        return (None, 0) if row is None else (orjson.loads(row[0]), row[1])


class SqliteStore(KeyedTables):
    """Thread- and process-safe state; one connection per thread.  An in-process engine: a
    commit either returns or raises, so it needs no idempotency keys (``once`` is ignored)."""

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
            if "rid" not in {r[1] for r in self._anchor.execute("PRAGMA table_info(journal)")}:
                self._anchor.execute("ALTER TABLE journal ADD COLUMN rid BLOB")  # a state file from before keys
            # unique where keyed only: this engine stores no keys, and its NULLs cost no index entry
            self._anchor.execute("DROP INDEX IF EXISTS journal_rid")
            self._anchor.execute("CREATE UNIQUE INDEX IF NOT EXISTS journal_keyed ON journal(rid) "
                                 "WHERE rid IS NOT NULL")

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

    def _written(self, result: T) -> T:
        self._reads.clear()  # (under the lock with the write itself, in memory mode)
        return result

    def _hot_read(self, name: str, read: Callable[[], T]) -> T:
        """``read()``, remembered until the next write when this process alone holds the state
        (every request asks whether a fault is set and which world is served)."""
        if not self._memory:
            return read()
        with self._memory_lock:
            if name not in self._reads:
                self._reads[name] = read()
            return self._reads[name]

    def _transaction(self, body: Callable[[Tx], T], once: bool = False) -> T:
        def run() -> T:
            db = self.db
            db.execute("BEGIN IMMEDIATE")  # the write lock first: no other worker interleaves
            try:
                result = body(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return self._written(result)

        return self._retrying(run)

    def _retrying(self, action: Callable[[], T]) -> T:
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


SharedState = SqliteStore  # the name the backend's parts and tests knew it by
