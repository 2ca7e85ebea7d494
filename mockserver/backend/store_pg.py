"""The shared state in PostgreSQL (``lbmock serve --state postgresql://...``): many hosts, one world.

The same tables, statements and answers as the SQLite store: the statements live once, in
``store.KeyedTables``; this module holds only what PostgreSQL does otherwise: ``%s`` placeholders,
its schema (``MIGRATIONS``), connections that can be lost, and idempotent retries.  Counters, upserts
and "use a fault once" are single atomic statements, so a fault set through one host is spent
exactly ``times`` times across all.

Idempotent retries: a connection lost after the server committed but before its acknowledgement
arrived leaves the client unsure whether its write happened.  A write that a repeat would change
(a journal entry, a fault's use, a task, a counted status read ...) therefore carries a key made
once per logical write: journal entries their own (``journal.rid``, inserted ``ON CONFLICT DO
NOTHING``), other writes a row in ``applied`` written in the same transaction, holding the result.
A retry that finds its key returns the first attempt's result instead of writing again.

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

from lbmock.mockserver.backend.store import KeyedTables, Tx
from lbmock.mockserver.errors import StateUnavailable

T = TypeVar("T")

CONNECT_TIMEOUT = 3  # seconds: an unreachable database is an error, not a hang
RETRY_SECONDS = 8.0  # how long one request waits for a lost database to come back (a restart)
FAIL_FAST_SECONDS = 1.0  # after giving up, later requests fail at once for this long (no pile-up)
_ADVISORY_KEY = 0x6C626D6F636B  # "lbmock": serialises schema upgrades across hosts
APPLIED_KEEP = "10 minutes"  # how long a write's key is kept: far longer than any retry of it
_PRUNE_EVERY = 256  # keyed writes per process between two prunings of old keys
_AUTH_STATES = {"28000", "28P01"}  # invalid authorization, invalid password

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
    # 2: idempotency keys (a retry after a lost acknowledgement applies nothing twice)
    """
    ALTER TABLE journal ADD COLUMN rid BYTEA UNIQUE;
    CREATE TABLE applied (key BYTEA PRIMARY KEY, result BYTEA NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now());
    CREATE INDEX applied_at ON applied(at);
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
    acks_can_be_lost = True
    _NO_LIMIT = None  # LIMIT NULL: every row

    def __init__(self, url: str) -> None:
        self.url = url
        self.directory: str | None = None  # nothing on disk: hosts share only the database
        self._options = _conninfo(url)
        self._local = threading.local()
        self._down_since = 0.0  # monotonic time of the last give-up (0: up)
        self._keyed = 0  # keyed writes so far (old keys are pruned now and then)
        try:
            self._run(self._upgrade, retry=False)
        except psycopg.Error as exc:  # let in, but not allowed to make the tables (a role without rights)
            raise StateUnavailable(f"the shared state's database ({_where(url)}) refused lbmock's schema: "
                                   f"{_first_line(exc)}") from None

    # ------------------------------------------------------------ connections

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, **self._options)
        except psycopg.Error as exc:
            raise StateUnavailable(f"{_refusal(exc)} ({_where(self.url)}): {_first_line(exc)}") from None

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
        repeats nothing that was committed, except when the commit's acknowledgement was lost:
        writes a repeat would change are keyed for that (``_transaction(once=True)``)."""
        recently_down = time.monotonic() - self._down_since < FAIL_FAST_SECONDS
        deadline = time.monotonic() + (RETRY_SECONDS if retry and not recently_down else 0)
        delay = 0.05
        while True:
            try:
                result = action(self.db)
                self._down_since = 0.0
                return result
            except (StateUnavailable, *_RETRYABLE, pg_errors.DeadlockDetected,
                    pg_errors.SerializationFailure, _AppliedMeanwhile) as exc:
                self._drop()
                if time.monotonic() >= deadline:
                    self._down_since = time.monotonic()
                    if isinstance(exc, StateUnavailable):
                        raise
                    raise StateUnavailable(f"the shared state's database is unavailable ({_where(self.url)}): "
                                           f"{_first_line(exc)}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _one(self, sql: str, params: tuple = ()) -> Any:
        return self._run(lambda db: db.execute(_dialect(sql), params).fetchone())

    def _all(self, sql: str, params: tuple = ()) -> list:
        return self._run(lambda db: db.execute(_dialect(sql), params).fetchall())

    def _write(self, sql: str, params: tuple = ()) -> int:
        return self._run(lambda db: db.execute(_dialect(sql), params).rowcount)

    def _transaction(self, body: Callable[[Tx], T], once: bool = False) -> T:
        """``body`` in one transaction; ``once``: keyed, so a retry after a lost acknowledgement
        returns the first attempt's result (see the module's docstring) instead of writing again."""
        key = os.urandom(16) if once else None
        attempts = 0

        def run(db: psycopg.Connection) -> T:
            nonlocal attempts
            attempts += 1
            with db.transaction():
                if key is not None and attempts > 1:  # an earlier attempt may have committed
                    done = db.execute("SELECT result FROM applied WHERE key = %s", (key,)).fetchone()
                    if done is not None:
                        return _revived(orjson.loads(done[0]))
                result = body(_Dialect(db))
                if key is not None:
                    self._remember(db, key, result)
                return result

        return self._run(run)

    def _remember(self, db: psycopg.Connection, key: bytes, result: Any) -> None:
        """Record that the write keyed ``key`` is applied, with its result (in its transaction)."""
        try:
            db.execute("INSERT INTO applied(key, result) VALUES (%s, %s)", (key, orjson.dumps(result)))
        except pg_errors.UniqueViolation:
            # an earlier attempt's commit landed while this one ran: undo this one, and read its result
            raise _AppliedMeanwhile from None
        self._keyed += 1
        if self._keyed % _PRUNE_EVERY == 0:
            db.execute(f"DELETE FROM applied WHERE at < now() - interval '{APPLIED_KEEP}'")

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

    def ping(self) -> None:
        """Raise :class:`StateUnavailable` if the database cannot be reached (the health check)."""
        self._run(lambda db: db.execute("SELECT 1").fetchone(), retry=False)


class _AppliedMeanwhile(Exception):
    """A keyed write found its key taken by its own earlier attempt: roll back and read that one's result."""


class _Dialect:
    """A transaction's connection, taking the shared statements' ``?`` placeholders."""

    def __init__(self, db: psycopg.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._db.execute(_dialect(sql), params)

    def executemany(self, sql: str, rows: Any) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(_dialect(sql), rows)


def _dialect(sql: str) -> str:
    """The shared statements are spelled with SQLite's ``?``; psycopg's is ``%s`` (none of
    lbmock's SQL holds a literal question mark or percent sign)."""
    return sql.replace("?", "%s")


def _revived(result: Any) -> Any:
    """A remembered result as its write returned it (JSON keeps tuples as lists)."""
    return tuple(result) if isinstance(result, list) else result


def _refusal(exc: psycopg.Error) -> str:
    """What a failed connection says: the database refused our credentials, or did not answer."""
    if getattr(exc, "sqlstate", None) in _AUTH_STATES or "authentication failed" in str(exc) \
            or "no pg_hba.conf entry" in str(exc):
        return "the shared state's database refused lbmock's credentials"
    return "the shared state's database is unreachable"


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
