"""Hand-written answers for one GraphQL operation or one REST route (``lb_mock.stub``, ``/_mock/stubs``).

A stub names a GraphQL operation (by operation name or by root field, with optional variables that
must equal the request's) or a REST method and path pattern (``fnmatch``: ``*`` spans segments), and
answers with a dict (the GraphQL body: ``{"data": ...}`` / ``{"errors": ...}``, anything else is
wrapped as ``{"data": it}``; REST: the JSON body) or a callable given the call (a dict: operation,
root_fields, variables, method, path, args) and returning that dict.  ``times``: answered that many
times, then gone; None: until cleared.  The newest matching stub answers, before lbmock's own
emulation, so a stub can answer a call lbmock refuses.

Stubs live in the backend's process (a callable cannot cross processes): per backend, so never
shared between tests or worlds; under ``lbmock serve --workers N`` a stub posted over HTTP reaches
only the worker that took it (use one worker, the default, with stubs).
"""

from __future__ import annotations

import difflib
import fnmatch
import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

StubResponse = Mapping[str, Any] | Callable[[dict[str, Any]], Mapping[str, Any]]


class StubError(ValueError):
    """A stub that cannot be set (the message says why)."""


@dataclass
class Stub:
    id: str
    response: StubResponse
    operation: str | None = None
    variables: Mapping[str, Any] | None = None
    method: str | None = None
    path: str | None = None
    status: int = 200
    times: int | None = None  # answers left; None: until cleared
    hits: int = 0

    @property
    def graphql(self) -> bool:
        return self.operation is not None

    def describe(self) -> str:
        if self.graphql:
            where = f"operation {self.operation}"
            if self.variables:
                where += f" with variables {dict(self.variables)}"
        else:
            where = f"{self.method} {self.path}"
        left = "until cleared" if self.times is None else f"{self.times} more time(s)"
        return f"stub {self.id}: {where} -> {'callable' if callable(self.response) else 'dict'}, {left}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "operation": self.operation, "variables": dict(self.variables or {}) or None,
                "method": self.method, "path": self.path, "status": self.status, "times": self.times,
                "hits": self.hits, "response": None if callable(self.response) else dict(self.response),
                "describe": self.describe()}

    def matches_graphql(self, names: set[str], variables: Mapping[str, Any] | None) -> bool:
        if self.operation not in names:
            return False
        given = variables or {}
        return all(k in given and given[k] == v for k, v in (self.variables or {}).items())

    def matches_rest(self, method: str, path: str) -> bool:
        return (self.method in (None, "*", method.upper())) and fnmatch.fnmatchcase(path, self.path or "")


class StubBook:
    """The stubs of one backend, newest first; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stubs: list[Stub] = []
        self._ids = itertools.count(1)

    def add(self, response: StubResponse, *, operation: str | None = None, variables: Mapping[str, Any] | None = None,
            method: str | None = None, path: str | None = None, status: int = 200, times: int | None = None) -> Stub:
        if (operation is None) == (path is None):
            raise StubError("a stub names either a GraphQL operation (operation=) or a REST route (path=, method=)")
        if operation is not None and (not isinstance(operation, str) or not operation.strip()):
            raise StubError(f"operation must be an operation name or root field, got {operation!r}")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise StubError(f"path must be a path pattern starting with /, got {path!r}")
        if not callable(response) and not isinstance(response, Mapping):
            raise StubError("response must be a dict (the JSON body) or a callable returning one")
        if variables is not None and not isinstance(variables, Mapping):
            raise StubError("variables must be an object of the values the request's variables must hold")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise StubError(f"times must be a whole number >= 1, or null, got {times!r}")
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise StubError(f"status must be an HTTP status, got {status!r}")
        with self._lock:
            stub = Stub(f"s{next(self._ids)}", response, operation, variables, (method or "*").upper()
                        if path is not None else None, path, status, times)
            self._stubs.insert(0, stub)
        return stub

    def remove(self, stub_id: str | None = None) -> int:
        """Remove one stub (by id) or all; how many went."""
        with self._lock:
            before = len(self._stubs)
            self._stubs = [s for s in self._stubs if stub_id is not None and s.id != stub_id]
            return before - len(self._stubs)

    def clear(self) -> None:
        self.remove()

    def has_rest(self) -> bool:
        return any(not s.graphql for s in self._stubs)

    def has_graphql(self) -> bool:
        return any(s.graphql for s in self._stubs)

    def all(self) -> list[Stub]:
        with self._lock:
            return list(self._stubs)

    def take_graphql(self, names: set[str], variables: Mapping[str, Any] | None) -> Stub | None:
        return self._take(lambda s: s.graphql and s.matches_graphql(names, variables))

    def take_rest(self, method: str, path: str) -> Stub | None:
        return self._take(lambda s: not s.graphql and s.matches_rest(method, path))

    def _take(self, fits: Callable[[Stub], bool]) -> Stub | None:
        with self._lock:
            for stub in self._stubs:
                if fits(stub):
                    stub.hits += 1
                    if stub.times is not None:
                        stub.times -= 1
                        if stub.times == 0:
                            self._stubs.remove(stub)
                    return stub
        return None

    def near_miss(self, names: set[str] | None = None, method: str | None = None,
                  path: str | None = None) -> str | None:
        """Why no stub answered a refused request, when one nearly does (near-miss reports)."""
        for stub in self.all():
            if names is not None and stub.graphql:
                if stub.operation in names:
                    return f"{stub.describe()} did not match: its variables differ"
                if difflib.get_close_matches(stub.operation or "", sorted(names), n=1, cutoff=0.75):
                    return f"{stub.describe()} did not match: the request names {', '.join(sorted(names))}"
            if path is not None and not stub.graphql:
                if fnmatch.fnmatchcase(path, stub.path or ""):
                    return f"{stub.describe()} did not match: {method} is not {stub.method}"
                if difflib.SequenceMatcher(None, path, stub.path or "").ratio() >= 0.75:
                    return f"{stub.describe()} did not match the path {path}"
        return None


def answer(stub: Stub, call: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of a stub's answer to ``call``."""
    body = stub.response(call) if callable(stub.response) else stub.response
    body = dict(body)
    if stub.graphql and not ({"data", "errors"} & set(body)):
        body = {"data": body}
    return stub.status, body
