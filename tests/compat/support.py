"""Helpers the compatibility tests share (pytest side)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

COMPAT_DIR = Path(__file__).resolve().parent
DRIVERS = COMPAT_DIR / "drivers"
REFERENCE_DOC = COMPAT_DIR / "reference" / "labelbox-dicom-export-doc.txt"

# The exports world: small enough to be quick, cut into several files per export (an export
# with the page's params spans several FILE_BYTES), served in a non-UTC user timezone.
SEED, ROWS, FILE_BYTES, USER_TZ = 2, 60, 20_000, "America/New_York"
# The catalog server (issue 12's acceptance): consensus projects sharing the datasets.
QUALITY_SEED, QUALITY_ROWS, QUALITY_MODE, QUALITY_PROJECTS = 20, 40, "consensus", 2
# The error-mapping server: an explicit API key and project id.
AUTH_KEY, AUTH_PROJECT_ID = "compat-secret-key", "cl0compat0project00000001"


def _driverlib():
    spec = importlib.util.spec_from_file_location("lbmock_compat_driverlib", DRIVERS / "driverlib.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


driverlib = _driverlib()
extract_page_code = driverlib.extract_page_code


def releases(*names: str):
    """Parametrize a test over SDK releases (ids ``lb3.40.1`` ...)."""
    return pytest.mark.parametrize("release", names, ids=[f"lb{name}" for name in names])


def flow(flows: dict, name: str) -> dict:
    """One flow's record; a flow the SDK raised in fails the test with the SDK's traceback."""
    assert name in flows, f"the driver did not run flow {name!r}; it ran {sorted(flows)}"
    record = flows[name]
    if "error" in record:
        error = record["error"]
        pytest.fail(f"flow {name!r} raised {error['type']}: {error['message']}\n{error['traceback']}",
                    pytrace=False)
    return record
