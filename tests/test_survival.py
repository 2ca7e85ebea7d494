"""The mock survives its own failures and loses nothing.

* ``lbmock serve --state FILE`` killed (SIGKILL) and started again on the same port and file keeps
  its export tasks, faults, journal and signing key: URLs handed out before still work, and a
  labelbox 7.17.0 client that keeps polling through the restart finishes its export, row for row.
* Under ``--workers N``, a worker SIGKILLed in the middle of a download loses no export: the
  broken download is retried and another worker answers it, byte for byte; every concurrent SDK
  client's export completes exactly.

What labelbox 7.17.0 itself retries (``lbox/request_client.py``): GraphQL calls answered 5xx
(``InternalServerError``) or timing out, with google-api-core's exponential backoff; a refused or
reset connection is ``NetworkError`` and is not retried, and an export file is a bare
``requests.get`` with no retry at all.  So a client that survives a server crash retries those
steps itself, as the clients below do; the mock's part is that the retry finds everything again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import labelbox as lb
import orjson
import requests
from lbox.exceptions import NetworkError
from sdk_streams import buffered
from urllib3.exceptions import ProtocolError

from lbmock.cli import main
from lbmock.contract_tests.wire import HttpTransport, WireClient, placeholder_sign, start_serve, unsigned
from lbmock.contract_tests.wire.serve import ServedProcess
from lbmock.export import ExportFilters, selected_rows, v2_lines
from lbmock.mockserver.exports.spool import Spool
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.strategies import seeded_world

KEY = "survival-test-key"


def expected_rows(seed: int, rows: int, params: dict, base_url: str,
                  filters: ExportFilters = ExportFilters()) -> list[dict]:  # noqa: B008 - frozen
    """The export of the rows ``filters`` select, with ``params``, rendered in this process
    (signatures as placeholders)."""
    world = seeded_world(seed, rows)
    lines = v2_lines(world, selected_rows(world, filters), ExportParams(**params),
                     Urls.served_at(base_url, sign=placeholder_sign))
    return [orjson.loads(line) for line in lines]


def without_signatures(rows: list[dict]) -> list[dict]:
    return [orjson.loads(unsigned(orjson.dumps(row))) for row in rows]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (gunicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def crash(server: ServedProcess) -> None:
    """SIGKILL the server and every process it started: no shutdown code runs."""
    for pid in [server.pid, *descendants(server.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=30)


def restart(args: list[str], port: int, log_dir: Path, timeout: float = 60.0) -> ServedProcess:
    """``lbmock serve ARGS --port PORT`` as soon as the port is free again (a killed server's
    orphaned worker may hold the listening socket for a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return start_serve(*args, "--port", str(port), log_dir=log_dir, name="second")
        except RuntimeError as exc:
            if "cannot listen" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def admin(base: str, method: str, path: str, **json: object) -> dict:
    answer = requests.request(method, f"{base}/_mock/{path}", json=json or None, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_restart_on_the_same_state_keeps_everything_and_a_polling_sdk_client_finishes(tmp_path, capsys,
                                                                                      state_location):
    # on both engines: a SQLite file, and a PostgreSQL database (conftest.state_location)
    seed, rows, params = 5, 30, {"label_details": True, "project_details": True, "data_row_details": True}
    args = ["--seed", str(seed), "--rows", str(rows), "--state", state_location,
            "--file-bytes", "20000", "--transition", "export-task=manual:1000000"]  # tasks wait for /advance
    first = start_serve(*args, log_dir=tmp_path, name="first")
    try:
        base, port = first.base_url, int(first.base_url.rsplit(":", 1)[1])
        client = lb.Client(**first.client_kwargs(KEY))
        project = client.get_project(first.project_id)
        # Task A completes before the crash: its rows, a signed row_data URL and a signed export file URL
        done = project.export(params=params)
        admin(base, "POST", f"tasks/{done.uid}/advance")
        done.wait_till_done()
        rows_before = buffered(done)
        row_data_url = rows_before[0]["data_row"]["row_data"]
        wire = WireClient(HttpTransport(base), KEY, first.project_id)
        _offsets, _lines, file_url = wire.file_from_offset(done.uid, 0)
        file_before = wire.download_file(file_url)
        # Task B is still IN_PROGRESS when the server dies; a fault and the journal are there too
        pending = project.export(params=params)
        assert pending.status == "IN_PROGRESS"
        admin(base, "POST", "faults", name="legacy-never-ready", times=4)
        journal_before = admin(base, "GET", "journal")["entries"]

        # A client that keeps polling: 7.17.0's wait_till_done raises NetworkError while nothing
        # listens (it retries only 5xx and timeouts), so it polls again, as a patient caller would.
        outcome: dict = {"network_errors": 0}

        def keep_polling() -> None:
            try:
                while True:
                    try:
                        pending.wait_till_done()
                        break
                    except NetworkError:
                        outcome["network_errors"] += 1
                        time.sleep(0.2)
                outcome["rows"] = buffered(pending)
            except BaseException as exc:  # reported by the test thread below
                outcome["error"] = exc

        poller = threading.Thread(target=keep_polling, daemon=True)
        poller.start()
        crash(first)
    finally:
        first.stop()

    second = restart(args, port, tmp_path)
    try:
        assert f"resuming {state_location}: 2 export tasks" in second.banner
        # the journal, the fault and both tasks are where they were
        journal_after = admin(base, "GET", "journal")["entries"]
        assert journal_after[:len(journal_before)] == journal_before
        faults = admin(base, "GET", "faults")["active"]
        assert [(f["name"], f["remaining"]) for f in faults] == [("legacy-never-ready", 4)]
        # URLs signed before the crash still verify: the signing key lives in the state file
        assert requests.head(row_data_url, timeout=30).status_code == 200
        assert wire.download_file(file_url) == file_before
        # the pending task completes now; the client polling through the restart gets every row
        admin(base, "POST", f"tasks/{pending.uid}/advance")
        poller.join(timeout=60)
        assert not poller.is_alive(), "the polling client never finished"
        assert "error" not in outcome, f"the polling client failed: {outcome.get('error')!r}"
        expected = expected_rows(seed, rows, params, base)
        assert without_signatures(outcome["rows"]) == expected
        assert without_signatures(rows_before) == expected
    finally:
        second.stop()

    # the same file for another world is refused: its tasks could not be served
    other = [a if a != str(seed) else str(seed + 1) for a in args]
    assert main(["serve", "--port", "0", *other]) == 2
    assert "holds the state of another world" in capsys.readouterr().err


def test_a_state_file_that_cannot_be_used_is_a_clear_error(tmp_path, capsys):
    not_state = tmp_path / "notes.txt"
    not_state.write_text("not a database")
    for path in (not_state, tmp_path / "missing" / "state.sqlite"):
        assert main(["serve", "--port", "0", "--state", str(path)]) == 2
        assert f"lbmock: --state {path}: cannot use it as the state file" in capsys.readouterr().err
    assert not_state.read_text() == "not a database"


ALL_PARAMS = {"label_details": True, "project_details": True, "data_row_details": True, "embeddings": True,
              "metadata_fields": True, "attachments": True, "performance_details": True, "interpolated_frames": True}


def test_a_worker_killed_mid_download_loses_no_export(tmp_path):
    # One export file of ~9.5 MB (embeddings make rows big): more than loopback's socket buffers take
    # in (~4 MB here), so a worker killed after the first 64 KB has not handed the rest to the kernel.
    seed, rows = 6, 900
    with start_serve("--seed", str(seed), "--rows", str(rows), "--workers", "3", "--file-bytes", str(64 << 20),
                     log_dir=tmp_path) as server:
        base = server.base_url
        wire = WireClient(HttpTransport(base), KEY, server.project_id)
        task_id = wire.create_export(ALL_PARAMS)
        wire.wait_for_task(task_id)
        offsets, _lines, url = wire.file_from_offset(task_id, 0)  # renders the export into the spool
        size = offsets[1] - offsets[0] + 1
        assert size > 8 << 20
        whole = requests.get(url, timeout=30).content  # what every worker serves for this file
        assert len(whole) == size

        # Concurrent SDK clients exporting some rows, over and over until the worker has died and once
        # more; a step that meets the dead worker (a reset connection: NetworkError, or a broken
        # download) is retried, as the SDK does not retry those itself.
        world = seeded_world(seed, rows)
        some_ids = [world.row(i).id for i in range(0, rows, rows // 30)]
        some_expected = expected_rows(seed, rows, ALL_PARAMS, base, ExportFilters(data_row_ids=frozenset(some_ids)))
        exports: list[list[dict]] = []
        retried: list[Exception] = []
        failures: list[BaseException] = []
        started, killed = threading.Barrier(4), threading.Event()

        def sdk_client() -> None:
            try:
                project = lb.Client(**server.client_kwargs(KEY)).get_project(server.project_id)
                started.wait(timeout=60)
                after_kill = 0
                while after_kill < 2:
                    after_kill += killed.is_set()
                    for _attempt in range(6):
                        try:
                            task = project.export(params=ALL_PARAMS, filters={"data_row_ids": some_ids})
                            task.wait_till_done()
                            exports.append(buffered(task))
                            break
                        except (NetworkError, requests.exceptions.RequestException) as exc:
                            retried.append(exc)
                    else:
                        raise AssertionError(f"six attempts failed: {retried[-6:]}")
            except BaseException as exc:  # reported by the test thread below
                failures.append(exc)

        clients = [threading.Thread(target=sdk_client, daemon=True) for _ in range(3)]
        for thread in clients:
            thread.start()
        started.wait(timeout=60)

        # A download, the SDK's way (a bare GET of the signed URL), cut off by SIGKILL of its worker.
        victim = requests.get(url, stream=True, timeout=30)
        assert victim.status_code == 200 and int(victim.headers["Content-Length"]) == size
        worker = int(victim.headers["X-Lbmock-Worker"])
        received = len(victim.raw.read(64 * 1024))
        os.kill(worker, signal.SIGKILL)
        killed.set()
        broken = False
        try:
            while chunk := victim.raw.read(1 << 20):
                received += len(chunk)
        except (ProtocolError, OSError):
            broken = True
        assert broken or received < size, "the download finished although its worker was killed"

        # The retry is answered by another worker, with the exact bytes.
        again = requests.get(url, timeout=30)
        assert again.status_code == 200 and int(again.headers["X-Lbmock-Worker"]) != worker
        assert again.content == whole

        for thread in clients:
            thread.join(timeout=240)
        assert not any(t.is_alive() for t in clients), "an SDK client never finished"
        assert not failures, f"an SDK client failed: {failures[0]!r}"
        assert len(exports) >= 6
        for rows_seen in exports:
            assert without_signatures(rows_seen) == some_expected
        # gunicorn replaced the dead worker; the server still answers
        assert requests.get(f"{base}/_mock/health", timeout=10).status_code == 200


def test_a_render_cut_short_by_a_killed_worker_leaves_no_partial_file(tmp_path):
    """A worker killed while rendering a stream leaves its private partial file; the next render
    anywhere in the spool removes it (its writer is gone), and leaves a live writer's alone."""
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead = tmp_path / f"ctask-RESULT.{finished.pid}.140000.tmp"
    dead_plan = tmp_path / f"ctask-RESULT.plan.{finished.pid}.140000.tmp"
    live = tmp_path / f"cother-RESULT.{os.getpid()}.140000.tmp"
    for partial in (dead, dead_plan, live):
        partial.write_bytes(b'{"half": ')
    spool = Spool(str(tmp_path), file_bytes=1000)
    plan = spool.plan("cnew-RESULT", lambda: iter([b'{"row": 1}\n', b'{"row": 2}\n']))
    assert plan.total_lines == 2 and (tmp_path / "cnew-RESULT.ndjson").read_bytes() == b'{"row": 1}\n{"row": 2}\n'
    assert not dead.exists() and not dead_plan.exists() and live.exists()
