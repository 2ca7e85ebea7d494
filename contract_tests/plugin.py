"""The lbmock pytest plugin (registered through the ``pytest11`` entry point).

Fixtures serve the very objects ``lbmock serve`` serves: a seeded world,
an in-process mock on the real hostnames, or a threaded loopback server.

Every pytest start imports this module, used or not: it imports pytest and the
standard library only; Flask, graphql-core, Hypothesis, numpy and pydicom come
with the first fixture a test asks for (tests/test_plugin_start.py holds it).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lbmock import defaults

if TYPE_CHECKING:
    from lbmock.contract_tests.wire import WireClient
    from lbmock.mockserver.http.inprocess import MockLabelbox, ThreadedMockServer
    from lbmock.world import World
    from lbmock.world_spec import WorldSpec

DEFAULT_ENDPOINT = "https://api.labelbox.com/graphql"
CONTRACT_FILE_BYTES = 32 * 1024  # lb_target's mocks cut streams small, so exports span several files
# The in-process target's URL host never changes, so the suite reuses its exports across tests: one
# signing key for all its mocks keeps the signed URLs (row_data) of a reused export valid.
CONTRACT_SIGNING_KEY = b"lbmock contract suite signing key"
TARGETS = ("mock", "server", "live")


@functools.cache
def server_options() -> tuple[str, ...]:
    """What @pytest.mark.lb_server_options takes: the runners' key options and every ServerConfig field
    (read when first needed: ServerConfig's module is not a pytest start's cost)."""
    from lbmock.mockserver.config import ServerConfig

    return ("api_key", "restrict_key", *(f.name for f in dataclasses.fields(ServerConfig) if f.name != "api_key"))


def _targets(value: str) -> list[str]:
    kinds = [v.strip() for v in value.split(",") if v.strip()]
    bad = [k for k in kinds if k not in TARGETS]
    if bad or not kinds:
        raise pytest.UsageError(f"--lb-target takes a comma list of {', '.join(TARGETS)}; got {value!r}")
    return kinds


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lbmock", "lbmock: an offline Labelbox for DICOM exports")
    group.addoption("--lb-target", default="mock,server",
                    help="what the contract suite runs against: mock (in-process), server (threaded loopback), "
                         "live (a real deployment); a comma list runs each (default: mock,server)")
    # WorldSpec's defaults (lbmock/defaults.py), as lbmock serve and mock_labelbox: a world every
    # contract test finds material in (tests/test_packaging.py fails on any skip).
    group.addoption("--lb-seed", type=int, default=defaults.SEED,
                    help=f"seed of the served world (default: {defaults.SEED}, WorldSpec's, as lbmock serve)")
    group.addoption("--lb-rows", type=int, default=defaults.ROWS,
                    help=f"data rows in the served world (default: {defaults.ROWS}, WorldSpec's, as lbmock serve)")
    group.addoption("--lb-endpoint", default=DEFAULT_ENDPOINT, help="live: GraphQL endpoint of the deployment")
    group.addoption("--lb-api-key", default=None, help="live: API key (default $LABELBOX_API_KEY)")
    group.addoption("--lb-project-id", default=None, help="live: id of a DICOM project to export")
    group.addoption("--lb-record", default=None, metavar="DIR",
                    help="live: save real responses (secrets stripped) to DIR as fixtures")
    group.addoption("--lb-fault", action="append", default=[], metavar="NAME[:ARG[:TIMES]]",
                    help="mock and server targets: serve under this lbmock fault, repeatable (the contract must "
                         "still hold under latency and slow-files; see the README's fault recipe)")
    group.addoption("--lb-poll-interval", type=float, default=2.0, metavar="SECONDS",
                    help="live: seconds between task/exportLabels polls (default 2.0, the SDK's)")


def marker_help(every_option: bool) -> str:
    """The ``lb_world`` marker's line: WorldSpec's defaults (every option's only when asked, for
    ``pytest --markers``: naming them all imports the world model)."""
    if every_option:
        from lbmock.world_spec import WorldSpec

        options = ", ".join(f"{name}={default!r}" for name, default, _o in WorldSpec.options())
    else:
        options = f"seed={defaults.SEED}, rows={defaults.ROWS}, ... any WorldSpec option (pytest --markers lists them)"
    return f"lb_world({options}, world='file.toml' or a WorldSpec): the world lbmock fixtures serve"


def pytest_configure(config: pytest.Config) -> None:
    every = bool(getattr(config.option, "markers", False))
    config.addinivalue_line("markers", marker_help(every))
    named = ", ".join(server_options()) if every else "api_key, restrict_key, any ServerConfig field"
    config.addinivalue_line("markers", f"lb_server_options({named}): how lb_mock and lb_server serve it "
                                       "(MockLabelbox's keywords)")
    _targets(config.getoption("--lb-target"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Tests taking lb_target run once per requested target.
    if "lb_target" in metafunc.fixturenames:
        kinds = _targets(metafunc.config.getoption("--lb-target"))
        metafunc.parametrize("lb_target", kinds, indirect=True, ids=[f"target={k}" for k in kinds])


_WORLDS: dict[WorldSpec, World] = {}


def _resolved(spec: WorldSpec) -> World:
    from lbmock.strategies.served_world import resolve_world

    if spec not in _WORLDS:  # worlds are immutable: share them across tests of one worker
        _WORLDS[spec] = resolve_world(spec)
    return _WORLDS[spec]


@pytest.fixture
def lb_world(request: pytest.FixtureRequest) -> World:
    """The seeded world lbmock serves (``@pytest.mark.lb_world(seed=, rows=, ...)`` or --lb-seed/--lb-rows).

    The marker takes any :class:`~lbmock.world_spec.WorldSpec` option, and ``world=``: a world file
    (``"file.toml"``, beside the test module) or a ``WorldSpec``, the marker's other options on top."""
    from lbmock.world_spec import SpecError, WorldSpec, load_world_file

    marker = request.node.get_closest_marker("lb_world")
    options = dict(marker.kwargs) if marker else {}
    try:
        if isinstance(options.get("world"), WorldSpec):
            base = options.pop("world")
        elif "world" in options:  # a world file, beside the test module (or from the current folder)
            given = Path(options.pop("world"))
            beside = request.node.path.parent / given
            base = load_world_file(beside if beside.exists() else given)
        else:
            base = WorldSpec(seed=request.config.getoption("--lb-seed"), rows=request.config.getoption("--lb-rows"))
        spec = WorldSpec.from_json(options, base)
    except SpecError as exc:
        raise pytest.UsageError(f"@pytest.mark.lb_world: {exc}") from None
    return _resolved(spec)


def _server_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``@pytest.mark.lb_server_options(...)``: keywords for MockLabelbox / ThreadedMockServer."""
    marker = request.node.get_closest_marker("lb_server_options")
    options = dict(marker.kwargs) if marker else {}
    unknown = sorted(set(options) - set(server_options()))
    if unknown or (marker and marker.args):
        raise pytest.UsageError(f"@pytest.mark.lb_server_options takes keywords of {', '.join(server_options())}; "
                                f"got {', '.join(unknown) or 'positional arguments'}")
    return options


@pytest.fixture
def lb_mock(request: pytest.FixtureRequest, lb_world: World) -> Iterator[MockLabelbox]:
    """In-process Labelbox intercepting api.labelbox.com (use ``labelbox.Client(**lb_mock.client_kwargs)``).

    ``lb_mock.stub(operation=..., response=...)`` overrides one call; ``lb_mock.serving(world)`` serves
    another world for a block. Under Hypothesis' ``@given`` use ``lb_mock_session`` instead."""
    from lbmock.mockserver.http.inprocess import MockLabelbox

    with MockLabelbox(lb_world, **_server_options(request)) as mock:
        yield mock


@pytest.fixture(scope="session")
def lb_mock_session() -> Iterator[MockLabelbox]:
    """A MockLabelbox for ``@given`` tests: not intercepting until ``with lb_mock_session.serving(world) as lb:``,
    which serves that example's world on a fresh backend (nothing carries over between examples).

    Session-scoped, so Hypothesis' function-scoped-fixture health check has nothing to object to."""
    from lbmock.mockserver.http.inprocess import MockLabelbox

    mock = MockLabelbox(rows=0)  # serves nothing itself: each serving() block brings its world
    yield mock
    mock.stop()


@pytest.fixture
def lb_server(request: pytest.FixtureRequest, lb_world: World) -> Iterator[ThreadedMockServer]:
    """A threaded lbmock server on 127.0.0.1 and a free port; ``.base_url``, ``.client_kwargs``."""
    from lbmock.mockserver.http.inprocess import ThreadedMockServer

    with ThreadedMockServer(lb_world, **_server_options(request)) as server:
        yield server


@dataclass
class Target:
    """Where the contract suite sends requests: endpoints, key and project."""

    kind: str
    graphql_url: str
    rest_url: str
    api_key: str
    project_id: str
    world: World | None = None  # only for mock targets; the contract never asserts generated values
    record_dir: str | None = None
    poll_interval: float | None = None  # live: --lb-poll-interval; None: the contract client's default

    @property
    def api_base(self) -> str:
        return self.graphql_url.rsplit("/graphql", 1)[0]

    @functools.cached_property
    def client(self) -> WireClient:
        """The wire client for this target (over HTTP; the in-process mock intercepts its hostnames)."""
        from lbmock.contract_tests.wire import HttpTransport, Recorder, WireClient

        recorder = Recorder(self.record_dir, self.api_key) if self.record_dir else None
        return WireClient(HttpTransport(self.api_base), self.api_key, self.project_id, live=self.kind == "live",
                          poll_interval=self.poll_interval if self.kind == "live" else None, recorder=recorder)


@pytest.fixture
def lb_target(request: pytest.FixtureRequest, lb_world: World) -> Iterator[Target]:
    """The API under contract: the in-process mock, a threaded server, or a live deployment."""
    from lbmock.mockserver.http.inprocess import MockLabelbox, ThreadedMockServer

    config = request.config
    kind = getattr(request, "param", "mock")
    if kind == "live":
        key = config.getoption("--lb-api-key") or os.environ.get("LABELBOX_API_KEY")
        project_id = config.getoption("--lb-project-id")
        if not key:
            pytest.skip("live target: no API key (pass --lb-api-key or set LABELBOX_API_KEY)")
        if not project_id:
            pytest.skip("live target: no project (pass --lb-project-id with a DICOM project's id)")
        endpoint = config.getoption("--lb-endpoint")
        base = endpoint.rsplit("/graphql", 1)[0]
        yield Target("live", endpoint, f"{base}/api/v1", key, project_id, None, config.getoption("--lb-record"),
                     config.getoption("--lb-poll-interval"))
    elif kind == "server":
        with ThreadedMockServer(lb_world, file_bytes=CONTRACT_FILE_BYTES, restrict_key=True) as server:
            _inject_faults(server, config)
            kw = server.client_kwargs
            yield Target("server", kw["endpoint"], kw["rest_endpoint"], server.api_key, server.project_id, lb_world)
    else:
        with MockLabelbox(lb_world, file_bytes=CONTRACT_FILE_BYTES, restrict_key=True,
                          signing_key=CONTRACT_SIGNING_KEY) as mock:
            _inject_faults(mock, config)
            yield Target("mock", DEFAULT_ENDPOINT, "https://api.labelbox.com/api/v1", mock.api_key,
                         mock.project_id, lb_world)


def _inject_faults(served: MockLabelbox | ThreadedMockServer, config: pytest.Config) -> None:
    """--lb-fault: each fault set on the target before the test (a bad one stops the run with its reason)."""
    for spec in config.getoption("--lb-fault"):
        try:
            served.faults.add_spec(spec)
        except ValueError as exc:
            raise pytest.UsageError(f"--lb-fault {spec}: {exc}") from None
