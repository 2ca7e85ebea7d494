"""Every fault, driven through the real labelbox 7.17.0 SDK against the in-process mock."""

from __future__ import annotations

import labelbox as lb
import orjson
import pytest
import requests
from labelbox.schema.export_task import ExportTask
from lbox import exceptions as lbx

from mockserver import ThreadedMockServer, mock_labelbox
from mockserver.config import ServerConfig
from mockserver.faults import FaultBook, FaultError
from strategies import seeded_world

WORLD = seeded_world(21, 24)
PARAMS = {"label_details": True, "project_details": True}


@pytest.fixture
def mock():
    with mock_labelbox(WORLD, file_bytes=20_000) as m:
        yield m


@pytest.fixture
def project(mock):
    return lb.Client(**mock.client_kwargs).get_project(mock.project_id)


def buffered(task) -> list[dict]:
    rows: list[dict] = []
    task.get_buffered_stream().start(stream_handler=lambda out: rows.append(out.json))
    return rows


def test_export_fails(mock, project):
    mock.fault("export-fails", times=2)
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


def test_export_errors_lists_failed_rows_and_keeps_the_good_ones(mock, project):
    mock.fault("export-errors", arg=4)
    task = project.export_v2(params=PARAMS)
    task.wait_till_done()
    failed = [r for r in WORLD if r.index % 4 == 3]
    assert task.has_errors()
    errors = task.errors
    assert [e["data_row"]["id"] for e in errors] == [r.id for r in failed]
    assert all(e["errors"][0]["message"] for e in errors)
    assert [r["data_row"]["id"] for r in task.result] == [r.id for r in WORLD if r.index % 4 != 3]


def test_slow_task_reports_rising_completion(mock, project):
    mock.fault("slow-task", arg=4, times=1)
    client = lb.Client(**mock.client_kwargs)
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


def test_rate_limit_raises_api_limit_error_with_retry_after(mock):
    mock.fault("rate-limit", arg=7, times=1)
    client = lb.Client(**mock.client_kwargs)
    with pytest.raises(lbx.ApiLimitError):
        client.get_project(mock.project_id)
    assert client.get_project(mock.project_id).uid == mock.project_id  # recovered
    assert mock.journal.verify(1, status=429)


def test_server_errors_are_retried_then_recover(mock):
    mock.fault("server-error", arg=503, times=2)
    client = lb.Client(**mock.client_kwargs)
    assert client.get_project(mock.project_id).uid == mock.project_id
    statuses = [e.status for e in mock.journal.entries(operation="GetProjectPyApi")]
    assert statuses[-3:] == [503, 503, 200] or statuses == [200]  # the two 503s carry no operation name
    assert len(mock.journal.entries(status=503)) == 2


def test_expired_files_are_refused(mock, project):
    task = project.export(params=PARAMS)
    task.wait_till_done()
    mock.fault("expired-files")
    with pytest.raises(requests.HTTPError, match="403"):
        buffered(task)
    mock.faults.clear("expired-files")
    assert len(buffered(task)) == len(WORLD)


def test_truncated_files_fail_the_sdk_length_check(mock, project):
    task = project.export(params=PARAMS)
    task.wait_till_done()
    mock.fault("truncated-files", arg=5, times=1)
    with pytest.raises(AssertionError):
        buffered(task)


def test_auth_revoked(mock):
    mock.fault("auth-revoked")
    with pytest.raises(lbx.AuthenticationError):
        lb.Client(**mock.client_kwargs).get_project(mock.project_id)
    mock.faults.clear()
    assert lb.Client(**mock.client_kwargs).get_project(mock.project_id)


def test_journal_records_exports_with_their_filters(mock, project):
    filters = {"workflow_status": "Done", "batch_ids": [WORLD.project.batches[0].id]}
    task = project.export(params=PARAMS, filters=filters)
    task.wait_till_done()
    (created,) = mock.journal.exports_created()
    assert {"type": "task_queue_status", "status": "Done"} in created["filters"]["searchQuery"]["query"]
    assert created["params"]["includeLabelDetails"] is True
    buffered(task)
    downloads = mock.journal.entries(path_prefix="/files/")
    assert downloads and len({e.path for e in downloads}) == len(downloads)  # each file fetched exactly once
    with pytest.raises(AssertionError, match="expected 5"):
        mock.journal.verify(5, path_prefix="/files/")


def test_admin_api_over_http():
    with ThreadedMockServer(WORLD) as srv:
        base = srv.base_url
        assert requests.post(f"{base}/_mock/faults", json={"name": "nope"}).status_code == 400
        assert requests.post(f"{base}/_mock/faults", data=b"{oops").status_code == 400
        added = requests.post(f"{base}/_mock/faults", json={"name": "rate-limit", "times": 1})
        assert added.status_code == 201
        client = lb.Client(**srv.client_kwargs)
        with pytest.raises(lbx.ApiLimitError):
            client.get_project(srv.project_id)
        assert requests.get(f"{base}/_mock/faults").json()["active"] == []
        journal = requests.get(f"{base}/_mock/journal", params={"status": 429}).json()["entries"]
        assert len(journal) == 1 and journal[0]["path"] == "/graphql"
        assert all(e["client"] != srv.api_key for e in requests.get(f"{base}/_mock/journal").json()["entries"])
        loaded = requests.post(f"{base}/_mock/world", json={"seed": 3, "rows": 5}).json()
        assert client.get_project(loaded["project_id"]).uid == loaded["project_id"]
        assert requests.post(f"{base}/_mock/reset").status_code == 200
        assert requests.get(f"{base}/_mock/health").json()["project_id"] == WORLD.project.id
        assert requests.get(f"{base}/_mock/journal").json()["entries"] == []


def test_no_admin_leaves_only_health():
    from mockserver import create_app

    client = create_app(WORLD, ServerConfig(admin=False)).test_client()
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


def test_journal_never_stores_keys(mock):
    lb.Client(**mock.client_kwargs).get_project(mock.project_id)
    dumped = orjson.dumps([e.as_dict() for e in mock.journal.entries()])
    assert mock.api_key.encode() not in dumped
