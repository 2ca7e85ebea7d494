"""The mock Labelbox server.

``create_app`` builds the Flask app, ``MockBackend`` is its state;
``mock_labelbox`` / ``MockLabelbox`` intercept the real hostnames in-process
and ``ThreadedMockServer`` serves over loopback HTTP.
"""

from mockserver.app import create_app
from mockserver.inprocess import MockLabelbox, ThreadedMockServer, mock_labelbox
from mockserver.models import MockBackend

__all__ = ["MockBackend", "MockLabelbox", "ThreadedMockServer", "create_app", "mock_labelbox"]
