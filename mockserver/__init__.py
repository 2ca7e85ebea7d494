"""The mock Labelbox server.

``create_app`` builds the Flask app, ``MockBackend`` is its state;
``mock_labelbox`` / ``MockLabelbox`` intercept the real hostnames in-process
and ``ThreadedMockServer`` serves over loopback HTTP.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Fault", "MockBackend", "MockLabelbox", "ServerConfig", "ThreadedMockServer", "create_app", "mock_labelbox"]

_HOMES = {"Fault": "lbmock.mockserver.backend.faults", "create_app": "lbmock.mockserver.app",
          "MockBackend": "lbmock.mockserver.backend.backend", "ServerConfig": "lbmock.mockserver.config",
          "MockLabelbox": "lbmock.mockserver.http.inprocess",
          "ThreadedMockServer": "lbmock.mockserver.http.inprocess", "mock_labelbox": "lbmock.mockserver.http.inprocess"}


def __getattr__(name: str) -> Any:
    # Lazy: `lbmock generate` / `validate` import lbmock.mockserver.cli for the parser,
    # and should not pay for Flask and graphql-core.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(name)
