"""Many workers, one world: an export whose steps land on different gunicorn
workers gives the same bytes as a single-worker server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import requests

from lbmock.contract_tests.wire import HttpTransport, Reply, WireClient, start_serve, unsigned, workflow_item
from lbmock.export import ExportFilters, selected_rows
from lbmock.strategies import seeded_world
from lbmock.world import WorkflowStatus

SEED, ROWS = 2, 40
PUBLIC = "http://lbmock.test"  # both servers put the same base in links, so bytes can be compared


@contextmanager
def serve(*extra: str, public: str | None = PUBLIC) -> Iterator[tuple[str, str]]:
    with start_serve("--seed", str(SEED), "--rows", str(ROWS), "--file-bytes", "20000",
                     *(["--public-url", public] if public else []), *extra) as server:
        yield server.base_url, server.project_id


class WorkerSpy:
    """A transport over HTTP that notes which worker answered each step of an export, on a fresh
    connection per call, with the public base of served links mapped back to the server."""

    def __init__(self, base: str) -> None:
        self.http, self.base = HttpTransport(base), base
        self.workers: dict[str, set[str]] = {"create": set(), "poll": set(), "stream": set(), "download": set()}

    def request(self, method: str, url: str, *, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Reply:
        reply = self.http.request(method, url.replace(PUBLIC, self.base), body=body,
                                  headers={**(headers or {}), "Connection": "close"})
        step = ("download" if method == "GET" else "create" if b"exportDataRowsInProject" in body
                else "poll" if b"createdTasks" in body else "stream" if b"task(where" in body else None)
        if step:
            self.workers[step].add(reply.headers["X-Lbmock-Worker"])
        return reply


def run_export(base: str, project: str) -> tuple[bytes, dict[str, set[str]]]:
    """One export, step by step as the SDK does it; returns its bytes and which workers served each step."""
    spy = WorkerSpy(base)
    client = WireClient(spy, "worker-test-key", project)
    task_id = client.create_export({"label_details": True, "project_details": True}, [workflow_item("Done")])
    for _ in range(3):
        assert client.created_tasks(task_id)[0]["status"] == "COMPLETE"
    return client.stream(task_id).data, spy.workers


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
        client = WireClient(WorkerSpy(base), "worker-test-key", project)  # links name the public base
        statuses = [client.graphql_raw("{user{id}}")[0] for _ in range(4)]
        assert statuses.count(429) == 1
        polls = [a["shouldPoll"] for _ in range(2) for a in client.legacy_export().answers]
        assert polls == [True, False, False]
        # State-manager transitions too: set through one worker, honoured by every worker's status reads.
        requests.post(f"{base}/_mock/state-manager/set-transition", timeout=10, json={
            "model_name": "export-task", "transition": {"progression": "manual", "times": 2}})
        task_id = client.create_export()
        assert [client.created_tasks(task_id)[0]["status"] for _ in range(3)] == ["IN_PROGRESS"] * 2 + ["COMPLETE"]
