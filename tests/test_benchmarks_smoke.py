"""The benchmark script still runs (tiny sizes; figures printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_benchmark_smoke_run_prints_every_figure(tmp_path):
    table = tmp_path / "performance-table.md"  # what docs/performance-table.md is written as
    out = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(table)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("generation:", "serving: every file", "vs ceiling", "Load average", "end to end:", "memory:",
                 "mask endpoint", "task poll", "dashboard, 300 rows: data row view", "lbmock validate, one process",
                 "server start with", "pytest start:", "the SDK's whole walk", "--dicom-dir:", "replay: cold export",
                 "cold (server start to last row) / warm", "load (1 min)"):
        assert name in out.stdout, out.stdout
    written = table.read_text()
    assert written.startswith("Measured ") and "Machine: " in written and "| measure | result | goal |" in written
    print(out.stdout)
