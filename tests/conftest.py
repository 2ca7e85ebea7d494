"""Settings every test under tests/ shares."""

import atexit
import os
import shutil
import tempfile

import browser_harness
import pytest
from hypothesis import settings

# `lbmock serve` keeps export templates across runs in ~/.cache/lbmock, and its spool in a temp dir it
# removes when it exits (not when a test SIGKILLs it): the servers tests start keep both in a
# directory of this test process, removed when it ends.
_SCRATCH = tempfile.mkdtemp(prefix="lbmock-tests-")
os.environ["LBMOCK_CACHE_DIR"] = os.path.join(_SCRATCH, "cache")
os.environ["TMPDIR"] = _SCRATCH  # read by subprocesses (and by tempfile here, if not resolved yet)
atexit.register(shutil.rmtree, _SCRATCH, True)

# No Hypothesis deadline: a deadline is a timed assertion, and on a loaded machine (CI shares two
# cores) drawing a world with several projects can take longer than 200 ms without anything being
# wrong.  Performance is measured by benchmarks/run.py instead.
settings.register_profile("lbmock-tests", deadline=None)
settings.load_profile("lbmock-tests")


# ------------------------------------------------------------ the real-browser harness (tests/browser_harness.py)

@pytest.fixture(scope="session")
def browser_session():
    """One headless Chromium per test process (per xdist worker), started on first use.

    Missing browser: skip, or fail under LBMOCK_REQUIRE_BROWSER=1 (CI), never pass unseen."""
    reason = browser_harness.unavailable_reason()
    if reason is not None:
        if browser_harness.browser_required():
            pytest.fail(f"{browser_harness.REQUIRE_ENV} is set but the browser tests cannot run: {reason}")
        pytest.skip(f"browser tests: {reason}")
    with browser_harness.BrowserSession() as session:
        yield session


@pytest.fixture
def page(browser_session):
    """A fresh 1280x800 page (its own context); closed after the test."""
    page = browser_session.new_page()
    yield page
    page.context.close()


# ------------------------------------------------------------ a private PostgreSQL (tests/pg_harness.py)

@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server per test process (per xdist worker), started on first use, stopped at
    the end.  Missing binaries: skip, or fail under LBMOCK_REQUIRE_POSTGRES=1 (CI), never pass unseen."""
    import pg_harness

    reason = pg_harness.unavailable_reason()
    if reason is not None:
        if pg_harness.required():
            pytest.fail(f"{pg_harness.REQUIRE_ENV} is set but the PostgreSQL tests cannot run: {reason}")
        pytest.skip(f"PostgreSQL tests: {reason}")
    instance = pg_harness.PostgresInstance()
    yield instance
    instance.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_location(request, tmp_path):
    """Where a test's shared state lives, once per engine: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite")
    return request.getfixturevalue("postgres").database()
