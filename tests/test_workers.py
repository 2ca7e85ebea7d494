"""Many workers, one world: an export whose steps land on different gunicorn
workers gives the same bytes as a single-worker server."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from contract_tests.wire import CREATED_TASKS as TASKS
from contract_tests.wire import EXPORT, FROM_OFFSET, HEADER, unsigned
from contract_tests.wire import LEGACY_EXPORT as LEGACY
from lbmock.export import ExportFilters, selected_rows
from lbmock.world import WorkflowStatus
from strategies import seeded_world

SEED, ROWS = 2, 40
PUBLIC = "http://lbmock.test"  # both servers put the same base in links, so bytes can be compared
KEY = {"Authorization": "Bearer worker-test-key", "Connection": "close"}  # a fresh connection per call


@contextmanager
def serve(*extra: str, public: str | None = PUBLIC) -> Iterator[tuple[str, str]]:
    cmd = [sys.executable, "-m", "lbmock.cli", "serve", "--port", "0", "--seed", str(SEED), "--rows", str(ROWS),
           "--file-bytes", "20000", *(["--public-url", public] if public else []), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = project = None
        deadline = time.time() + 60
        while time.time() < deadline and not (base and project):
            line = proc.stdout.readline()
            if not line:
                break
            if m := re.search(r"rows at (http://\S+?)(,|$)", line.strip()):
                base = m.group(1)
            if m := re.search(r"project id (\S+)", line):
                project = m.group(1)
        assert base and project, "lbmock serve did not start"
        for _ in range(100):
            if requests.get(f"{base}/_mock/health", timeout=5).ok:
                break
            time.sleep(0.1)
        yield base, project
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def gql(base: str, query: str, variables: dict) -> tuple[dict, str]:
    resp = requests.post(f"{base}/graphql", json={"query": query, "variables": variables}, headers=KEY, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"], resp.headers["X-Lbmock-Worker"]


def run_export(base: str, project: str) -> tuple[bytes, dict[str, set[str]]]:
    """One export, step by step as the SDK does it; returns its bytes and which workers served each step."""
    workers: dict[str, set[str]] = {"create": set(), "poll": set(), "stream": set(), "download": set()}
    query = [{"type": "task_queue_status", "status": "Done"}]
    data, w = gql(base, EXPORT, {"input": {"taskName": None, "isStreamableReady": True, "streamable": True,
                                           "filters": {"projectId": project,
                                                       "searchQuery": {"scope": None, "query": query}},
                                           "params": {"includeLabelDetails": True, "includeProjectDetails": True}}})
    task_id = data["exportDataRowsInProject"]["taskId"]
    workers["create"].add(w)
    user, _ = gql(base, "{user{id}}", {})
    for _ in range(3):
        tasks, w = gql(base, TASKS, {"param_0": task_id, "param_1": user["user"]["id"]})
        workers["poll"].add(w)
        assert tasks["user"]["createdTasks"][0]["status"] == "COMPLETE"
    header, w = gql(base, HEADER, {"where": {"id": task_id}, "streamType": "RESULT"})
    workers["stream"].add(w)
    total, offset, chunks = int(header["task"]["exportMetadataHeader"]["totalSize"]), 0, []
    while offset < total:
        info, w = gql(base, FROM_OFFSET, {"where": {"id": task_id}, "streamType": "RESULT", "offset": str(offset)})
        workers["stream"].add(w)
        f = info["task"]["exportFileFromOffset"]
        resp = requests.get(f["file"].replace(PUBLIC, base), headers={"Connection": "close"}, timeout=60)
        assert resp.status_code == 200, resp.text
        workers["download"].add(resp.headers["X-Lbmock-Worker"])
        assert len(resp.content) == int(f["offsets"]["end"]) - int(f["offsets"]["start"]) + 1
        chunks.append(resp.content)
        offset = int(f["offsets"]["end"]) + 1
    return b"".join(chunks), workers


def test_steps_on_different_workers_give_single_worker_bytes():
    with serve() as (base, project):
        single, _ = run_export(base, project)
    expected = [r.id for r in selected_rows(seeded_world(SEED, ROWS), ExportFilters(
        statuses=frozenset({WorkflowStatus.DONE})))]
    assert [line.split(b'"id":"')[1][:25].decode() for line in single.splitlines()] == expected
    with serve("--workers", "3") as (base, project):
        seen: set[str] = set()
        spread = False
        for _ in range(12):
            data, workers = run_export(base, project)
            # byte-identical, whichever workers answered (row_data is signed per server key and task)
            assert unsigned(data) == unsigned(single)
            seen |= set().union(*workers.values())
            # the task was created on one worker and polled or downloaded on another
            spread = spread or bool((workers["poll"] | workers["download"]) - workers["create"])
            if spread:
                break
        assert len(seen) >= 2 and spread, f"requests never spread across workers: {seen}"

        # Shared state beyond tasks: a fault set through one worker is seen by all,
        # and legacy exports keep one poll count across workers.
        requests.post(f"{base}/_mock/faults", json={"name": "rate-limit", "times": 1}, timeout=10)
        statuses = [requests.post(f"{base}/graphql", json={"query": "{user{id}}"}, headers=KEY, timeout=10).status_code
                    for _ in range(4)]
        assert statuses.count(429) == 1
        polls = [gql(base, LEGACY % "", {"projectId": project})[0]["exportLabels"]["shouldPoll"] for _ in range(3)]
        assert polls == [True, False, False]
