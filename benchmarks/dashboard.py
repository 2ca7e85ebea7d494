"""Dashboard benchmark: every page and image endpoint of a 100,000-row world, over HTTP.

    python benchmarks/dashboard.py [--rows 100000] [--runs 5]

Method: one ``lbmock serve --seed 2 --rows N`` in its own process on loopback; a ``requests``
session (keep-alive) GETs each URL and reads the whole body.  For each URL: the first request
(cold: nothing about that page computed yet) and the best of ``runs`` more.  The row index that
filters read is built in the server's background from the first dashboard request on; filtered
pages are measured while it is being built and again once it is complete.  Figures, not assertions.
"""

from __future__ import annotations

import argparse
import re
import time

import requests

from lbmock.contract_tests.wire import start_serve
from lbmock.strategies.served_world import seeded_world

SEED = 2
TARGET_MS = 300.0
PROGRESS = re.compile(r'id="index-progress"')


def _time(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    response = session.get(url, timeout=120)
    body = response.content
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or not body:
        raise RuntimeError(f"GET {url}: {response.status_code} {body[:300]!r}")
    return elapsed


def _measure(session: requests.Session, url: str, runs: int) -> tuple[float, float]:
    """(first request's ms, best of ``runs`` more)."""
    cold = _time(session, url)
    return cold, min(_time(session, url) for _ in range(runs))


def _rows_to_show(rows: int, search: int = 3000):
    """A large labelled row (the slowest images) and a typical one, found among the first rows."""
    world = seeded_world(SEED, rows)
    labelled = [world.row(i) for i in range(min(rows, search)) if world.row(i).labels]
    big = max(labelled, key=lambda r: (r.volume.rows * r.volume.cols * r.volume.slices, len(r.labels[0].features)))
    typical = sorted(labelled, key=lambda r: r.volume.rows * r.volume.cols * r.volume.slices)[len(labelled) // 2]
    return world, big, typical


def bench_dashboard(rows: int = 100_000, runs: int = 5,
                    wait_index: float = 300.0) -> list[tuple[str, float, float | None]]:
    """``(what, first request ms, best of runs ms)`` for every dashboard page and image endpoint at
    ``rows`` rows; one entry with best ``None``: how long the background index took (ms, a duration)."""
    world, big, typical = _rows_to_show(rows)
    tool = world.project.ontology.tools[0].name
    out: list[tuple[str, float, float | None]] = []
    with start_serve("--seed", str(SEED), "--rows", str(rows)) as served, requests.Session() as session:
        base = f"{served.base_url}/_mock/dashboard"

        def measure(what: str, path: str) -> None:
            cold, best = _measure(session, base + path, runs)
            out.append((what, cold, best))

        measure("overview (index being built)", "/")
        measure("data rows, page 1", "/rows")
        measure("data rows, page 1,000 (rows 49,951-50,000)", "/rows?page=1000")
        filtered = f"/rows?status=Done&plane=Sagittal&tool={requests.utils.quote(tool)}"
        measure("data rows, status + plane + tool (index being built)", filtered)
        measure("data rows, has labels, page 20 (index being built)", "/rows?labels=yes&page=20")
        for row, kind in ((big, "large"), (typical, "typical")):
            v = row.volume
            size = f"{v.cols}x{v.rows}x{v.slices} {row.series.modality}"
            measure(f"data row view, {kind} row ({size})", f"/rows/{row.id}")
            for plane in ("Axial", "Sagittal", "Coronal"):
                middle = (v.plane(plane).frame_count + 1) // 2
                measure(f"image.png {plane}, {kind} row", f"/rows/{row.id}/{plane}/{middle}/image.png")
                measure(f"overlay.png {plane}, {kind} row", f"/rows/{row.id}/{plane}/{middle}/overlay.png")
        deadline = time.monotonic() + wait_index
        started = time.perf_counter()
        while PROGRESS.search(session.get(base + "/", timeout=120).text):
            if time.monotonic() > deadline:
                out.append(("row index still incomplete after", wait_index * 1000, None))
                return out
            time.sleep(1.0)
        out.append(("row index complete, after the pages above (background thread)",
                    (time.perf_counter() - started) * 1000, None))
        measure("overview (index complete)", "/")
        measure("data rows, status + plane + tool (index complete)", filtered + "&page=2")
        measure("data rows, has labels, last page (index complete)", "/rows?labels=yes&page=1500")
        # Tasks, Journal and Faults, with a full journal (10,000 entries) and 100 export tasks
        entries = min(rows, JOURNAL_ENTRIES)
        task_ids = _fill_activity(session, served, entries, min(max(rows // 100, 1), TASKS))
        measure(f"overview ({entries:,}-entry journal)", "/")
        measure(f"tasks ({len(task_ids)} tasks)", "/tasks")
        measure("one task", f"/tasks/{task_ids[-1]}")
        measure(f"journal ({entries:,} entries), newest page", "/journal")
        measure("journal, the auto-refresh's rows", "/journal/rows")
        measure("journal, status 4xx (every entry tested)", "/journal?status=4xx")
        measure("journal, one operation (every entry tested)", "/journal?operation=exportDataRowsInProjectPyApi")
        measure("faults", "/faults")
    return out


JOURNAL_ENTRIES = 10_000  # the journal keeps this many
TASKS = 100
EXPORT = ("mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!) "
          "{ exportDataRowsInProject(input: $input) { taskId isStreamable } }")


def _fill_activity(session: requests.Session, served, entries: int, tasks: int) -> list[str]:
    """``tasks`` export tasks (as labelbox 7.17.0 creates them), then refused file downloads up to
    ``entries`` journal entries in all; the task ids."""
    key = {"Authorization": "Bearer any-non-empty-key"}
    ids = []
    for i in range(tasks):
        body = {"query": EXPORT, "variables": {"input": {
            "taskName": f"bench {i}", "params": {"includeLabelDetails": True}, "isStreamableReady": True,
            "filters": {"projectId": served.project_id, "searchQuery": {"scope": None, "query": []}}}}}
        answer = session.post(f"{served.base_url}/graphql", json=body, headers=key, timeout=120)
        ids.append(answer.json()["data"]["exportDataRowsInProject"]["taskId"])
    for i in range(max(0, entries - tasks)):
        session.get(f"{served.base_url}/files/{ids[i % len(ids)]}/RESULT/0", timeout=120)  # unsigned: 403
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"| dashboard, {args.rows:,} rows | first request | best of {args.runs} |\n| --- | --- | --- |")
    for what, first, best in bench_dashboard(args.rows, args.runs):
        shown = f"{first / 1000:,.1f} s | |" if best is None else f"{first:,.0f} ms | {best:,.0f} ms |"
        print(f"| {what} | {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
