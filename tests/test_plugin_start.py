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
