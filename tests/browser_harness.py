"""The real-browser harness: Debian's headless Chromium driven by Playwright for Python.

Playwright brings its own driver in the wheel but never a browser here: we launch the
distribution's Chromium (``apt-get install chromium``, which ``.ci/run`` does) by path, so
nothing is downloaded (``playwright install`` would fetch a browser build from a CDN).

Where the browser or Playwright is missing, browser tests skip with the reason; under
``LBMOCK_REQUIRE_BROWSER=1`` (``.ci/run`` sets it) they fail instead, so CI can never go
green by skipping them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

CHROMIUM_ENV = "LBMOCK_CHROMIUM"  # path of another Chromium binary
REQUIRE_ENV = "LBMOCK_REQUIRE_BROWSER"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}  # the size the dashboard must be readable at

# Headless, and quiet on a closed network: no background fetches, updates or sync
# (without these Chromium keeps trying to reach Google's hosts).  --no-sandbox: CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
]


def chromium_path() -> str | None:
    """The Chromium binary to drive, or None if there is none."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access(DEFAULT_CHROMIUM, os.X_OK):
        return DEFAULT_CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def unavailable_reason() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install '.[test]')"
    if chromium_path() is None:
        return (f"no Chromium at {os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM} "
                f"(apt-get install chromium chromium-driver, or set {CHROMIUM_ENV})")
    return None


class BrowserSession:
    """One Playwright driver and one Chromium process, with a throw-away profile."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._profile = tempfile.mkdtemp(prefix="lbmock-chromium-")
        self._manager = sync_playwright()
        self.playwright = self._manager.start()
        try:
            # launch() keeps its own empty profile; the env points Chromium's caches at ours.
            self.browser = self.playwright.chromium.launch(
                executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS,
                env={**os.environ, "HOME": self._profile, "XDG_CONFIG_HOME": self._profile,
                     "XDG_CACHE_HOME": self._profile})
        except BaseException:
            self._manager.__exit__(None, None, None)
            shutil.rmtree(self._profile, ignore_errors=True)
            raise

    def new_page(self, **options: Any) -> Any:
        """A page in a fresh context (own cookies and storage) at the dashboard's target size."""
        context = self.browser.new_context(viewport=VIEWPORT, device_scale_factor=1, **options)
        return context.new_page()

    def close(self) -> None:
        try:
            self.browser.close()
        finally:
            self._manager.__exit__(None, None, None)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> BrowserSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
