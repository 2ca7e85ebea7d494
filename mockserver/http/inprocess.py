"""Two ways to run the same Flask app for tests, moto-style.

* :class:`MockLabelbox` intercepts the real Labelbox hostnames in-process
  (like ``moto.mock_aws``; how, beside a ``responses`` mock: ``intercept.py``): code that
  builds ``labelbox.Client(api_key=...)`` with default endpoints runs unchanged.
* :class:`ThreadedMockServer` serves the app over real HTTP on an ephemeral
  loopback port (like ``ThreadedMotoServer``), with ``lbmock serve``'s server.

Both wrap one :class:`~lbmock.mockserver.backend.backend.MockBackend`; neither re-implements
an endpoint.
"""

from __future__ import annotations

import functools
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask

from lbmock.mockserver.app import create_app
from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.backend.faults import Fault
from lbmock.mockserver.backend.stubs import Stub, StubBook, StubError, StubResponse
from lbmock.mockserver.config import ServerConfig
from lbmock.mockserver.http.intercept import ACTIVE, MockAdapter, install
from lbmock.render.common import DEFAULT_STORAGE_BASE, STORAGE_PREFIX
from lbmock.strategies.served_world import resolve_world
from lbmock.world import World
from lbmock.world_spec import WorldSpec, load_world_file

F = TypeVar("F", bound=Callable[..., Any])

STORAGE_HOST = "storage.labelbox.com"  # row_data: the app serves it under STORAGE_PREFIX
DEFAULT_KEY = "lbmock-test-key"
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection"}


def _world_of(world: World | WorldSpec | str | os.PathLike[str] | None, seed: int | None, rows: int | None,
              options: dict[str, Any]) -> World:
    """The world to serve (a World, a WorldSpec, or the path of a world file); ``options`` loses the
    world options it holds (any other WorldSpec field: ``quality``, ``projects``, ...), the rest are
    server options."""
    world_options = {name: options.pop(name) for name, _d, _o in WorldSpec.options() if name in options}
    if world is None:
        # WorldSpec's defaults, as lbmock serve, generate and the pytest fixtures use
        given = {k: v for k, v in (("seed", seed), ("rows", rows)) if v is not None}
        return resolve_world(WorldSpec(**given, **world_options))
    if isinstance(world, (str, os.PathLike)):  # a world file; options given beside it go on top
        spec = load_world_file(world)
        return resolve_world(spec.replace(**{k: v for k, v in (("seed", seed), ("rows", rows)) if v is not None},
                                          **world_options))
    if seed is not None or rows is not None or world_options:
        raise TypeError("pass a world (or WorldSpec), or seed/rows and world options, not both")
    return world if isinstance(world, World) else resolve_world(world)


@functools.lru_cache(maxsize=1)
def _shared_app() -> Flask:
    return create_app(_PLACEHOLDER)


class _Placeholder:
    """Stands in for a backend on the shared app; every in-process request brings its own."""

    config = ServerConfig()

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the shared in-process app was called without a backend")


_PLACEHOLDER: Any = _Placeholder()


class _Served:
    """What both runners share: a backend, an app over it, and world swapping."""

    def __init__(self, world: World, config: ServerConfig, app: Flask | None = None) -> None:
        self._config = config
        self.backend = MockBackend(world, config)  # started and closed with the runner (start/stop)
        self.app: Flask = app or create_app(self.backend)

    @property
    def world(self) -> World:
        """The world served now (with hostile strings while fault hostile-content is set)."""
        self.backend.sync()
        return self.backend.world

    @property
    def project_id(self) -> str:
        return self.backend.world.project.id

    @property
    def faults(self):
        """The :class:`~lbmock.mockserver.backend.faults.FaultBook`: ``.add(Fault.RATE_LIMIT, times=1)``,
        ``.clear()``."""
        return self.backend.faults

    @property
    def state_manager(self):
        """The :class:`~lbmock.mockserver.backend.state_manager.StateManager`: ``.set_transition("export-task",
        {"progression": "manual", "times": 3})``, ``.get_transition(...)``, ``.unset_transition(...)``."""
        return self.backend.state_manager

    def advance_task(self, task_id: str, fail: bool = False) -> None:
        """Move one export task on by hand: to COMPLETE, or FAILED with ``fail``."""
        self.backend.advance_task(task_id, fail=fail)

    @property
    def journal(self):
        """The :class:`~lbmock.mockserver.backend.journal.Journal` of requests: ``.entries(...)``, ``.verify(...)``."""
        return self.backend.journal

    def fault(self, name: Fault | str, arg: object = None, times: int | None = None, arg2: object = None) -> None:
        """Inject a named fault, for the next ``times`` matching calls or until cleared
        (``arg2``: the second argument of latency and index-lag)."""
        self.backend.faults.add(name, arg, times, arg2)

    def stub(self, operation: str | None = None, response: StubResponse | None = None, *, times: int | None = None,
             variables: Mapping[str, Any] | None = None, method: str | None = None, path: str | None = None,
             status: int = 200) -> Stub:
        """Answer one GraphQL operation (by operation name or root field; ``variables``: values the
        request's variables must hold) or one REST route (``method``, ``path``: an fnmatch pattern) with
        ``response``: a dict, or a callable given the call returning one; ``times`` answers, or until
        cleared (``.stubs.clear()``).  It answers before lbmock's emulation, refused calls included."""
        if response is None:
            raise StubError("stub(...) needs a response: a dict or a callable returning one")
        return self.backend.stubs.add(response, operation=operation, variables=variables, method=method, path=path,
                                      status=status, times=times)

    @property
    def stubs(self) -> StubBook:
        """This backend's stubs (``StubBook``): ``.all()``, ``.remove(id)``, ``.clear()``."""
        return self.backend.stubs

    def reset(self) -> None:
        """Back to the starting world: no tasks, faults, stubs or journal."""
        self.backend.reset()

    def serve(self, world: World) -> None:
        """Serve another world from now on (e.g. one drawn inside ``@given``); tasks reset."""
        self.backend.close()
        self.backend = MockBackend(world, self._config).start()  # (called while serving)
        if self.app is not _shared_app():
            self.app.extensions["lbmock"] = self.backend


class _IterableReader(io.RawIOBase):
    """A streamed WSGI response as a raw file, for ``requests`` to read (DICOM volumes stream)."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self._chunks = response.iter_encoded()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


class MockLabelbox(_Served):
    """In-process Labelbox on the real hostnames; a context manager and a decorator.

    >>> with MockLabelbox(seed=1, rows=10) as lb:
    ...     client = labelbox.Client(api_key=lb.api_key)   # default endpoints

    World options (``quality="consensus"``, ``projects=2``, ...) go with ``seed``/``rows``.
    """

    def __init__(self, world: World | WorldSpec | str | os.PathLike[str] | None = None, *, seed: int | None = None,
                 rows: int | None = None, api_key: str = DEFAULT_KEY, restrict_key: bool = False,
                 **server_options: Any) -> None:
        # restrict_key: refuse every other key, as the real API would
        served = _world_of(world, seed, rows, server_options)
        config = ServerConfig(**server_options, **({"api_key": api_key} if restrict_key else {}))
        # One app serves every in-process mock (building one costs ~40 ms of route
        # compilation, too much per Hypothesis example); requests carry their backend.
        super().__init__(served, config, app=_shared_app())
        self.api_key = api_key
        self._active = False
        self._adapter = MockAdapter(self._dispatch)

    def _dispatch(self, request: Any) -> tuple[int, dict[str, str], bytes | io.BufferedReader]:
        parts = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        storage = parts.hostname == STORAGE_HOST
        response = self.app.test_client().open(
            path=STORAGE_PREFIX + parts.path if storage else parts.path, query_string=parts.query,
            method=request.method, headers=dict(request.headers), data=body,
            base_url=f"{parts.scheme}://{parts.netloc}", buffered=not storage,
            environ_overrides={"lbmock.backend": self.backend, "lbmock.storage_base": DEFAULT_STORAGE_BASE})
        if storage:  # DICOM volumes stream through, never held whole (hundreds of MB)
            headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP - {"content-length"}}
            return response.status_code, headers, io.BufferedReader(_IterableReader(response), 1 << 20)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        return response.status_code, headers, response.get_data()

    @property
    def adapter(self) -> MockAdapter:
        """The ``requests`` transport answering Labelbox hosts while this mock is active."""
        return self._adapter

    @property
    def active(self) -> bool:
        return self._active

    def start(self) -> MockLabelbox:
        install()  # once per process: Labelbox hosts go to the innermost active mock (intercept.py)
        if not self._active:
            ACTIVE.push(self)
            self._active = True
        self.backend.start()  # again after a stop (a decorated function called twice)
        return self

    def stop(self) -> None:
        ACTIVE.remove(self)
        self._active = False
        self.backend.close()

    @contextmanager
    def serving(self, world: World | WorldSpec | str | os.PathLike[str] | None = None,
                **world_options: Any) -> Iterator[MockLabelbox]:
        """Serve ``world`` for the block, on a fresh backend (no tasks, faults, journal or stubs from
        another world), intercepting while it lasts; then back to what was served before.

        For Hypothesis: ``with lb_mock_session.serving(world) as lb:`` per example (the session-scoped
        fixture passes the function-scoped-fixture health check; every example gets its own world)."""
        seed, rows = world_options.pop("seed", None), world_options.pop("rows", None)
        served = _world_of(world, seed, rows, world_options)
        if world_options:
            raise TypeError(f"serving() takes world options only, not {', '.join(world_options)}")
        previous, was_active = self.backend, self._active
        self.backend = MockBackend(served, self._config).start()
        if not was_active:
            self.start()
        try:
            yield self
        finally:
            if not was_active:
                ACTIVE.remove(self)
                self._active = False
            self.backend.close()
            self.backend = previous

    def __enter__(self) -> MockLabelbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    @property
    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``labelbox.Client`` (default endpoints are intercepted)."""
        return {"api_key": self.api_key}


def mock_labelbox(world: World | WorldSpec | str | os.PathLike[str] | None = None, **kwargs: Any) -> MockLabelbox:
    """``with mock_labelbox(): ...`` or ``@mock_labelbox()``: Labelbox, offline, in-process
    (``world``: a World, a WorldSpec, or the path of a world file)."""
    return MockLabelbox(world, **kwargs)


class ThreadedMockServer(_Served):
    """The mock over real HTTP on 127.0.0.1 and an ephemeral port, in a background thread."""

    def __init__(self, world: World | WorldSpec | str | os.PathLike[str] | None = None, *, seed: int | None = None,
                 rows: int | None = None, host: str = "127.0.0.1", port: int = 0, api_key: str = DEFAULT_KEY,
                 restrict_key: bool = False, **server_options: Any) -> None:
        served = _world_of(world, seed, rows, server_options)
        server_options.setdefault("bind_host", host)  # the Host allow-list starts from it (guard.py)
        config = ServerConfig(**server_options, **({"api_key": api_key} if restrict_key else {}))
        super().__init__(served, config)
        self.api_key = api_key
        self._host, self._port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadedMockServer:
        import socket

        from lbmock.mockserver.http.server import WSGIServer

        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._server = WSGIServer(self.app, socket.create_server((self._host, self._port), family=family))
        self._thread = threading.Thread(target=self._server.serve_forever, name="lbmock-server", daemon=True)
        self._thread.start()
        self.backend.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.backend.close()

    def __enter__(self) -> ThreadedMockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``labelbox.Client`` pointing at this server."""
        from lbmock.mockserver.handlers.landing import client_kwargs

        return client_kwargs(self.base_url, self.api_key)
