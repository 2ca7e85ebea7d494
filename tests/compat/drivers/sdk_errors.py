"""Error mapping through the real SDK; print one JSON document.

Run by an SDK virtualenv's interpreter against a server started with ``--api-key``:

    <venv>/bin/python sdk_errors.py BASE_URL API_KEY PROJECT_ID WRONG_KEY UNKNOWN_PROJECT_ID

``API_KEY`` is the key the server accepts, ``WRONG_KEY`` one it refuses.
Each case records the exception the SDK raised and how long it took to raise it
(the SDK retries some errors for minutes; these must come back at once).
"""

from __future__ import annotations

import sys
import time
import warnings

import driverlib as lib
import labelbox


def attempt(call) -> dict:
    started = time.monotonic()
    out: dict = {}
    try:
        value = call()
        out["returned"] = lib.type_name(value)
    except Exception as exc:
        out["raised"] = lib.error_info(exc)
    out["seconds"] = round(time.monotonic() - started, 3)
    return out


def main() -> dict:
    plan = lib.read_plan(sys.argv[1:], extra=("wrong_key", "unknown_project_id"))
    base = plan["base_url"]
    warnings.simplefilter("ignore", DeprecationWarning)

    def client(key: str):
        return labelbox.Client(api_key=key, endpoint=f"{base}/graphql", rest_endpoint=f"{base}/api/v1")

    good, wrong = client(plan["api_key"]), client(plan["wrong_key"])
    cases = {
        "wrong_key_get_project": attempt(lambda: wrong.get_project(plan["project_id"])),
        "wrong_key_get_user": attempt(lambda: wrong.get_user()),
        "unknown_project": attempt(lambda: good.get_project(plan["unknown_project_id"])),
        "right_key_get_project": attempt(lambda: good.get_project(plan["project_id"])),
    }
    project = good.get_project(plan["project_id"])
    if hasattr(project, "export_labels"):  # 3.x: the legacy export's timeout path
        import requests

        requests.post(f"{base}/_mock/faults", json={"name": "legacy-never-ready", "times": 6}, timeout=10)
        cases["legacy_never_ready"] = attempt(lambda: project.export_labels(download=True, timeout_seconds=3))
        requests.delete(f"{base}/_mock/faults", timeout=10)
        # The state manager's legacy-export transition: immediate (no shouldPoll), then manual 2 (two
        # shouldPoll answers, the SDK sleeping 2 s after each).  Each on its own window: a window's
        # export, once started, keeps the transition it started with.
        for name, transition, start in (("legacy_immediate", {"progression": "immediate"}, "2001-01-01"),
                                        ("legacy_manual_2", {"progression": "manual", "times": 2}, "2002-01-01")):
            requests.post(f"{base}/_mock/state-manager/set-transition", timeout=10,
                          json={"model_name": "legacy-export", "transition": transition})
            requests.delete(f"{base}/_mock/journal", timeout=10)
            cases[name] = attempt(lambda start=start: project.export_labels(download=False, timeout_seconds=30,
                                                                            start=start, end="2050-01-01"))
            journal = requests.get(f"{base}/_mock/journal", timeout=10,
                                   params={"operation": "GetLabelExportUrlPyApi"}).json()["entries"]
            cases[name]["exportLabels_calls"] = len(journal)
        requests.post(f"{base}/_mock/state-manager/unset-transition", json={"model_name": "legacy-export"},
                      timeout=10)
    return {"sdk_version": labelbox.__version__, "cases": cases}


if __name__ == "__main__":
    lib.run_driver(main, getattr(labelbox, "__version__", None))
