"""lbmock: a faithful, offline Labelbox for code that consumes DICOM exports."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:  # one source of truth: pyproject.toml, through the installed package's metadata
    __version__ = version("lbmock")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


def fixtures_dir() -> Path:
    """The folder of JSON samples and schemas: ``lbmock/fixtures`` (in a source checkout, a link to
    the repository's top-level ``fixtures/``)."""
    folder = Path(__file__).parent / "fixtures"
    if not (folder / "schemas").is_dir():
        raise FileNotFoundError("lbmock's fixtures folder is missing from this installation")
    return folder
