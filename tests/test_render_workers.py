"""Big exports rendered by helper processes: the same stream, byte for byte, as rendering in the
server process (lines, file plan, error lines), and a dead helper costs time, not bytes."""

from __future__ import annotations

import os
import signal
import threading
import time

import mocks
import pytest

from lbmock.contract_tests.wire import HttpTransport, WireClient, start_serve, unsigned
from lbmock.export import ExportFilters, ExportScope
from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.backend.tasks import ERRORS, RESULT, ExportTask
from lbmock.mockserver.config import ServerConfig
from lbmock.mockserver.exports.render_workers import RenderWorkers
from lbmock.mockserver.exports.spool import Spool
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.strategies import seeded_world
from lbmock.strategies.served_world import SeededRows
from lbmock.world import WorkflowStatus

KEY = b"k" * 32
NOW_MS = 1_700_000_000_000


def backend(world, helpers: RenderWorkers | None) -> MockBackend:
    b = mocks.backend(world, signing_key=KEY, file_bytes=20_000)
    if helpers is not None:
        b.exports.render_workers = helpers
    return b


def export(b: MockBackend, params: ExportParams, filters: ExportFilters | None = None,
           scope: ExportScope | None = None, error_every: int | None = None) -> ExportTask:
    task = b.create_export("key", params, filters or ExportFilters(), Urls.served_at("http://lbmock.test"),
                           None, True, NOW_MS, scope)
    task.error_every = error_every  # as the export-errors fault sets it
    return task


def stream(b: MockBackend, task: ExportTask, name: str) -> tuple[bytes, list | None]:
    plan = b.plan(task, name)
    opened = b.open_export_file(task.id, name)
    if opened is None:
        return b"", None
    handle, size = opened
    with handle:
        data = handle.read(size)
    return data, [(f.lines, f.offsets) for f in plan.files]


@pytest.fixture(scope="module")
def helpers():
    workers = RenderWorkers(2, min_rows=1, part_rows=37)  # parts of 37 rows: many parts, uneven last one
    yield workers
    workers.close()


CASES = {
    "default": dict(params=ExportParams()),
    "all params": dict(params=ExportParams.all()),
    "done rows, catalog": dict(params=ExportParams(label_details=True),
                               filters=ExportFilters(statuses=frozenset({WorkflowStatus.DONE})), scope=ExportScope()),
    "export-errors": dict(params=ExportParams(project_details=True), error_every=3),
}


@pytest.mark.parametrize("case", CASES)
def test_helpers_render_the_same_streams_as_the_server(helpers, case):
    world = seeded_world(5, 300, quality="consensus", n_projects=2)
    here, there = backend(world, None), backend(world, helpers)
    for name in (RESULT, ERRORS):
        task = export(here, **CASES[case])
        alone = stream(here, task, name)
        assert alone[0] == direct(here, task, name)
        helped = stream(there, export(there, **CASES[case]), name)
        assert helped == alone, f"{case}: {name} differs"
    assert alone[0] or case != "export-errors"  # the faulted task has error lines to compare


def test_errors_stream_of_a_task_without_faults_draws_no_row():
    world = seeded_world(5, 50)
    drawn = []
    rows = world.rows

    class Counting:  # the world's rows, noting each one drawn
        def __len__(self):
            return len(rows)

        def __getitem__(self, index):
            drawn.append(index)
            return rows[index]

    object.__setattr__(world, "rows", Counting())
    b = backend(world, None)
    task = export(b, ExportParams())
    assert b.plan(task, ERRORS) is None
    assert drawn == []
    assert b.plan(task, RESULT).total_lines == 50


def test_a_dead_helper_costs_time_not_bytes():
    world = seeded_world(6, 200)
    alone = backend(world, None)
    expected = stream(alone, export(alone, ExportParams()), RESULT)
    workers = RenderWorkers(2, min_rows=1, part_rows=20)
    try:
        b = backend(world, workers)
        pool = workers._executor()
        assert pool.submit(int, 1).result(timeout=60) == 1  # the helpers are up
        for pid in list(pool._processes):  # helpers this test started
            os.kill(pid, signal.SIGKILL)
        assert stream(b, export(b, ExportParams()), RESULT) == expected
    finally:
        workers.close()


def test_served_export_with_helpers_equals_one_without():
    """``lbmock serve`` on a world big enough for helpers, against ``--render-processes 0``."""
    data = {}
    for processes in ("2", "0"):
        with start_serve("--seed", "3", "--rows", "5000", "--file-bytes", "200000",
                         "--render-processes", processes) as served:
            client = WireClient(HttpTransport(served.base_url), "key", served.project_id)
            walked = client.stream(client.create_export({"label_details": True}))
            # links name each server's own port, and row_data is signed per server key and task
            data[processes] = (unsigned(walked.data.replace(served.base_url.encode(), b"http://lbmock.test")),
                               [(f.lines, f.offsets) for f in walked.files])
    assert data["2"] == data["0"]
    assert data["0"][0].count(b"\n") == 5000 and len(data["0"][1]) > 1


def test_a_retried_header_waits_for_the_render_under_way(tmp_path):
    """The SDK retries a header query that timed out: the retry waits for the first render, never starts another."""
    spool = Spool(str(tmp_path), file_bytes=10)
    renders, started, release = [], threading.Event(), threading.Event()

    def lines():
        renders.append(1)
        started.set()
        release.wait(10)
        yield from (b'{"row": %d}\n' % i for i in range(5))

    plans = []
    first = threading.Thread(target=lambda: plans.append(spool.plan("task-RESULT", lines)))
    first.start()
    assert started.wait(10)
    retry = threading.Thread(target=lambda: plans.append(spool.plan("task-RESULT", lines)))
    retry.start()
    release.set()
    first.join(10)
    retry.join(10)
    assert len(renders) == 1
    assert len(plans) == 2 and plans[0] == plans[1] and plans[0].total_lines == 5


def direct(b: MockBackend, task: ExportTask, name: str = RESULT) -> bytes:
    """The stream rendered row by row, as without templates."""
    return b"".join(b.job(task, name).lines())


@pytest.mark.parametrize("case", CASES)
def test_a_second_export_of_the_same_rows_reuses_them_with_its_own_urls(case, monkeypatch):
    world = seeded_world(5, 120, quality="benchmark", n_projects=2)
    b = backend(world, None)
    first = export(b, **CASES[case])
    assert stream(b, first, RESULT)[0] == direct(b, first)
    kept = list(b.exports.spool.scratch_dir().glob("template-*.ndjson"))  # in the server's own spool
    assert b.exports.spool.scratch_dir().name.startswith("lbmock-spool-") and len(kept) == (case != "export-errors")
    # another task, base URL and signing time: rows come from the first export's template
    again = b.create_export("key", CASES[case]["params"], CASES[case].get("filters") or ExportFilters(),
                            Urls.served_at("http://[::1]:8443/some path"), None, True, NOW_MS + 60_000,
                            CASES[case].get("scope"))
    again.error_every = CASES[case].get("error_every")
    expected = direct(b, again)
    if b.job(again, RESULT).may_fail_rows():  # rows that may fail are rendered afresh
        assert stream(b, again, RESULT)[0] == expected
        return
    monkeypatch.setattr(SeededRows, "__getitem__", lambda *_: pytest.fail("a row was drawn again"))
    data, _plan = stream(b, again, RESULT)
    assert data == expected
    assert b'"row_data":"http://[::1]:8443/some path/storage/' in data
    assert data != stream(b, first, RESULT)[0]  # its own bases and signatures


def test_the_plain_project_export_is_rendered_ahead_for_a_big_world(monkeypatch):
    """A big world with helpers: its ``project.export()`` rows are rendered from the start, so the
    first such export only fills in its URLs."""
    world = seeded_world(8, 150)
    b = backend(world, None)
    workers = RenderWorkers(2, min_rows=1, part_rows=40)
    try:
        b.exports.render_workers = workers
        b.start()  # a big enough world: its likely first export is rendered ahead
        deadline = time.monotonic() + 120
        while not list(b.exports.spool.scratch_dir().glob("template-*.ndjson")):
            assert time.monotonic() < deadline, "no template was rendered ahead"
            time.sleep(0.05)
        task = export(b, ExportParams(), scope=ExportScope(project_id=world.project.id))
        expected = direct(b, task)
        monkeypatch.setattr(SeededRows, "__getitem__", lambda *_: pytest.fail("a row was drawn again"))
        assert stream(b, task, RESULT)[0] == expected
    finally:
        workers.close()


def test_a_backend_starts_nothing_until_started_and_close_stops_it():
    """Building a MockBackend starts no thread and no process; start() brings up the helpers and
    the template built ahead of a big world, close() stops both (a later export starts helpers again)."""
    world = seeded_world(8, 150)
    before = {t.ident for t in threading.enumerate()}
    b = MockBackend(world, ServerConfig(signing_key=KEY, render_processes=2))
    b.exports.render_workers.min_rows = 1  # a "big" world without drawing thousands of rows
    assert {t.ident for t in threading.enumerate()} <= before  # none new (another test's may have ended)
    assert b.exports.render_workers._pool is None
    try:
        b.start()
        deadline = time.monotonic() + 60
        while b.exports.render_workers._pool is None:  # warmed in a thread of its own
            assert time.monotonic() < deadline, "start() started no helpers"
            time.sleep(0.01)
    finally:
        b.close()
    assert b.exports.render_workers._pool is None and b.exports.templates._guess is None
    task = export(b, ExportParams(), scope=ExportScope(project_id=world.project.id))
    assert stream(b, task, RESULT)[0] == direct(b, task)
    b.close()


def test_a_task_signer_crosses_to_helper_processes():
    """Tasks whose rows can fail are rendered with their own signed URLs by the helpers: the signer
    pickles (its key, not its HMAC state) and signs as it does in the server."""
    import functools
    import pickle

    from lbmock.mockserver.backend.signing import UrlSigner

    sign = functools.partial(UrlSigner(KEY).sign, now=NOW_MS / 1000)
    crossed = pickle.loads(pickle.dumps(sign))
    path = "/storage/org/ckwjtm37q000400tklb7h2bgj.dcm"
    assert crossed(path) == sign(path)
    signer = UrlSigner(KEY)
    query = sign(path).split("?", 1)[1].split("&")
    signer.verify(path, query[0].split("=")[1], query[1].split("=")[1], now=NOW_MS / 1000)
