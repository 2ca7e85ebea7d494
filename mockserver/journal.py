"""The request journal: every request the mock answered, for assertions.

Like WireMock's request log and ``verify``: tests ask what clients did,
e.g. that one export was created with given filters, or that a file was
downloaded exactly once.  Keys are never stored, only a short hash.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mockserver.state import SharedState


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

    def as_dict(self) -> dict:
        return asdict(self)


class VerificationError(AssertionError):
    """A journal expectation that did not hold."""


class Journal:
    """Requests answered, kept in the shared state (every worker writes to one journal)."""

    def __init__(self, state: SharedState | None = None) -> None:
        self._state = state if state is not None else SharedState()

    def record(self, **fields: Any) -> JournalEntry:
        seq = self._state.append_journal(fields)
        return JournalEntry(seq=seq, **fields)

    def clear(self) -> None:
        self._state.clear_journal()

    def entries(self, *, operation: str | None = None, path: str | None = None, path_prefix: str | None = None,
                method: str | None = None, status: int | None = None,
                unmatched: bool | None = None) -> list[JournalEntry]:
        """Entries matching every given criterion, oldest first (``unmatched=True``: only the
        requests nothing matched, each with its near miss)."""
        found = [JournalEntry(seq=seq, **fields) for seq, fields in self._state.journal()]
        return [e for e in found
                if (operation is None or e.operation == operation)
                and (path is None or e.path == path)
                and (path_prefix is None or e.path.startswith(path_prefix))
                and (method is None or e.method == method)
                and (status is None or e.status == status)
                and (unmatched is None or bool(e.unmatched) == unmatched)]

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
