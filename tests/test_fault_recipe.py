"""The README's fault recipe: the contract suite holds against the mock under latency and slow files."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("fault", ["latency:5:5", "slow-files:2"])
def test_contract_suite_holds_under_the_fault(fault, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "lbmock.contract_tests", "--lb-target=server", "--lb-fault", fault,
         "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "skipped" not in done.stdout and "passed" in done.stdout, done.stdout[-2000:]


def test_a_bad_fault_stops_the_run_with_its_reason(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "lbmock.contract_tests", "--lb-target=server", "--lb-fault",
         "latency:0", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-x"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "--lb-fault latency:0" in done.stdout + done.stderr
