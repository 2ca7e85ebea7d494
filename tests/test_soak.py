"""Concurrency soak: many labelbox 7.17.0 clients at once against ONE ThreadedMockServer.

Threads in this process and subprocesses each run the SDK's whole export flow
(``Client`` → ``get_project`` → ``project.export(params, filters)`` →
``wait_till_done`` → ``get_buffered_stream``) with their own API key, their own filters
and their own params, all released at the same moment.  Each must get exactly the rows
``lbmock.export`` selects for its filters, rendered for its params: not one row of
another client's export.  Afterwards the server process's RSS is back near where it was.

By default 8 threads + 4 subprocesses (CI); ``LBMOCK_SOAK_FULL=1`` runs 16 + 16.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import labelbox as lb
import mocks
import orjson
import pytest
from sdk_streams import buffered

from lbmock.contract_tests.wire import placeholder_sign, unsigned
from lbmock.export import ExportFilters, TimeRange, selected_rows, v2_lines
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.strategies import seeded_world
from lbmock.world import WorkflowStatus

SEED, ROWS, FILE_BYTES = 42, 60, 12_000
FULL = os.environ.get("LBMOCK_SOAK_FULL") == "1"
THREADS, PROCESSES = (16, 16) if FULL else (8, 4)
ROUNDS = 4 if FULL else 2  # each client runs its export this many times, back to back
RSS_MARGIN_MB = 60

# One subprocess client: imports the SDK, says "ready", waits for "go" on stdin, runs the
# export flow, writes {"rows": [...], "error": ...} to the file named in its argument.
SUBPROCESS_CLIENT = r"""
import json, sys, traceback
args = json.loads(sys.argv[1])
import labelbox as lb
print("ready", flush=True)
sys.stdin.readline()
out = {"rows": [], "error": None}
try:
    client = lb.Client(**args["client_kwargs"])
    project = client.get_project(args["project_id"])
    for _ in range(args["rounds"]):
        task = project.export(params=args["params"], filters=args["filters"])
        task.wait_till_done()
        rows = []
        task.get_buffered_stream().start(stream_handler=lambda output: rows.append(output.json))
        out["rows"].append(rows)
except BaseException:
    out["error"] = traceback.format_exc()
with open(args["out"], "w") as fh:
    json.dump(out, fh)
"""


def rss_mb() -> float:
    """This process's resident set size (the threaded server runs in it)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    pytest.skip("no way to read this process's RSS")


# ------------------------------------------------------------------ each client's filters and expectation


def _ms(text: str) -> int:
    fmt = "%Y-%m-%d" if len(text) == 10 else "%Y-%m-%d %H:%M:%S"
    return int(datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp() * 1000)


def _window(start: str | None, end: str | None) -> TimeRange:
    """What the API means by [start, end] (user timezone UTC): an upper bound covers its whole
    second, or its whole day when it is a date."""
    if end is None:
        upper = None
    else:
        upper = _ms(end) + (86_400_000 if len(end) == 10 else 1_000) - 1
    return TimeRange(None if start is None else _ms(start), upper)


def _fmt(ms: int, date_only: bool = False) -> str:
    moment = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return moment.strftime("%Y-%m-%d" if date_only else "%Y-%m-%d %H:%M:%S")


def expected_filters(sdk_filters: dict) -> ExportFilters:
    """The rows ``project.export(filters=...)`` asks for, as lbmock.export's filters."""
    fields: dict = {}
    if "workflow_status" in sdk_filters:
        fields["statuses"] = frozenset({WorkflowStatus(sdk_filters["workflow_status"])})
    for sdk_key, ours in (("data_row_ids", "data_row_ids"), ("global_keys", "global_keys"),
                          ("batch_ids", "batch_ids")):
        if sdk_key in sdk_filters:
            fields[ours] = frozenset(sdk_filters[sdk_key])
    if "last_activity_at" in sdk_filters:
        fields["last_activity_at"] = _window(*sdk_filters["last_activity_at"])
    if "label_created_at" in sdk_filters:
        fields["labeled_at"] = _window(*sdk_filters["label_created_at"])
    return ExportFilters(**fields)


def client_specs(world, n: int) -> list[dict]:
    """``n`` clients, each with its own key, filters and params, each selecting >= 1 row."""
    rows = list(world)
    batches = sorted({r.batch.id for r in rows})
    activity = sorted(r.last_activity_at for r in rows)
    labeled = sorted(lb.created_at for r in rows for lb in r.labels)
    statuses = [s.value for s in WorkflowStatus]
    param_names = ExportParams.names()
    specs: list[dict] = []
    seen: set[str] = set()
    i = 0
    while len(specs) < n:
        kind, k = i % 9, i // 9
        i += 1
        if kind == 0:
            filters = {"workflow_status": statuses[k % 4]}
        elif kind == 1:
            filters = {"data_row_ids": [r.id for r in rows[(5 * k) % ROWS:(5 * k) % ROWS + 3 + k % 7]]}
        elif kind == 2:
            filters = {"batch_ids": [batches[k % len(batches)]]}
        elif kind == 3:
            # rows without a global key (some have none) cannot be asked for by one
            filters = {"global_keys": [r.global_key for r in rows[(7 * k + 2) % ROWS::9] if r.global_key]}
        elif kind == 4:
            lo, hi = activity[(6 * k) % ROWS], activity[min(ROWS - 1, (6 * k) % ROWS + 12)]
            filters = {"last_activity_at": [_fmt(lo), _fmt(hi)]}
        elif kind == 5:
            lo = labeled[(4 * k) % len(labeled)]
            filters = {"label_created_at": [_fmt(lo, True), _fmt(lo + (k + 1) * 30 * 86_400_000, True)]}
        elif kind == 6:
            filters = {"batch_ids": [batches[k % len(batches)]], "workflow_status": statuses[(k + 1) % 4]}
        elif kind == 7:
            filters = {"data_row_ids": [r.id for r in rows[k % 3::2]],
                       "last_activity_at": [_fmt(activity[(3 * k) % ROWS]), None]}
        else:
            filters = {"workflow_status": statuses[k % 4], "label_created_at": [None, _fmt(labeled[-1 - k], True)]}
        key = json.dumps(filters, sort_keys=True)
        expected = [r.id for r in selected_rows(world, expected_filters(filters))]
        if not expected or key in seen:
            if i > 50 * n:
                raise AssertionError("could not make enough distinct, non-empty client filters")
            continue
        seen.add(key)
        params = {name: bool((len(specs) >> bit) & 1) for bit, name in enumerate(param_names)}
        specs.append({"index": len(specs), "api_key": f"soak-key-{len(specs)}", "filters": filters,
                      "params": params})
    return specs


def expected_rows(world, spec: dict, base_url: str) -> list[dict]:
    filters = expected_filters(spec["filters"])
    lines = v2_lines(world, selected_rows(world, filters), ExportParams(**spec["params"]),
                       Urls.served_at(base_url, sign=placeholder_sign))
    return [orjson.loads(line) for line in lines]


# ------------------------------------------------------------------ the clients


def run_sdk_flow(client_kwargs: dict, project_id: str, spec: dict, rounds: int = 1) -> list[list[dict]]:
    """The rows of each of ``rounds`` exports, as the SDK hands them over."""
    client = lb.Client(**client_kwargs)
    project = client.get_project(project_id)
    exports = []
    for _ in range(rounds):
        task = project.export(params=spec["params"], filters=spec["filters"])
        task.wait_till_done()
        exports.append(buffered(task))
    return exports


def wrong_rows(exports: list[list[dict]] | None, want: list[dict]) -> int:
    """Rows received that are not the expected ones: another client's row, a row of the wrong
    content or order, an extra row, or one missing from an export that completed.  (The rows of
    exports a client never finished are reported with its error, not counted here.)"""
    wrong = 0
    for received in exports or []:
        got = [orjson.loads(unsigned(orjson.dumps(row))) for row in received]  # signed row_data: per task
        wrong += sum(1 for a, b in zip(got, want, strict=False) if a != b) + abs(len(got) - len(want))
    return wrong


@pytest.fixture(scope="module")
def world():
    return seeded_world(SEED, ROWS)


def test_concurrent_clients_each_get_exactly_their_rows(world, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="werkzeug")  # not a line per request
    started = time.perf_counter()
    specs = client_specs(world, THREADS + PROCESSES)
    with mocks.serving(world, file_bytes=FILE_BYTES, user_timezone="UTC") as server:
        base = server.base_url

        def kwargs_for(spec: dict) -> dict:
            return {**server.client_kwargs, "api_key": spec["api_key"]}

        # warm up (imports, caches, first connections), then take the baseline
        warm = {"index": -1, "api_key": "soak-warmup", "filters": {}, "params": {"label_details": True}}
        assert len(run_sdk_flow(kwargs_for(warm), world.project.id, warm)[0]) == ROWS
        gc.collect()
        baseline = rss_mb()

        procs = []
        for spec in specs[THREADS:]:
            args = {"client_kwargs": kwargs_for(spec), "project_id": world.project.id, "filters": spec["filters"],
                    "params": spec["params"], "rounds": ROUNDS,
                    "out": str(tmp_path / f"client-{spec['index']}.json")}
            procs.append(subprocess.Popen([sys.executable, "-c", SUBPROCESS_CLIENT, json.dumps(args)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for proc in procs:  # every subprocess has imported the SDK
            assert proc.stdout.readline().strip() == "ready"

        barrier = threading.Barrier(THREADS + 1)

        def thread_client(spec: dict) -> list[dict]:
            barrier.wait(timeout=60)
            return run_sdk_flow(kwargs_for(spec), world.project.id, spec, ROUNDS)

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(thread_client, spec) for spec in specs[:THREADS]]
            for proc in procs:  # all 32 (or 12) clients start together
                proc.stdin.write("go\n")
                proc.stdin.flush()
                proc.stdin.close()
            barrier.wait(timeout=60)
            results: dict[int, tuple[list[list[dict]] | None, str | None]] = {}
            for spec, future in zip(specs[:THREADS], futures, strict=True):
                try:
                    results[spec["index"]] = (future.result(timeout=180), None)
                except Exception as exc:  # collected, reported below
                    results[spec["index"]] = (None, f"{type(exc).__name__}: {exc}")
        for spec, proc in zip(specs[THREADS:], procs, strict=True):
            proc.wait(timeout=180)
            out = json.loads((tmp_path / f"client-{spec['index']}.json").read_text())
            results[spec["index"]] = (out["rows"], out["error"])

        errors = {i: err for i, (_rows, err) in results.items() if err}
        wrong = {spec["index"]: wrong_rows(results[spec["index"]][0], expected_rows(world, spec, base))
                 for spec in specs}
        rows_checked = sum(len(rows) for exports, _err in results.values() for rows in exports or [])
        incomplete = sorted(i for i, (exports, _err) in results.items() if len(exports or []) != ROUNDS)
        journal = server.journal.entries()
        server_errors = [e for e in journal if e.status >= 500]
        requests_served = len(journal)
        later_files = [e for e in journal if e.path.startswith("/files/") and not e.path.endswith(("/0", "/all"))]

    del results, futures
    gc.collect()
    time.sleep(0.2)  # connection threads finish closing
    gc.collect()
    after = rss_mb()
    elapsed = time.perf_counter() - started
    print(f"\nsoak: {len(specs)} clients run ({THREADS} threads + {PROCESSES} subprocesses, "
          f"{ROUNDS} exports each), "
          f"{rows_checked} rows checked, {sum(wrong.values())} wrong rows seen, {len(errors)} client errors, "
          f"{requests_served} requests served ({len(later_files)} downloads of a file after a stream's first), "
          f"{len(server_errors)} 5xx; "
          f"RSS {baseline:.0f} MB -> {after:.0f} MB; {elapsed:.1f} s")
    assert not errors, errors
    assert not any(wrong.values()), {i: n for i, n in wrong.items() if n}
    assert not server_errors, server_errors[:5]
    assert not incomplete, f"clients that did not finish every round: {incomplete}"
    assert rows_checked == ROUNDS * sum(len(expected_rows(world, s, base)) for s in specs)
    assert later_files, "no export spanned more than one file"
    assert after - baseline < RSS_MARGIN_MB, f"RSS grew {after - baseline:.0f} MB"


def test_client_filters_are_distinct_and_cover_every_kind(world):
    specs = client_specs(world, 32)
    assert len({json.dumps(s["filters"], sort_keys=True) for s in specs}) == 32
    assert len({s["api_key"] for s in specs}) == 32
    kinds = {k for s in specs for k in s["filters"]}
    assert kinds == {"workflow_status", "data_row_ids", "batch_ids", "global_keys", "last_activity_at",
                     "label_created_at"}
    # different clients select different rows: a mix-up between two of them would show
    selections = {tuple(r.id for r in selected_rows(world, expected_filters(s["filters"]))) for s in specs}
    assert len(selections) >= 24


def test_concurrent_clients_against_four_gunicorn_workers(world):
    """The same soak against ``lbmock serve --workers 4``: steps land on any worker."""
    import requests

    from tests.test_workers import serve

    n_clients = 32 if FULL else 8
    specs = client_specs(world, n_clients)
    with serve("--workers", "4", "--timezone", "UTC", public=None) as (base, _project_id):
        # serve() pins its own seed/rows; this test needs the soak's world
        loaded = requests.post(f"{base}/_mock/world", json={"seed": SEED, "rows": ROWS}, timeout=60).json()
        assert loaded["project_id"] == world.project.id

        def client(spec: dict) -> list[list[dict]]:
            kwargs = {"api_key": spec["api_key"], "endpoint": f"{base}/graphql", "rest_endpoint": f"{base}/api/v1"}
            return run_sdk_flow(kwargs, world.project.id, spec, ROUNDS)

        with ThreadPoolExecutor(n_clients) as pool:
            outcomes = list(pool.map(lambda s: _attempt(client, s), specs))
        journal = requests.get(f"{base}/_mock/journal", timeout=60).json()["entries"]
    errors = [err for _rows, err in outcomes if err]
    wrong = sum(wrong_rows(rows, expected_rows(world, spec, base)) for spec, (rows, _e) in zip(specs, outcomes,
                                                                                                   strict=True))
    clients = {e["client"] for e in journal}  # key hashes: every client made requests
    print(f"\nsoak --workers 4: {n_clients} clients, {len(journal)} requests, "
          f"{sum(1 for e in journal if e['status'] >= 500)} 5xx, {wrong} wrong rows, {len(errors)} errors")
    assert not errors, errors[:3]
    assert wrong == 0
    assert not [e for e in journal if e["status"] >= 500]
    assert len(clients) >= n_clients


def _attempt(fn, spec):
    try:
        return fn(spec), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
