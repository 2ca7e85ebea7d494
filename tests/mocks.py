"""The one place tests build a mock by hand.

A test that needs "a mock serving world X" takes the plugin's fixtures instead: ``lb_mock`` or
``lb_server`` with ``@pytest.mark.lb_world(...)`` and ``@pytest.mark.lb_server_options(...)``.
These helpers give what a function-scoped fixture cannot: a raw Flask app or test client, a bare
backend, the app ``lbmock serve ARGV`` builds, a mock shared by a module or session, several mocks
at once, or one serving a world drawn inside ``@given`` or written at test time.
(Tests of the public constructors themselves call them directly.)
"""

from __future__ import annotations

import os
from argparse import Namespace
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from lbmock.cli import build_parser
from lbmock.mockserver.app import create_app
from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.cli import _server_config
from lbmock.mockserver.config import ServerConfig
from lbmock.mockserver.http.inprocess import MockLabelbox, ThreadedMockServer
from lbmock.world import World
from lbmock.world_spec import WorldSpec, world_spec_from_args

Served = World | WorldSpec | str | os.PathLike[str]  # a world, its spec, or a world file
SERVE_SIGNING_KEY = b"k" * 32  # serve_app's signing key (lbmock serve draws one per state file)


def app(served: World | WorldSpec, **config: Any) -> Flask:
    """``create_app`` over ``served`` with ``ServerConfig(**config)``; its backend is
    ``app.extensions["lbmock"]``."""
    return create_app(served, ServerConfig(**config))


def flask_client(served: World | WorldSpec, **config: Any) -> FlaskClient:
    """A Flask test client of :func:`app` (no HTTP, no hostnames intercepted)."""
    return app(served, **config).test_client()


def serve_app(*argv: str) -> tuple[Namespace, Flask]:
    """The parsed arguments of ``lbmock serve ARGV`` and the app it builds from them."""
    args = build_parser().parse_args(["serve", *argv])
    return args, create_app(world_spec_from_args(args), _server_config(args, SERVE_SIGNING_KEY, None))


def backend(world: World, **config: Any) -> MockBackend:
    """A bare backend with ``ServerConfig(**config)``, not started (nothing serves it)."""
    return MockBackend(world, ServerConfig(**config))


def intercepting(served: Served, **options: Any) -> MockLabelbox:
    """An in-process mock on api.labelbox.com, to use with ``with``: ``lb_mock`` outside a
    function-scoped fixture (``options``: MockLabelbox's keywords)."""
    return MockLabelbox(served, **options)


def serving(served: Served, **options: Any) -> ThreadedMockServer:
    """A threaded loopback server, to use with ``with``: ``lb_server`` outside a function-scoped
    fixture (``options``: ThreadedMockServer's keywords)."""
    return ThreadedMockServer(served, **options)
