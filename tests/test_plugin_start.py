"""Issue 24, point 7: the pytest11 plugin costs a pytest start nothing heavy.

Every pytest run imports ``lbmock.contract_tests.plugin`` (the entry point), whether or not a test
uses a fixture; what it imports must stay pytest and the standard library.  The time itself is a
figure of ``benchmarks/run.py --only pytest-start`` (best of 7 alternating whole runs, with and
without ``-p no:lbmock``), not asserted here: a shared machine's noise is larger than the budget.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("flask", "graphql", "numpy", "pydicom", "hypothesis", "werkzeug", "requests", "lbmock.world",
         "lbmock.world_spec", "lbmock.mockserver.app", "lbmock.strategies")

PROBE = """
import json, sys
before = set(sys.modules)
import pytest
before |= set(sys.modules)
import lbmock.contract_tests.plugin as plugin
plugin.marker_help(False)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_entry_point_module_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    added = json.loads(out.stdout)
    heavy = [m for m in added if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert not heavy, f"the plugin's import pulls in {heavy}"


def test_the_marker_and_the_options_state_worldspecs_defaults():
    from lbmock.contract_tests.plugin import marker_help
    from lbmock.world_spec import WorldSpec

    short, full = marker_help(False), marker_help(True)
    spec = WorldSpec()
    assert f"seed={spec.seed}, rows={spec.rows}" in short and f"seed={spec.seed}, rows={spec.rows}" in full
    assert all(f"{name}=" in full for name, _d, _o in WorldSpec.options())


SERVER_PROBE = """
import json, sys
from lbmock.mockserver.app import create_app
from lbmock.world_spec import WorldSpec
app = create_app(WorldSpec(rows=50))
app.extensions["lbmock"].close()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("pydicom", "PIL"))))
"""


def test_a_server_starts_without_the_dicom_and_image_libraries():
    """pydicom (with its pixel handlers) and Pillow load with the first DICOM file or PNG served, not
    with every server (~0.2 s of each ``lbmock serve`` and in-process mock start)."""
    out = subprocess.run([sys.executable, "-c", SERVER_PROBE], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
