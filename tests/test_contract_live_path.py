"""The contract suite's live mode, end to end, against a separately started ``lbmock serve``.

A real deployment is reached only through ``--lb-endpoint``, a key and a
project id; here those point at a loopback ``lbmock serve`` subprocess, so the
live code path (options, polling, recording with secrets stripped) is tested
without network access.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbmock.contract_tests.wire import start_serve

# A distinctive key, so that the recordings can be searched for it.
API_KEY = "lbmock-live-path-key-7c1d93e0b2a54f6e"
SERVE_ARGS = ["--rows", "30",
              "--seed", "5",  # a project with both polylines and masks: no test of the suite skips
              "--api-key", API_KEY,  # so that the wrong-key case is refused, as on Labelbox
              "--file-bytes", "20000",  # exports span several files
              "--timezone", "America/New_York"]  # date filters must be read in the user's timezone
SECRET_MARKERS = ("X-Lbmock-Signature", "X-Lbmock-Expires", "Signature=", "Expires=", "X-Goog-", "X-Amz-")


def _clean_env() -> dict[str, str]:
    """The environment without the outer pytest's (or xdist's) variables, and without a Labelbox key."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "LABELBOX_")) and k != "COV_CORE_SOURCE"}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """``(base URL, project id)`` of an ``lbmock serve`` subprocess on a free port."""
    with start_serve(*SERVE_ARGS, log_dir=tmp_path_factory.mktemp("lbmock-serve"), env=_clean_env()) as server:
        yield server.base_url, server.project_id


def _run_suite(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "lbmock.contract_tests", "--lb-target=live",
           "-p", "no:cacheprovider", "-q", "-rs", *args]
    return subprocess.run(cmd, cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=600)


def test_contract_suite_passes_in_live_mode_and_records(served, tmp_path, capsys):
    base, project_id = served
    record = tmp_path / "recorded"
    result = _run_suite(tmp_path, f"--lb-endpoint={base}/graphql", f"--lb-api-key={API_KEY}",
                        f"--lb-project-id={project_id}", "--lb-record", str(record), "--lb-poll-interval", "0.25")
    output = result.stdout + result.stderr
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    assert result.returncode == 0, output[-6000:]
    assert re.search(r"\d+ passed", summary), summary
    assert not re.search(r"skipped|xfailed|xpassed|error|deselected", summary), output[-4000:]

    files = {kind: sorted((record / kind).glob(pattern)) for kind, pattern in
             (("v2", "*.ndjson"), ("legacy", "*.json"), ("frames", "*.ndjson"), ("graphql", "*.json"))}
    for kind, found in files.items():
        assert found, f"nothing recorded under {kind}/"
    for path in (p for found in files.values() for p in found):
        text = path.read_text(encoding="utf-8")
        assert API_KEY not in text, f"{path} holds the API key"
        leaked = [m for m in SECRET_MARKERS if m in text]
        assert not leaked, f"{path} holds signed-URL parameters {leaked}"
    # The command itself on the complete v2 and legacy recordings ...
    for path in (record / "v2" / "all-on.ndjson", record / "legacy" / "export_labels.json"):
        check = subprocess.run([sys.executable, "-m", "lbmock.cli", "validate", str(path)],
                               capture_output=True, text=True, env=_clean_env(), timeout=120)
        assert check.returncode == 0, f"lbmock validate {path.name}: {check.stdout[-2000:]}{check.stderr[-500:]}"
    # ... and its entry point in-process on every recording (one subprocess each would take ~0.5 s).
    from lbmock.cli import main

    for path in files["v2"] + files["legacy"] + files["frames"]:
        capsys.readouterr()
        code = main(["validate", str(path)])
        assert code == 0, f"lbmock validate {path.relative_to(record)}: {capsys.readouterr().out[-2000:]}"


@pytest.mark.parametrize("given, reason", [
    ((), "live target: no API key"),
    ((f"--lb-api-key={API_KEY}",), "live target: no project"),
], ids=["no-key", "no-project"])
def test_live_mode_skips_with_a_clear_reason(tmp_path, given, reason):
    result = _run_suite(tmp_path, *given)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ skipped", summary) and "passed" not in summary and "failed" not in summary, summary
    assert reason in output, output[-3000:]
