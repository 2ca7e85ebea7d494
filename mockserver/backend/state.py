"""Which engine holds the shared state: ``--state`` names a SQLite file or a PostgreSQL database."""

from __future__ import annotations

from lbmock.mockserver.backend.store import SqliteStore, Store


def is_database_url(location: str | None) -> bool:
    """Whether ``--state`` names a PostgreSQL database rather than a SQLite file."""
    return location is not None and location.startswith(("postgresql://", "postgres://"))


def open_state(location: str | None = None) -> Store:
    """The shared state at ``location``: a ``postgresql://`` URL, a SQLite file, or (None) a
    private in-memory database."""
    if is_database_url(location):
        from lbmock.mockserver.backend.store_pg import PostgresStore  # psycopg: an optional extra

        return PostgresStore(location)  # type: ignore[arg-type]
    return SqliteStore(location)
