"""The shared state in PostgreSQL (``lbmock serve --state postgresql://...``): many hosts, one world.

The same tables and the same answers as the SQLite store (``store.py``), in PostgreSQL's dialect:
counters, upserts and "use a fault once" are single atomic statements or row-locked
transactions, so a fault set through one host is spent exactly ``times`` times across all.

The schema is created and upgraded on first use (``MIGRATIONS``, recorded in ``lbmock_schema``,
under an advisory lock so hosts starting together do not race).  Each thread keeps its own
connection (a new one after fork).  A lost connection (PostgreSQL restarted, a network blip) is
reopened and the statement retried for up to ``RETRY_SECONDS``; past that the request gets
:class:`~lbmock.mockserver.errors.StateUnavailable` (a 503 saying why), never a hang.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import errors as pg_errors

from lbmock.mockserver.backend.store import (
    MAX_ANNOUNCED,
    MAX_JOURNAL,
    MAX_LEGACY,
    MAX_TASKS,
    KeyedTables,
    announced_key,
)
from lbmock.mockserver.errors import StateUnavailable

T = TypeVar("T")

CONNECT_TIMEOUT = 3  # seconds: an unreachable database is an error, not a hang
RETRY_SECONDS = 8.0  # how long one request waits for a lost database to come back (a restart)
FAIL_FAST_SECONDS = 1.0  # after giving up, later requests fail at once for this long (no pile-up)
_ADVISORY_KEY = 0x6C626D6F636B  # "lbmock": serialises schema upgrades across hosts

# Each entry upgrades the schema by one version; never edit one that has shipped, append.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE tasks (id TEXT PRIMARY KEY, owner TEXT NOT NULL, spec BYTEA NOT NULL,
                        refreshes INTEGER NOT NULL DEFAULT 0, seq BIGINT NOT NULL, advanced TEXT);
    CREATE INDEX tasks_owner ON tasks(owner, seq);
    CREATE INDEX tasks_seq ON tasks(seq);
    CREATE TABLE legacy (key TEXT PRIMARY KEY, id TEXT UNIQUE NOT NULL, spec BYTEA NOT NULL,
                         polls INTEGER NOT NULL DEFAULT 0, seq BIGINT NOT NULL);
    CREATE TABLE faults (name TEXT PRIMARY KEY, arg BIGINT, remaining BIGINT, arg2 BIGINT,
                         uses INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE journal (seq BIGSERIAL PRIMARY KEY, entry BYTEA NOT NULL);
    CREATE TABLE world (one INTEGER PRIMARY KEY CHECK (one = 1), spec BYTEA NOT NULL, version BIGINT NOT NULL);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
    CREATE TABLE transitions (model TEXT PRIMARY KEY, spec BYTEA NOT NULL);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
    CREATE TABLE announced (seq BIGSERIAL PRIMARY KEY, key BYTEA UNIQUE NOT NULL);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

# Errors after which the connection is dropped and the statement tried again.
_RETRYABLE = (psycopg.OperationalError, psycopg.InterfaceError)


def _conninfo(url: str) -> dict[str, Any]:
    """Connection options: the URL's, plus bounded timeouts unless it sets its own."""
    given = psycopg.conninfo.conninfo_to_dict(url)
    extra: dict[str, Any] = {}
    if "connect_timeout" not in given:
        extra["connect_timeout"] = CONNECT_TIMEOUT
    if "tcp_user_timeout" not in given:  # a vanished host fails a statement in seconds
        extra["tcp_user_timeout"] = 10_000
    extra.setdefault("application_name", "lbmock")
    return extra


class PostgresStore(KeyedTables):
    """The :class:`~lbmock.mockserver.backend.store.Store` in a PostgreSQL database."""

    shared_by_hosts = True
    _NO_LIMIT = None  # LIMIT NULL: every row

    def __init__(self, url: str) -> None:
        self.url = url
        self.directory: str | None = None  # nothing on disk: hosts share only the database
        self._options = _conninfo(url)
        self._local = threading.local()
        self._down_since = 0.0  # monotonic time of the last give-up (0: up)
        self._run(self._upgrade, retry=False)

    # ------------------------------------------------------------ connections

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, **self._options)
        except psycopg.Error as exc:
            raise StateUnavailable(f"the shared state's database is unreachable ({_where(self.url)}): "
                                   f"{_first_line(exc)}") from None

    @property
    def db(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or getattr(self._local, "pid", None) != os.getpid():
            # never use a connection inherited across fork (gunicorn workers)
            conn = self._local.conn = self._connect()
            self._local.pid = os.getpid()
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            with contextlib.suppress(Exception):  # already broken: nothing to release
                conn.close()

    def _run(self, action: Callable[[psycopg.Connection], T], retry: bool = True) -> T:
        """``action(connection)``, reconnecting and retrying while the database comes back.

        Every action is one statement or one transaction, so a retry after a lost connection
        repeats nothing that was committed (a commit whose acknowledgement is lost is the one
        exception a database cannot rule out)."""
        recently_down = time.monotonic() - self._down_since < FAIL_FAST_SECONDS
        deadline = time.monotonic() + (RETRY_SECONDS if retry and not recently_down else 0)
        delay = 0.05
        while True:
            try:
                result = action(self.db)
                self._down_since = 0.0
                return result
            except (StateUnavailable, *_RETRYABLE, pg_errors.DeadlockDetected,
                    pg_errors.SerializationFailure) as exc:
                self._drop()
                if time.monotonic() >= deadline:
                    self._down_since = time.monotonic()
                    if isinstance(exc, StateUnavailable):
                        raise
                    raise StateUnavailable(f"the shared state's database is unavailable ({_where(self.url)}): "
                                           f"{_first_line(exc)}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    # The shared statements (``KeyedTables``) are spelled with SQLite's ``?``: psycopg's is ``%s``
    # (none of lbmock's SQL holds a literal question mark).
    def _one(self, sql: str, params: tuple = ()) -> Any:
        return self._run(lambda db: db.execute(sql.replace("?", "%s"), params).fetchone())

    def _all(self, sql: str, params: tuple = ()) -> list:
        return self._run(lambda db: db.execute(sql.replace("?", "%s"), params).fetchall())

    def _write(self, sql: str, params: tuple = ()) -> int:
        return self._run(lambda db: db.execute(sql.replace("?", "%s"), params).rowcount)

    def _transaction(self, body: Callable[[psycopg.Connection], T]) -> T:
        def run(db: psycopg.Connection) -> T:
            with db.transaction():
                return body(db)

        return self._run(run)

    def _upgrade(self, db: psycopg.Connection) -> None:
        """Create or upgrade the schema to ``SCHEMA_VERSION`` (one host at a time)."""
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_KEY,))
            db.execute("CREATE TABLE IF NOT EXISTS lbmock_schema "
                       "(one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM lbmock_schema").fetchone()
            version = 0 if row is None else row[0]
            if version > SCHEMA_VERSION:
                raise StateUnavailable(f"the shared state's database ({_where(self.url)}) has schema version "
                                       f"{version}, newer than this lbmock's {SCHEMA_VERSION}: upgrade lbmock")
            for script in MIGRATIONS[version:]:
                db.execute(script)
            db.execute("INSERT INTO lbmock_schema(one, version) VALUES (1, %s) "
                       "ON CONFLICT (one) DO UPDATE SET version = excluded.version", (SCHEMA_VERSION,))

    @staticmethod
    def _next(db: psycopg.Connection, name: str) -> int:
        return db.execute("INSERT INTO counters(name, value) VALUES (%s, 1) "
                          "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                          (name,)).fetchone()[0]

    def ping(self) -> None:
        """Raise :class:`StateUnavailable` if the database cannot be reached (the health check)."""
        self._run(lambda db: db.execute("SELECT 1").fetchone(), retry=False)

    # ------------------------------------------------------------ tasks

    def put_task(self, task_id: str, owner: str, spec: dict) -> None:
        def body(db: psycopg.Connection) -> None:
            seq = self._next(db, "tasks")
            db.execute("INSERT INTO tasks(id, owner, spec, seq) VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                       (task_id, owner, orjson.dumps(spec), seq))
            db.execute("DELETE FROM tasks WHERE seq <= %s", (seq - MAX_TASKS,))

        self._transaction(body)

    # ------------------------------------------------------------ legacy exports

    def legacy_poll(self, key: str, new_id: str, spec: dict) -> tuple[str, dict, int]:
        def body(db: psycopg.Connection) -> tuple[str, dict, int]:
            # one poll of a key at a time, across hosts (the first one inserts)
            db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
            row = db.execute("SELECT id, spec, polls FROM legacy WHERE key = %s", (key,)).fetchone()
            if row is None:
                seq = self._next(db, "legacy")
                db.execute("INSERT INTO legacy(key, id, spec, polls, seq) VALUES (%s, %s, %s, 1, %s)",
                           (key, new_id, orjson.dumps(spec), seq))
                db.execute("DELETE FROM legacy WHERE seq <= %s", (seq - MAX_LEGACY,))
                return new_id, spec, 1
            db.execute("UPDATE legacy SET polls = polls + 1 WHERE key = %s", (key,))
            return row[0], orjson.loads(row[1]), row[2] + 1

        return self._transaction(body)

    # ------------------------------------------------------------ faults

    def set_fault(self, name: str, arg: int | None, remaining: int | None, arg2: int | None = None) -> None:
        # as SQLite's INSERT OR REPLACE: a fault set again starts its count of uses afresh
        self._write("INSERT INTO faults(name, arg, remaining, arg2, uses) VALUES (%s, %s, %s, %s, 0) "
                    "ON CONFLICT (name) DO UPDATE SET arg = excluded.arg, remaining = excluded.remaining, "
                    "arg2 = excluded.arg2, uses = 0", (name, arg, remaining, arg2))

    def take_fault(self, name: str) -> tuple[int | None, int | None, int | None, int] | None:
        """(arg, arg2, remaining before this use, uses including this one), using the fault up once
        (the row is locked: hosts taking it together each get their own use); None if inactive."""

        def body(db: psycopg.Connection) -> tuple[int | None, int | None, int | None, int] | None:
            row = db.execute("SELECT arg, arg2, remaining, uses FROM faults WHERE name = %s FOR UPDATE",
                             (name,)).fetchone()
            if row is None:
                return None
            if row[2] is not None and row[2] <= 1:
                db.execute("DELETE FROM faults WHERE name = %s", (name,))
            else:
                db.execute("UPDATE faults SET remaining = remaining - 1, uses = uses + 1 WHERE name = %s", (name,))
            return row[0], row[1], row[2], row[3] + 1

        if not self.any_fault():  # cheap read first: almost every request meets no fault
            return None
        return self._transaction(body)

    def any_fault(self) -> bool:
        return self._one("SELECT 1 FROM faults LIMIT 1") is not None

    # ------------------------------------------------------------ state-manager transitions

    def set_transition(self, model: str, spec: dict) -> None:
        self._write("INSERT INTO transitions(model, spec) VALUES (%s, %s) "
                    "ON CONFLICT (model) DO UPDATE SET spec = excluded.spec", (model, orjson.dumps(spec)))

    # ------------------------------------------------------------ journal

    def append_journal_many(self, entries: list[dict]) -> None:
        """Store ``entries`` in order, in one statement (sequence numbers in their order)."""

        def body(db: psycopg.Connection) -> None:
            rows = db.execute(
                "INSERT INTO journal(entry) SELECT e FROM unnest(%s::bytea[]) WITH ORDINALITY AS t(e, n) "
                "ORDER BY n RETURNING seq", ([orjson.dumps(e) for e in entries],)).fetchall()
            last = max(r[0] for r in rows)
            if last // 100 != (last - len(rows)) // 100:  # trim now and then, not on every batch
                db.execute("DELETE FROM journal WHERE seq <= %s", (last - MAX_JOURNAL,))

        if entries:
            self._transaction(body)


    # ------------------------------------------------------------ unmatched requests

    def clear_journal(self) -> None:
        """Forget the journal, and which unmatched reasons were announced (they are again, once)."""
        def body(db: psycopg.Connection) -> None:
            db.execute("DELETE FROM journal")
            db.execute("DELETE FROM announced")

        self._transaction(body)

    def first_unmatched(self, reason: str) -> bool:
        """True the first time any host reports ``reason``; at most MAX_ANNOUNCED digests kept."""
        def body(db: psycopg.Connection) -> bool:
            added = db.execute("INSERT INTO announced(key) VALUES (%s) ON CONFLICT DO NOTHING",
                               (announced_key(reason),))
            if added.rowcount == 0:
                return False
            db.execute("DELETE FROM announced WHERE seq <= "
                       "(SELECT seq FROM announced ORDER BY seq DESC LIMIT 1 OFFSET %s)", (MAX_ANNOUNCED,))
            return True

        return self._transaction(body)

    # ------------------------------------------------------------ what the state was made with

    def setting(self, key: str, default: bytes) -> bytes:
        self._write("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, default))
        return bytes(self._one("SELECT value FROM meta WHERE key = %s", (key,))[0])

    def put_setting(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        self._write("INSERT INTO meta(key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # ------------------------------------------------------------ world and reset

    def set_world(self, spec: dict | None) -> int:
        def body(db: psycopg.Connection) -> int:
            version = self._next(db, "world")
            db.execute("INSERT INTO world(one, spec, version) VALUES (1, %s, %s) "
                       "ON CONFLICT (one) DO UPDATE SET spec = excluded.spec, version = excluded.version",
                       (orjson.dumps(spec), version))
            db.execute("DELETE FROM tasks")
            db.execute("DELETE FROM legacy")
            return version

        return self._transaction(body)

    def world(self) -> tuple[dict | None, int]:
        row = self._one("SELECT spec, version FROM world WHERE one = 1")
        return (None, 0) if row is None else (orjson.loads(row[0]), row[1])


def _where(url: str) -> str:
    """The database a URL names, without its password (for messages)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "an unreadable URL"
    host = info.get("host", "localhost")
    port = f":{info['port']}" if info.get("port") else ""
    return f"{host}{port}/{info.get('dbname', '')}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
