"""Every fault, driven through the real labelbox 7.17.0 SDK against the in-process mock."""

from __future__ import annotations

import time
import types

import labelbox as lb
import mocks
import orjson
import pytest
import requests
from labelbox.schema.export_task import ExportTask
from lbox import exceptions as lbx
from sdk_streams import buffered

from lbmock.mockserver.backend.faults import FaultBook, FaultError
from lbmock.mockserver.handlers.files import SLOW_CHUNK
from lbmock.strategies import seeded_world

SEED, ROWS = 21, 24
WORLD = seeded_world(SEED, ROWS)  # what lb_world serves here
# the SDK reads exports of several files; lb_server_options sets file_bytes for lb_server tests too
pytestmark = [pytest.mark.lb_world(seed=SEED, rows=ROWS), pytest.mark.lb_server_options(file_bytes=20_000)]
PARAMS = {"label_details": True, "project_details": True}


@pytest.fixture
def project(lb_mock):
    return lb.Client(**lb_mock.client_kwargs).get_project(lb_mock.project_id)


def test_export_fails(lb_mock, project):
    lb_mock.fault("export-fails", times=2)
    task = project.export(params=PARAMS)
    task.wait_till_done()
    assert task.status == "FAILED"
    with pytest.raises(ExportTask.ExportTaskException, match="failed"):
        task.get_buffered_stream()
    v2 = project.export_v2(params=PARAMS)
    v2.wait_till_done()
    with pytest.raises(ExportTask.ExportTaskException):
        _ = v2.result
    assert len(buffered(project.export(params=PARAMS))) == len(WORLD)  # times=2: only two exports failed


def test_export_errors_lists_failed_rows_and_keeps_the_good_ones(lb_mock, project):
    lb_mock.fault("export-errors", arg=4)
    task = project.export_v2(params=PARAMS)
    task.wait_till_done()
    failed = [r for r in WORLD if r.index % 4 == 3]
    assert task.has_errors()
    errors = task.errors
    assert [e["data_row"]["id"] for e in errors] == [r.id for r in failed]
    assert all(e["errors"][0]["message"] for e in errors)
    assert [r["data_row"]["id"] for r in task.result] == [r.id for r in WORLD if r.index % 4 != 3]


def test_slow_task_reports_rising_completion(lb_mock, project):
    lb_mock.fault("slow-task", arg=4, times=1)
    client = lb.Client(**lb_mock.client_kwargs)
    task = project.export(params=PARAMS)
    seen = []
    while True:
        current = client.get_task_by_id(task.uid)  # one refresh, as the SDK's poll
        seen.append((current.status, current.completion_percentage))
        if current.status != "IN_PROGRESS":
            break
    statuses = [s for s, _ in seen]
    assert statuses[-1] == "COMPLETE" and statuses.count("IN_PROGRESS") >= 2
    percents = [p for _, p in seen]
    assert percents == sorted(percents) and percents[0] < percents[-1] == 100.0
    task.wait_till_done()
    assert len(buffered(task)) == len(WORLD)


def test_rate_limit_raises_api_limit_error_with_retry_after(lb_mock):
    lb_mock.fault("rate-limit", arg=7, times=1)
    client = lb.Client(**lb_mock.client_kwargs)
    with pytest.raises(lbx.ApiLimitError):
        client.get_project(lb_mock.project_id)
    assert client.get_project(lb_mock.project_id).uid == lb_mock.project_id  # recovered
    assert lb_mock.journal.verify(1, status=429)


def test_server_errors_are_retried_then_recover(lb_mock):
    lb_mock.fault("server-error", arg=503, times=2)
    client = lb.Client(**lb_mock.client_kwargs)
    assert client.get_project(lb_mock.project_id).uid == lb_mock.project_id
    statuses = [e.status for e in lb_mock.journal.entries(operation="GetProjectPyApi")]
    assert statuses[-3:] == [503, 503, 200] or statuses == [200]  # the two 503s carry no operation name
    assert len(lb_mock.journal.entries(status=503)) == 2


def test_expired_files_are_refused(lb_mock, project):
    task = project.export(params=PARAMS)
    task.wait_till_done()
    lb_mock.fault("expired-files")
    with pytest.raises(requests.HTTPError, match="403"):
        buffered(task)
    lb_mock.faults.clear("expired-files")
    assert len(buffered(task)) == len(WORLD)


def test_truncated_files_fail_the_sdk_length_check(lb_mock, project):
    task = project.export(params=PARAMS)
    task.wait_till_done()
    lb_mock.fault("truncated-files", arg=5, times=1)
    with pytest.raises(AssertionError):
        buffered(task)


def test_auth_revoked(lb_mock):
    lb_mock.fault("auth-revoked")
    with pytest.raises(lbx.AuthenticationError):
        lb.Client(**lb_mock.client_kwargs).get_project(lb_mock.project_id)
    lb_mock.faults.clear()
    assert lb.Client(**lb_mock.client_kwargs).get_project(lb_mock.project_id)


def test_journal_records_exports_with_their_filters(lb_mock, project):
    filters = {"workflow_status": "Done", "batch_ids": [WORLD.project.batches[0].id]}
    task = project.export(params=PARAMS, filters=filters)
    task.wait_till_done()
    (created,) = lb_mock.journal.exports_created()
    assert {"type": "task_queue_status", "status": "Done"} in created["filters"]["searchQuery"]["query"]
    assert created["params"]["includeLabelDetails"] is True
    buffered(task)
    downloads = lb_mock.journal.entries(path_prefix="/files/")
    assert downloads and len({e.path for e in downloads}) == len(downloads)  # each file fetched exactly once
    with pytest.raises(AssertionError, match="expected 5"):
        lb_mock.journal.verify(5, path_prefix="/files/")


def test_admin_api_over_http(lb_server):
    base = lb_server.base_url
    assert requests.post(f"{base}/_mock/faults", json={"name": "nope"}).status_code == 400
    assert requests.post(f"{base}/_mock/faults", data=b"{oops",
                         headers={"Content-Type": "application/json"}).status_code == 400
    assert requests.post(f"{base}/_mock/faults", data=b"{oops").status_code == 403  # JSON only (guard.py)
    added = requests.post(f"{base}/_mock/faults", json={"name": "rate-limit", "times": 1})
    assert added.status_code == 201
    client = lb.Client(**lb_server.client_kwargs)
    with pytest.raises(lbx.ApiLimitError):
        client.get_project(lb_server.project_id)
    assert requests.get(f"{base}/_mock/faults").json()["active"] == []
    journal = requests.get(f"{base}/_mock/journal", params={"status": 429}).json()["entries"]
    assert len(journal) == 1 and journal[0]["path"] == "/graphql"
    assert all(e["client"] != lb_server.api_key for e in requests.get(f"{base}/_mock/journal").json()["entries"])
    loaded = requests.post(f"{base}/_mock/world", json={"seed": 3, "rows": 5}).json()
    assert client.get_project(loaded["project_id"]).uid == loaded["project_id"]
    assert requests.post(f"{base}/_mock/reset").status_code == 200
    assert requests.get(f"{base}/_mock/health").json()["project_id"] == WORLD.project.id
    assert requests.get(f"{base}/_mock/journal").json()["entries"] == []


def test_no_admin_leaves_only_health(lb_world):
    client = mocks.flask_client(lb_world, admin=False)
    assert client.get("/_mock/health").status_code == 200
    assert client.post("/_mock/faults", json={"name": "rate-limit"}).status_code == 404
    assert client.get("/_mock/journal").status_code == 404


def test_fault_specs_and_bad_faults():
    book = FaultBook()
    book.add_spec("server-error:502:2")
    book.add_spec("slow-task")
    assert {f["name"]: (f["arg"], f["remaining"]) for f in book.active()} == {
        "server-error": (502, 2), "slow-task": (None, None)}
    for bad in ("nope", "server-error:200", "export-fails:3", "slow-task:x", "rate-limit:1:zero"):
        with pytest.raises(FaultError):
            book.add_spec(bad)


def test_journal_never_stores_keys(lb_mock):
    lb.Client(**lb_mock.client_kwargs).get_project(lb_mock.project_id)
    dumped = orjson.dumps([e.as_dict() for e in lb_mock.journal.entries()])
    assert lb_mock.api_key.encode() not in dumped


# ------------------------------------------------------------ stuck-task, slow-files, latency, index-lag


def test_stuck_task_runs_out_the_sdk_timeout(lb_mock, project, monkeypatch):
    import labelbox.schema.task as sdk_task

    naps: list[float] = []  # the SDK's own loop, without its real 2 s sleeps (its module's time only)
    monkeypatch.setattr(sdk_task, "time", types.SimpleNamespace(sleep=naps.append))
    lb_mock.fault("stuck-task", times=1)
    task = project.export(params=PARAMS)
    task.wait_till_done(timeout_seconds=20)  # 7.17.0: returns quietly once the timeout is used up
    assert task.status == "IN_PROGRESS" and naps == [2.0] * 10
    with pytest.raises(ExportTask.ExportTaskException, match="not ready"):
        task.get_buffered_stream()
    assert len(lb_mock.journal.entries(operation="GetUserCreatedTasksPyApi")) == 1 + 10  # fetch, then 10 polls
    lb_mock.advance_task(task.uid)  # the only way out
    task.wait_till_done()
    assert task.status == "COMPLETE" and len(buffered(task)) == len(WORLD)
    again = project.export(params=PARAMS)  # times=1: the next export is not stuck
    again.wait_till_done()
    assert again.status == "COMPLETE"


def test_stuck_task_over_the_state_manager():
    from lbmock.mockserver.backend.state_manager import Transition

    assert Transition.parse("never").progress(10**6, 10**9) == 0.0
    assert Transition.from_json({"progression": "never"}).to_json() == {"progression": "never"}


def test_slow_files_still_deliver_every_row_to_the_sdk(lb_server):
    client = lb.Client(**lb_server.client_kwargs)
    task = client.get_project(lb_server.project_id).export(params=PARAMS)
    task.wait_till_done()
    plan = lb_server.backend.plan(lb_server.backend.task_by_id(task.uid), "RESULT")
    chunks = sum(-(-(f.offsets[1] - f.offsets[0] + 1) // SLOW_CHUNK) for f in plan.files)
    assert len(plan.files) > 1 and chunks > len(plan.files)  # several files, some in several chunks
    lb_server.fault("slow-files", arg=20)
    started = time.perf_counter()
    rows = buffered(task)
    elapsed = time.perf_counter() - started
    assert [r["data_row"]["id"] for r in rows] == [r.id for r in WORLD]  # the stream still reads every row
    assert elapsed >= chunks * 0.020  # a lower bound only: each chunk waited 20 ms
    assert lb_server.faults.active()[0]["uses"] == len(plan.files)  # each file came through the slow path


def test_slow_files_time_out_a_client_with_a_short_read_timeout(lb_server):
    client = lb.Client(**lb_server.client_kwargs)
    task = client.get_project(lb_server.project_id).export_v2(params=PARAMS)
    task.wait_till_done()
    row_data = task.result[0]["data_row"]["row_data"]
    lb_server.fault("slow-files", arg=500)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(row_data, timeout=(5, 0.1))
    lb_server.faults.clear()
    assert requests.get(row_data, timeout=(5, 30)).content[128:132] == b"DICM"


def test_latency_delays_every_emulated_response_by_its_seeded_amount(lb_mock):
    from lbmock.mockserver.backend.faults import ActiveFault, latency_ms

    lb_mock.fault("latency", arg=30, arg2=40)
    client = lb.Client(**lb_mock.client_kwargs)
    client.get_project(lb_mock.project_id)
    client.get_project(lb_mock.project_id)
    entries = lb_mock.journal.entries()
    assert len(entries) >= 2

    def delays(seed: int) -> list[int]:  # the n-th delayed response waits MS + a jitter seeded by (seed, n)
        return [latency_ms(ActiveFault("latency", 30, None, 40, n), seed) for n in range(1, len(entries) + 1)]

    expected = delays(WORLD.seed)
    assert all(30 <= ms <= 70 for ms in expected) and expected != delays(WORLD.seed + 1)
    for entry, ms in zip(entries, expected, strict=True):  # the journal's duration includes the delay
        assert entry.duration_ms >= ms
    requests.get("https://api.labelbox.com/_mock/health")  # the admin API is not delayed, nor counted
    assert [f["uses"] for f in lb_mock.faults.active()] == [len(entries)]


def test_index_lag_hides_the_most_recently_active_rows_then_catches_up(lb_mock, project):
    lb_mock.fault("index-lag", arg=1, arg2=3)  # the next export misses the 3 most recently active rows
    lagged = project.export(params={**PARAMS, "data_row_details": True})
    lagged.wait_till_done()
    first = {r["data_row"]["id"]: r for r in buffered(lagged)}
    ranked = sorted(WORLD, key=lambda r: (r.last_activity_at, r.index))
    assert set(first) == {r.id for r in ranked[:-3]}
    later = project.export(params={**PARAMS, "data_row_details": True})
    later.wait_till_done()
    rows = buffered(later)
    assert [r["data_row"]["id"] for r in rows] == [r.id for r in WORLD]  # caught up: every row
    missing = [r for r in rows if r["data_row"]["id"] not in first]
    newest_seen = max(r["data_row"]["details"]["last_activity_at"] for r in first.values())
    assert len(missing) == 3
    assert all(r["data_row"]["details"]["last_activity_at"] >= newest_seen for r in missing)


def test_new_fault_specs_and_bad_arguments():
    book = FaultBook()
    assert book.add_spec("latency:20:10").as_dict() == {
        "name": "latency", "arg": 20, "remaining": None, "arg2": 10, "uses": 0}
    assert book.add_spec("latency:20:10:5").remaining == 5
    assert book.add_spec("latency:20").arg2 is None
    assert book.add_spec("index-lag").remaining == 1
    assert (book.add_spec("index-lag:2:7").remaining, book.add_spec("index-lag:2:7").arg2) == (2, 7)
    assert book.add_spec("stuck-task::2").remaining == 2
    assert book.add_spec("slow-files:5").arg == 5
    assert book.add_spec("hostile-content").remaining is None
    for bad in ("latency:0", "latency:60001", "latency:20:-1", "latency:x", "latency:20:10:5:1",
                "index-lag:2:7:1", "index-lag:0", "slow-files:abc", "stuck-task:3", "hostile-content::2",
                "rate-limit:1:2:3"):
        with pytest.raises(FaultError):
            book.add_spec(bad)
    with pytest.raises(FaultError, match="give no times"):
        book.add("index-lag", 1, times=2)


def test_bad_new_faults_over_http_and_the_cli(lb_server):
    from lbmock.cli import main

    for body in ({"name": "latency", "arg": 10, "arg2": "x"}, {"name": "latency", "arg": 10**9},
                 {"name": "slow-files", "arg2": 3}, {"name": "hostile-content", "times": 2},
                 {"name": "index-lag", "arg": 1, "times": 3}, {"name": "stuck-task", "arg": 1}):
        answer = requests.post(f"{lb_server.base_url}/_mock/faults", json=body)
        assert answer.status_code == 400 and answer.json()["error"], body
    known = requests.get(f"{lb_server.base_url}/_mock/faults").json()["known"]
    assert known["latency"]["arg2"] == "jitter" and known["stuck-task"]["arg"] is None
    for spec in ("latency:abc", "index-lag:1:2:3", "slow-files:0"):
        assert main(["serve", "--port", "0", "--fault", spec]) == 2


# ------------------------------------------------------------ hostile-content

STRING_SCHEMAS = {m.schema.schema_id for row in WORLD for m in row.metadata if isinstance(m.value, str)}
ALL_STRINGS = {"metadata_fields": True, "attachments": True, "data_row_details": True, "label_details": True}


def _strings(row) -> dict:
    """What a data row owns as strings, from the world (the hostile view while the fault is set)."""
    return {"external_id": row.external_id, "global_key": row.global_key,
            "metadata": {m.schema.schema_id: m.value for m in row.metadata if isinstance(m.value, str)},
            "attachments": [a.value for a in row.attachments]}  # v2 attachments carry no name (issue 25.6)


def _exported_strings(out: dict) -> dict:
    dr = out["data_row"]
    return {"external_id": dr.get("external_id"), "global_key": dr.get("global_key"),
            "metadata": {m["schema_id"]: m["value"] for m in out["metadata_fields"]
                         if m["schema_id"] in STRING_SCHEMAS},
            "attachments": [a["value"] for a in out["attachments"]]}


def test_hostile_content_round_trips_exactly_through_every_view(lb_server):
    import io
    from urllib.parse import unquote

    import pydicom

    from lbmock.contract_tests.wire import HttpTransport, WireClient
    from lbmock.hostile import HOSTILE_PIECE, LONG_CHARS

    lb_server.fault("hostile-content")
    hostile = lb_server.world  # the served world's hostile view: one world, many views
    expected = {row.id: _strings(row) for row in hostile}
    assert all(HOSTILE_PIECE in s["external_id"] for s in expected.values() if s["external_id"])
    assert any(len(v) > LONG_CHARS for s in expected.values() for v in s["metadata"].values())
    client = lb.Client(**lb_server.client_kwargs)
    project = client.get_project(lb_server.project_id)
    task = project.export(params=ALL_STRINGS)
    task.wait_till_done()
    rows = buffered(task)  # labelbox 7.17.0 parses every line
    assert {r["data_row"]["id"]: _exported_strings(r) for r in rows} == expected
    raw = b"".join(requests.get(f["file"]).content for f in _files(client, task.uid))
    assert raw.count(b"\n") == len(WORLD)  # one line a row: every newline in a string is escaped

    legacy = WireClient(HttpTransport(lb_server.base_url), lb_server.api_key, lb_server.project_id).legacy_export()
    assert legacy.rows and all(r.get("External ID") == expected[r["DataRow ID"]]["external_id"]
                               and r.get("Global Key") == expected[r["DataRow ID"]]["global_key"]
                               for r in legacy.rows)  # the legacy view (labelled rows) shows the same
    with_key = next(r for r in hostile if r.global_key and r.external_id)
    assert client.get_data_row(with_key.id).external_id == with_key.external_id  # GraphQL
    by_key = lb.DataRow.export(client, global_keys=[with_key.global_key], params=ALL_STRINGS)
    by_key.wait_till_done()
    assert [r["data_row"]["global_key"] for r in buffered(by_key)] == [with_key.global_key]
    exported = next(r for r in rows if r["data_row"]["id"] == with_key.id)
    dicom = requests.get(exported["data_row"]["row_data"], timeout=60)
    assert pydicom.dcmread(io.BytesIO(dicom.content)).SOPInstanceUID == with_key.series.sop_uid
    disposition = dicom.headers["Content-Disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == with_key.external_id
    assert "\n" not in disposition and disposition.isascii()

    lb_server.faults.clear("hostile-content")  # plain again for new exports; the hostile task keeps its strings
    plain = project.export(params=ALL_STRINGS)
    plain.wait_till_done()
    assert {r["data_row"]["id"]: _exported_strings(r) for r in buffered(plain)} == {
        row.id: _strings(row) for row in WORLD}
    assert [r["data_row"]["id"] for r in buffered(task)] == [r["data_row"]["id"] for r in rows]
    assert buffered(task) == rows
    assert requests.get(exported["data_row"]["row_data"], timeout=60).status_code == 200  # its links still work


def _files(client, task_id: str) -> list[dict]:
    """Every RESULT file of a task, by offset, as the SDK walks them."""
    files, offset = [], 0
    while True:
        answer = client.execute(
            "query F($where: WhereUniqueIdInput, $offset: UInt64!) {task(where: $where) {"
            "exportFileFromOffset(streamType: RESULT, offset: $offset) {offsets {start end} file}}}",
            {"where": {"id": task_id}, "offset": str(offset)})["task"]["exportFileFromOffset"]
        if answer is None:
            return files
        files.append(answer)
        offset = int(answer["offsets"]["end"]) + 1
        header = client.execute(
            "query H($where: WhereUniqueIdInput) {task(where: $where) {exportMetadataHeader(streamType: RESULT)"
            " {totalSize}}}", {"where": {"id": task_id}})["task"]["exportMetadataHeader"]
        if offset >= int(header["totalSize"]):
            return files
