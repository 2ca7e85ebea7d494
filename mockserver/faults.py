"""Named faults: Labelbox misbehaving the way it really does.

A fault is active until cleared, or for the next N calls it matches.  The
same :class:`FaultBook` is driven by ``lbmock serve --fault``, the admin API
(``/_mock/faults``) and the Python objects of the pytest plugin.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mockserver.state import SharedState

# name -> (what it matches, what its argument means or None)
FAULTS: dict[str, tuple[str, str | None]] = {
    "export-fails": ("export creations", None),
    "export-errors": ("export creations", "failed rows: every Nth selected row fails (default 3)"),
    "slow-task": ("export creations", "refreshes the task stays IN_PROGRESS (default 3)"),
    "rate-limit": ("GraphQL calls", "Retry-After seconds (default 1)"),
    "server-error": ("GraphQL calls", "HTTP status, 500-599 (default 503)"),
    "expired-files": ("signed file downloads", None),
    "truncated-files": ("signed file downloads", "bytes cut from the body (default 10)"),
    "legacy-never-ready": ("exportLabels calls", None),
    "auth-revoked": ("authenticated calls", None),
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


def _parse_arg(name: str, arg: object) -> int | None:
    if arg in (None, ""):
        return None
    if FAULTS[name][1] is None:
        raise FaultError(f"fault {name!r} takes no argument")
    try:
        value = int(arg)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise FaultError(f"fault {name!r}: argument must be a whole number, got {arg!r}") from None
    if name == "server-error" and not 500 <= value <= 599:
        raise FaultError("server-error: the status must be 500-599")
    if not 1 <= value <= MAX_COUNT and name != "server-error":
        raise FaultError(f"fault {name!r}: argument must be between 1 and {MAX_COUNT}")
    return value


class FaultBook:
    """The faults in force, kept in the shared state so every worker sees them."""

    def __init__(self, state: SharedState | None = None) -> None:
        self._state = state if state is not None else SharedState()

    def add(self, name: str, arg: object = None, times: int | None = None) -> ActiveFault:
        if name not in FAULTS:
            raise FaultError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= MAX_COUNT):
            raise FaultError(f"times must be a whole number from 1 to {MAX_COUNT} (or absent: until cleared)")
        fault = ActiveFault(name, _parse_arg(name, arg), times)
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

    def clear(self, name: str | None = None) -> None:
        self._state.clear_faults(name)

    def take(self, name: str) -> ActiveFault | None:
        """The fault if active, counting this call against its remaining uses."""
        taken = self._state.take_fault(name)
        if taken is None:
            return None
        arg, remaining = taken
        return ActiveFault(name, arg, None if remaining is None else remaining - 1)

    def active(self) -> list[dict]:
        return [ActiveFault(name, arg, remaining).as_dict() for name, arg, remaining in self._state.faults()]
