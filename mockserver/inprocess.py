"""Two ways to run the same Flask app for tests, moto-style.

* :class:`MockLabelbox` intercepts the real Labelbox hostnames in-process
  with ``responses`` (like ``moto.mock_aws``): code that builds
  ``labelbox.Client(api_key=...)`` with default endpoints runs unchanged.
* :class:`ThreadedMockServer` serves the app over real HTTP on an ephemeral
  loopback port (like ``ThreadedMotoServer``).

Both wrap one :class:`~mockserver.models.MockBackend`; neither re-implements
an endpoint.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask

from lbmock.world import World
from mockserver.app import create_app
from mockserver.models import MockBackend

F = TypeVar("F", bound=Callable[..., Any])

LABELBOX_HOSTS = re.compile(r"^https?://(api|app|editor)\.labelbox\.com(:\d+)?/")
DEFAULT_KEY = "lbmock-test-key"
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection"}


def _world_or_seed(world: World | None, seed: int, rows: int) -> World:
    if world is not None:
        return world
    from strategies.served import seeded_world

    return seeded_world(seed, rows)


@functools.lru_cache(maxsize=1)
def _shared_app() -> Flask:
    return create_app(backend=_PLACEHOLDER)


class _Placeholder:
    """Stands in for a backend on the shared app; every in-process request brings its own."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the shared in-process app was called without a backend")


_PLACEHOLDER: Any = _Placeholder()


class _Served:
    """What both runners share: a backend, an app over it, and world swapping."""

    def __init__(self, world: World | None, seed: int, rows: int, backend_options: dict[str, Any],
                 app: Flask | None = None) -> None:
        self._options = backend_options
        self.backend = MockBackend(_world_or_seed(world, seed, rows), **backend_options)
        self.app: Flask = app or create_app(backend=self.backend)

    @property
    def world(self) -> World:
        return self.backend.world

    @property
    def project_id(self) -> str:
        return self.backend.world.project.id

    @property
    def faults(self):
        """The :class:`~mockserver.faults.FaultBook`: ``.add("rate-limit", times=1)``, ``.clear()``."""
        return self.backend.faults

    @property
    def journal(self):
        """The :class:`~mockserver.journal.Journal` of requests: ``.entries(...)``, ``.verify(...)``."""
        return self.backend.journal

    def fault(self, name: str, arg: object = None, times: int | None = None) -> None:
        """Inject a named fault, for the next ``times`` matching calls or until cleared."""
        self.backend.faults.add(name, arg, times)

    def reset(self) -> None:
        """Back to the starting world: no tasks, faults or journal."""
        self.backend.reset()

    def serve(self, world: World) -> None:
        """Serve another world from now on (e.g. one drawn inside ``@given``); tasks reset."""
        self.backend = MockBackend(world, **self._options)
        if self.app is not _shared_app():
            self.app.extensions["lbmock"] = self.backend


class MockLabelbox(_Served):
    """In-process Labelbox on the real hostnames; a context manager and a decorator.

    >>> with MockLabelbox(seed=1, rows=10) as lb:
    ...     client = labelbox.Client(api_key=lb.api_key)   # default endpoints
    """

    def __init__(self, world: World | None = None, *, seed: int = 0, rows: int = 20,
                 api_key: str = DEFAULT_KEY, restrict_key: bool = False, **backend_options: Any) -> None:
        if restrict_key:  # refuse every other key, as the real API would
            backend_options["api_key"] = api_key
        # One app serves every in-process mock (building one costs ~40 ms of route
        # compilation, too much per Hypothesis example); requests carry their backend.
        super().__init__(world, seed, rows, backend_options, app=_shared_app())
        self.api_key = api_key
        self._responses: Any = None

    def _dispatch(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        response = self.app.test_client().open(
            path=parts.path, query_string=parts.query, method=request.method, headers=dict(request.headers),
            data=body, base_url=f"{parts.scheme}://{parts.netloc}",
            environ_overrides={"lbmock.backend": self.backend})
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        return response.status_code, headers, response.get_data()

    def start(self) -> MockLabelbox:
        import responses

        self._responses = responses.RequestsMock(assert_all_requests_are_fired=False)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
            self._responses.add_callback(method, LABELBOX_HOSTS, callback=self._dispatch)
        self._responses.start()
        return self

    def stop(self) -> None:
        if self._responses is not None:
            self._responses.stop()
            self._responses.reset()
            self._responses = None

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


def mock_labelbox(world: World | None = None, **kwargs: Any) -> MockLabelbox:
    """``with mock_labelbox(): ...`` or ``@mock_labelbox()``: Labelbox, offline, in-process."""
    return MockLabelbox(world, **kwargs)


class ThreadedMockServer(_Served):
    """The mock over real HTTP on 127.0.0.1 and an ephemeral port, in a background thread."""

    def __init__(self, world: World | None = None, *, seed: int = 0, rows: int = 20, host: str = "127.0.0.1",
                 port: int = 0, api_key: str = DEFAULT_KEY, restrict_key: bool = False,
                 **backend_options: Any) -> None:
        if restrict_key:
            backend_options["api_key"] = api_key
        super().__init__(world, seed, rows, backend_options)
        self.api_key = api_key
        self._host, self._port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadedMockServer:
        from werkzeug.serving import make_server

        self._server = make_server(self._host, self._port, self.app, threaded=True)
        # poll often: shutdown() waits up to one poll interval (0.5 s by default) for the loop to notice
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="lbmock-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

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
        from mockserver.responses.landing import client_kwargs

        return client_kwargs(self.base_url, self.api_key)
