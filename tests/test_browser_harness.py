"""The real-browser harness itself: Debian's Chromium opens a page the mock serves, and a
missing browser skips locally but fails under LBMOCK_REQUIRE_BROWSER=1 (as in CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import browser_harness
import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.lb_world(seed=3, rows=4)
def test_chromium_renders_the_landing_page(page, lb_server):
    page.goto(lb_server.base_url + "/")
    assert lb_server.project_id in page.inner_text("body")
    size = page.evaluate("[window.innerWidth, window.innerHeight]")
    assert size == [browser_harness.VIEWPORT["width"], browser_harness.VIEWPORT["height"]]


def _run_without_browser(require: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, browser_harness.CHROMIUM_ENV: str(HERE / "no-such-chromium")}
    env.pop(browser_harness.REQUIRE_ENV, None)
    if require:
        env[browser_harness.REQUIRE_ENV] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "-rs",
         f"{Path(__file__).name}::test_chromium_renders_the_landing_page"],
        cwd=HERE, env=env, capture_output=True, text=True, timeout=300)


def test_a_missing_browser_skips_with_its_reason_locally():
    done = _run_without_browser(require=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "no Chromium at" in done.stdout


def test_a_missing_browser_fails_when_required():
    done = _run_without_browser(require=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{browser_harness.REQUIRE_ENV} is set but the browser tests cannot run" in done.stdout
