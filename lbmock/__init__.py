"""lbmock: a faithful, offline Labelbox for code that consumes DICOM exports."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def fixtures_dir() -> Path:
    """The folder of JSON samples and schemas (``lbmock/fixtures`` in a wheel,
    ``fixtures/`` in a source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "fixtures", here.parent / "fixtures"):
        if (candidate / "schemas").is_dir():
            return candidate
    raise FileNotFoundError("lbmock's fixtures folder is missing from this installation")
