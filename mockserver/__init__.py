"""The mock Labelbox server: ``create_app`` builds it, ``MockBackend`` is its state."""

from mockserver.app import create_app
from mockserver.models import MockBackend

__all__ = ["MockBackend", "create_app"]
