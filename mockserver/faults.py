"""Named faults: Labelbox misbehaving the way it really does.

A fault is active until cleared, or for the next N calls it matches.  The
same :class:`FaultBook` is driven by ``lbmock serve --fault``, the admin API
(``/_mock/faults``) and the Python objects of the pytest plugin.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from mockserver.state import SharedState


class Fault(str, Enum):
    """Every fault the mock can inject; the value is the name users type."""

    EXPORT_FAILS = "export-fails"
    EXPORT_ERRORS = "export-errors"
    SLOW_TASK = "slow-task"
    RATE_LIMIT = "rate-limit"
    SERVER_ERROR = "server-error"
    EXPIRED_FILES = "expired-files"
    TRUNCATED_FILES = "truncated-files"
    LEGACY_NEVER_READY = "legacy-never-ready"
    AUTH_REVOKED = "auth-revoked"

    def __str__(self) -> str:
        return self.value


# fault -> (what it matches, what its argument means or None)
FAULTS: dict[Fault, tuple[str, str | None]] = {
    Fault.EXPORT_FAILS: ("export creations", None),
    Fault.EXPORT_ERRORS: ("export creations", "failed rows: every Nth selected row fails (default 3)"),
    Fault.SLOW_TASK: ("export creations", "refreshes the task stays IN_PROGRESS (default 3)"),
    Fault.RATE_LIMIT: ("GraphQL calls", "Retry-After seconds (default 1)"),
    Fault.SERVER_ERROR: ("GraphQL calls", "HTTP status, 500-599 (default 503)"),
    Fault.EXPIRED_FILES: ("signed file downloads", None),
    Fault.TRUNCATED_FILES: ("signed file downloads", "bytes cut from the body (default 10)"),
    Fault.LEGACY_NEVER_READY: ("exportLabels calls", None),
    Fault.AUTH_REVOKED: ("authenticated calls", None),
}


MAX_COUNT = 2**31 - 1  # arguments and times: counts, seconds, bytes (and stored as SQLite integers)


class FaultError(ValueError):
    """An unknown fault name or a bad argument."""


@dataclass
class ActiveFault:
    name: str
    arg: int | None = None
    remaining: int | None = None  # None: until cleared

    def as_dict(self) -> dict:
        return asdict(self)


def _parse_arg(name: Fault, arg: object) -> int | None:
    if arg in (None, ""):
        return None
    if FAULTS[name][1] is None:
        raise FaultError(f"fault {name!r} takes no argument")
    try:
        value = int(arg)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise FaultError(f"fault {name!r}: argument must be a whole number, got {arg!r}") from None
    if name is Fault.SERVER_ERROR and not 500 <= value <= 599:
        raise FaultError("server-error: the status must be 500-599")
    if not 1 <= value <= MAX_COUNT and name is not Fault.SERVER_ERROR:
        raise FaultError(f"fault {name!r}: argument must be between 1 and {MAX_COUNT}")
    return value


class FaultBook:
    """The faults in force, kept in the shared state so every worker sees them."""

    def __init__(self, state: SharedState | None = None) -> None:
        self._state = state if state is not None else SharedState()

    def add(self, name: Fault | str, arg: object = None, times: int | None = None) -> ActiveFault:
        try:
            fault_name = Fault(name)
        except ValueError:
            raise FaultError(f"unknown fault {name!r}; known: {', '.join(f.value for f in Fault)}") from None
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= MAX_COUNT):
            raise FaultError(f"times must be a whole number from 1 to {MAX_COUNT} (or absent: until cleared)")
        fault = ActiveFault(fault_name.value, _parse_arg(fault_name, arg), times)
        self._state.set_fault(fault.name, fault.arg, fault.remaining)
        return fault

    def add_spec(self, spec: str) -> ActiveFault:
        """``NAME``, ``NAME:ARG`` or ``NAME:ARG:TIMES`` / ``NAME::TIMES`` (the CLI form)."""
        name, _, rest = spec.partition(":")
        arg, _, times = rest.partition(":")
        try:
            count = int(times) if times else None
        except ValueError:
            raise FaultError(f"fault {spec!r}: TIMES must be a whole number") from None
        return self.add(name, arg or None, count)

    def clear(self, name: Fault | str | None = None) -> None:
        self._state.clear_faults(None if name is None else str(name))

    def take(self, fault: Fault) -> ActiveFault | None:
        """The fault if active, counting this call against its remaining uses."""
        taken = self._state.take_fault(fault.value)
        if taken is None:
            return None
        arg, remaining = taken
        return ActiveFault(fault.value, arg, None if remaining is None else remaining - 1)

    def any_active(self) -> bool:
        return self._state.any_fault()

    def active(self) -> list[dict]:
        return [ActiveFault(name, arg, remaining).as_dict() for name, arg, remaining in self._state.faults()]
