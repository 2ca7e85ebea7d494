"""Error mapping through the real SDKs: the mock's error shapes raise the SDK's own exceptions, at once.

The SDK retries 5xx and INTERNAL_SERVER_ERROR answers for up to 120 s; a wrong
key or an unknown id must instead raise straight away.
"""

from __future__ import annotations

from expected import RELEASES
from support import releases

ALL = releases(*RELEASES)
QUICK_SECONDS = 5.0


def _exceptions_module(release: str) -> str:
    return "lbox.exceptions" if release.startswith("7.") else "labelbox.exceptions"


def _raised(case: dict, name: str, release: str) -> dict:
    assert "raised" in case, f"expected {name}, the SDK returned {case.get('returned')}"
    raised = case["raised"]
    assert (raised["module"], raised["type"]) == (_exceptions_module(release), name), raised["traceback"]
    assert case["seconds"] < QUICK_SECONDS, f"{name} took {case['seconds']} s: the SDK retried"
    return raised


@ALL
def test_wrong_api_key_raises_authentication_error(errors_doc, release):
    for call in ("wrong_key_get_project", "wrong_key_get_user"):
        raised = _raised(errors_doc[call], "AuthenticationError", release)
        assert "Invalid API key" in raised["message"]


@ALL
def test_unknown_project_raises_resource_not_found(errors_doc, release):
    raised = _raised(errors_doc["unknown_project"], "ResourceNotFoundError", release)
    assert "Project" in raised["message"]


@ALL
def test_right_key_gets_the_project(errors_doc, release):
    case = errors_doc["right_key_get_project"]
    assert case.get("returned") == "labelbox.schema.project.Project", case.get("raised")


@releases("3.40.1", "3.72.2")
def test_legacy_never_ready_times_out_with_none(errors_doc, release):
    # Fault legacy-never-ready: exportLabels keeps answering shouldPoll; the SDK
    # polls every 2 s until its timeout and then returns None.
    case = errors_doc["legacy_never_ready"]
    assert "raised" not in case, case.get("raised")
    assert case["returned"] == "builtins.NoneType"
    assert 2.0 <= case["seconds"] < 10


@releases("3.40.1", "3.72.2")
def test_export_labels_honours_the_legacy_export_transition(errors_doc, release):
    # Set over /_mock/state-manager/set-transition: immediate hands out the URL at the first
    # call; manual 2 answers shouldPoll twice (the SDK sleeps 2 s after each), then the URL.
    immediate, manual = errors_doc["legacy_immediate"], errors_doc["legacy_manual_2"]
    for case in (immediate, manual):
        assert "raised" not in case, case.get("raised")
        assert case["returned"] == "builtins.str"  # the download URL
    assert immediate["exportLabels_calls"] == 1 and immediate["seconds"] < 2.0
    assert manual["exportLabels_calls"] == 3 and 4.0 <= manual["seconds"] < 10
