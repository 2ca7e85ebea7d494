"""Named faults: Labelbox misbehaving the way it really does.

A fault is active until cleared, or for the next N calls it matches.  The
same :class:`FaultBook` is driven by ``lbmock serve --fault``, the admin API
(``/_mock/faults``) and the Python objects of the pytest plugin.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from enum import Enum

from lbmock.mockserver.backend.store import SharedState, Store, TakenFault


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
    INDEX_LAG = "index-lag"
    STUCK_TASK = "stuck-task"
    SLOW_FILES = "slow-files"
    LATENCY = "latency"
    HOSTILE_CONTENT = "hostile-content"
    EXPORT_LIMIT = "export-limit"

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
    Fault.INDEX_LAG: ("export creations", "exports that lag, its TIMES (default 1); second arg ROWS: how many of "
                                          "the most recently active selected rows each misses (default 1)"),
    Fault.STUCK_TASK: ("export creations", None),
    Fault.SLOW_FILES: ("file downloads", "ms before each 16 KiB chunk of the body (default 50)"),
    Fault.LATENCY: ("emulated requests", "ms every response is delayed (default 100); second arg JITTER: "
                                         "up to this many ms more, seeded (default 0)"),
    Fault.HOSTILE_CONTENT: ("the served world, until cleared", None),
    Fault.EXPORT_LIMIT: ("export creations", "the running-export limit, per project and per organization, "
                                             "the creations it matches meet (default 0: refused at once)"),
}

# Faults taking a second argument (``NAME:ARG:ARG2[:TIMES]``): what it is called in the API.
SECOND_ARGS: dict[Fault, str] = {Fault.INDEX_LAG: "rows", Fault.LATENCY: "jitter"}
MILLISECONDS = (Fault.SLOW_FILES, Fault.LATENCY)
MAX_MS = 60_000  # slow-files and latency: a minute at most


MAX_COUNT = 2**31 - 1  # arguments and times: counts, seconds, bytes (and stored as SQLite integers)


class FaultError(ValueError):
    """An unknown fault name or a bad argument."""


@dataclass
class ActiveFault:
    name: str
    arg: int | None = None
    remaining: int | None = None  # None: until cleared
    arg2: int | None = None  # the second argument of faults in SECOND_ARGS
    uses: int = 0  # calls it has matched since it was set (latency's jitter is seeded by it)

    def as_dict(self) -> dict:
        return asdict(self)


def taken_fault(fault: Fault, taken: TakenFault | None) -> ActiveFault | None:
    """A use of ``fault`` as the store's ``take_fault`` reported it (None: the fault is not set)."""
    if taken is None:
        return None
    arg, arg2, remaining, uses = taken
    return ActiveFault(fault.value, arg, None if remaining is None else remaining - 1, arg2, uses)


def latency_ms(fault: ActiveFault, seed: int | None) -> int:
    """Fault latency: the delay of its ``uses``-th delayed response: MS plus a jitter in
    ``0..JITTER``, a function of the world's seed and that count alone (same seed, same order
    of requests, same delays, in any worker)."""
    jitter = fault.arg2 or 0
    if not jitter:
        return fault.arg or 100
    digest = hashlib.blake2b(f"{seed}:latency:{fault.uses}".encode(), digest_size=8).digest()
    return (fault.arg or 100) + int.from_bytes(digest, "big") % (jitter + 1)


def _whole(name: Fault, what: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise FaultError(f"fault {name.value!r}: {what} must be a whole number, got {value!r}")
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise FaultError(f"fault {name.value!r}: {what} must be a whole number, got {value!r}") from None
    if isinstance(value, float) and number != value:
        raise FaultError(f"fault {name.value!r}: {what} must be a whole number, got {value!r}")
    if not low <= number <= high:
        raise FaultError(f"fault {name.value!r}: {what} must be between {low} and {high}, got {number}")
    return number


def _parse_arg(name: Fault, arg: object) -> int | None:
    if arg in (None, ""):
        return None
    if FAULTS[name][1] is None:
        raise FaultError(f"fault {name!r} takes no argument")
    if name is Fault.SERVER_ERROR:
        try:
            value = int(arg)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise FaultError(f"fault {name!r}: argument must be a whole number, got {arg!r}") from None
        if not 500 <= value <= 599:
            raise FaultError("server-error: the status must be 500-599")
        return value
    return _whole(name, "argument", arg, 1, MAX_MS if name in MILLISECONDS else MAX_COUNT)


def _parse_arg2(name: Fault, arg2: object) -> int | None:
    if arg2 in (None, ""):
        return None
    if name not in SECOND_ARGS:
        raise FaultError(f"fault {name!r} takes no second argument")
    if name is Fault.LATENCY:
        return _whole(name, "jitter", arg2, 0, MAX_MS)
    return _whole(name, SECOND_ARGS[name], arg2, 1, MAX_COUNT)


class FaultBook:
    """The faults in force, kept in the shared state so every worker sees them."""

    def __init__(self, state: Store | None = None) -> None:
        self._state = state if state is not None else SharedState()

    def add(self, name: Fault | str, arg: object = None, times: int | None = None,
            arg2: object = None) -> ActiveFault:
        try:
            fault_name = Fault(name)
        except ValueError:
            raise FaultError(f"unknown fault {name!r}; known: {', '.join(f.value for f in Fault)}") from None
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= MAX_COUNT):
            raise FaultError(f"times must be a whole number from 1 to {MAX_COUNT} (or absent: until cleared)")
        value = _parse_arg(fault_name, arg)
        if fault_name is Fault.INDEX_LAG:  # its argument N is how many exports lag: its times
            if times is not None:
                raise FaultError("index-lag: its argument N is the number of exports that lag; give no times")
            value = times = value or 1
        if fault_name is Fault.HOSTILE_CONTENT and times is not None:
            raise FaultError("hostile-content changes the served world until cleared; give no times")
        fault = ActiveFault(fault_name.value, value, times, _parse_arg2(fault_name, arg2))
        self._state.set_fault(fault.name, fault.arg, fault.remaining, fault.arg2)
        return fault

    def add_spec(self, spec: str) -> ActiveFault:
        """The CLI form: ``NAME``, ``NAME:ARG``, ``NAME:ARG:TIMES`` / ``NAME::TIMES``; a fault with a
        second argument (SECOND_ARGS) takes it before TIMES: ``latency:MS:JITTER:TIMES``, ``index-lag:N:ROWS``."""
        name, *fields = spec.split(":")
        known = name in {f.value for f in SECOND_ARGS}
        if len(fields) > (3 if known else 2) or (name == Fault.INDEX_LAG.value and len(fields) > 2):
            raise FaultError(f"fault {spec!r}: too many ':' fields")
        arg = fields[0] if fields else None
        arg2 = fields[1] if known and len(fields) > 1 else None
        times = fields[2 if known else 1] if len(fields) > (2 if known else 1) else ""
        try:
            count = int(times) if times else None
        except ValueError:
            raise FaultError(f"fault {spec!r}: TIMES must be a whole number") from None
        return self.add(name, arg or None, count, arg2 or None)

    def clear(self, name: Fault | str | None = None) -> None:
        self._state.clear_faults(None if name is None else str(name))

    def take(self, fault: Fault) -> ActiveFault | None:
        """The fault if active, counting this call against its remaining uses."""
        return taken_fault(fault, self._state.take_fault(fault.value))

    def is_active(self, fault: Fault) -> bool:
        """Whether the fault is set, without using it up (faults that change what is served)."""
        return self._state.has_fault(fault.value)

    def any_active(self) -> bool:
        return self._state.any_fault()

    def active(self) -> list[dict]:
        return [ActiveFault(*row).as_dict() for row in self._state.faults()]
