"""A user's conftest: their own ``responses`` fixture for the other HTTP API their code calls.

lbmock's fixtures (lb_mock, lb_mock_session, lb_world ...) come from the installed plugin; nothing
to import.  Run: ``pytest examples/user_project`` (tests/test_fits_your_suite.py runs it in CI).
"""

from __future__ import annotations

import pytest
import responses


@pytest.fixture
def weather_api():
    """The other service this project calls, stubbed with responses as it always was."""
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, "https://weather.example.org/today", json={"sky": "clear"})
        yield rsps
