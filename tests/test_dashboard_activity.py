"""The dashboard's Tasks, Journal and Faults pages through the Flask test client: what they show
matches the backend, hostile text stays text, and bad form input is a 4xx with a message
(the browser tests in test_dashboard_browser.py drive the same pages in Chromium)."""

from __future__ import annotations

import mocks
import pytest
from test_dashboard import HOSTILE, Page

from lbmock.mockserver.dashboard.journal_page import PAGE
from lbmock.strategies import seeded_world

WORLD = seeded_world(9, 12)
EXPORT = """mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!) {
  exportDataRowsInProject(input: $input) { taskId isStreamable } }"""


@pytest.fixture
def app():
    return mocks.app(WORLD, file_bytes=5_000)


@pytest.fixture
def client(app):
    return app.test_client()


def export(client, key: str = "any-non-empty-key") -> str:
    """An export v2 task, as labelbox 7.17.0 creates one (named with markup)."""
    body = {"query": EXPORT, "variables": {"input": {
        "taskName": HOSTILE, "filters": {"projectId": WORLD.project.id, "searchQuery": {"scope": None, "query": []}},
        "params": {"includeLabelDetails": True}, "isStreamableReady": True}}}
    answer = client.post("/graphql", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["data"]["exportDataRowsInProject"]["taskId"]


def page(client, url: str, status: int = 200) -> Page:
    answer = client.get(url)
    assert answer.status_code == status, (url, answer.status_code, answer.get_data(as_text=True)[:300])
    html = answer.get_data(as_text=True)
    assert "<img" not in html  # HOSTILE, wherever it is shown, is text
    return Page(html)


def test_tasks_page_lists_every_clients_tasks_without_polling_them(client, app):
    first = export(client)
    other = export(client, key="another-client")
    listed = page(client, "/_mock/dashboard/tasks")
    assert [a["data-task"] for tag, a, _ in listed.find() if "data-task" in a] == [other, first]  # newest first
    assert HOSTILE in listed.text  # the task's name
    backend = app.extensions["lbmock"]
    assert backend.task_by_id(first).reads == 0  # looking is not a status read
    detail = page(client, f"/_mock/dashboard/tasks/{first}")
    assert detail.text_of(data_fact="params") == "label_details"
    assert "The streams are cut into files at the first header read" in detail.text  # not rendered by looking
    assert backend.planned(backend.task_by_id(first), "RESULT") is None


def test_planning_from_the_task_page_lists_files_with_ranges_and_working_links(client, app):
    task_id = export(client)
    answer = client.post(f"/_mock/dashboard/tasks/{task_id}/plan")
    assert answer.status_code == 303
    detail = page(client, answer.headers["Location"])
    backend = app.extensions["lbmock"]
    plan = backend.planned(backend.task_by_id(task_id), "RESULT")
    assert plan is not None and len(plan.files) > 1
    links = [href for href in detail.links if f"/files/{task_id}/RESULT/" in href]
    assert len(links) == len(plan.files) + 1  # each file, and the whole stream
    body = b"".join(client.get(href).get_data() for href in links[:-1])
    assert body == client.get(links[-1]).get_data() and body.count(b"\n") == plan.total_lines
    for f in plan.files:
        assert f"{f.lines[0]}–{f.lines[1]}" in detail.text and f"{f.offsets[0]}–{f.offsets[1]}" in detail.text


def test_task_forms_refuse_bad_input_with_4xx(client):
    task_id = export(client)
    assert client.get("/_mock/dashboard/tasks/no-such-task").status_code == 404
    assert client.post(f"/_mock/dashboard/tasks/{task_id}/advance", data={"outcome": "DONE"}).status_code == 400
    assert client.post("/_mock/dashboard/tasks/no-such-task/advance", data={"outcome": "FAILED"}).status_code == 404
    answer = client.post(f"/_mock/dashboard/tasks/{task_id}/advance", data={"outcome": "FAILED"})
    assert answer.status_code == 303
    assert page(client, answer.headers["Location"]).find(id="task")[0][1]["data-status"] == "FAILED"


def test_journal_page_is_newest_first_filtered_and_paged(client, app):
    for _ in range(PAGE + 20):
        client.get(f"/masks/feature/{HOSTILE}/1")  # 401s, with markup in the path
    export(client)
    shown = page(client, "/_mock/dashboard/journal")
    seqs = [int(a["data-seq"]) for tag, a, _ in shown.find() if "data-seq" in a]
    assert len(seqs) == PAGE and seqs == sorted(seqs, reverse=True)
    (newest,) = shown.find(data_seq=str(seqs[0]))
    assert newest[1]["data-operation"] == "exportDataRowsInProjectPyApi"
    assert HOSTILE in shown.text
    (next_page,) = [href for href in shown.links if "before=" in href]
    rest = [int(a["data-seq"]) for tag, a, _ in page(client, next_page).find() if "data-seq" in a]
    assert seqs + rest == sorted(seqs + rest, reverse=True) and len(seqs + rest) == PAGE + 21  # every entry once
    failed = page(client, "/_mock/dashboard/journal?status=4xx")
    assert all(a["data-status"].startswith("4") for tag, a, _ in failed.find() if "data-seq" in a)
    older = [href for href in failed.links if "before=" in href]
    assert older, "a next page of older entries"
    rest = page(client, older[0])
    assert len([1 for tag, a, _ in rest.find() if "data-seq" in a]) == PAGE + 20 - PAGE
    by_op = page(client, "/_mock/dashboard/journal/rows?operation=exportDataRowsInProjectPyApi")
    assert [a["data-operation"] for tag, a, _ in by_op.find() if "data-seq" in a] == ["exportDataRowsInProjectPyApi"]
    by_path = page(client, "/_mock/dashboard/journal/rows?path=/graphql&status=200")
    assert len([1 for tag, a, _ in by_path.find() if "data-seq" in a]) == 1


@pytest.mark.parametrize("query", ["status=abc", "status=9999", "before=x", "limit=0", "limit=100000",
                                   "unmatched=maybe", "status=%E2%91%A0"])
def test_bad_journal_filters_are_400_with_the_reason(client, query):
    answer = client.get(f"/_mock/dashboard/journal?{query}")
    assert answer.status_code == 400
    assert "Refused" in Page(answer.get_data(as_text=True)).text
    assert client.get(f"/_mock/dashboard/journal/rows?{query}").status_code == 400


def test_fault_forms_go_through_the_fault_book(client, app):
    answer = client.post("/_mock/dashboard/faults/set", data={"name": "export-errors", "arg": "4", "times": "2"})
    assert answer.status_code == 303
    (active,) = app.extensions["lbmock"].faults.active()
    assert {k: active[k] for k in ("name", "arg", "remaining")} == {"name": "export-errors", "arg": 4, "remaining": 2}
    shown = page(client, answer.headers["Location"])
    assert "export-errors (4) is set for the next 2" in shown.text
    client.post("/_mock/dashboard/faults/clear", data={"name": "export-errors"})
    assert app.extensions["lbmock"].faults.active() == []


def test_fault_forms_set_a_second_argument(client, app):
    # latency:MS:JITTER and index-lag:N:ROWS, as `--fault latency:40:15:3` would
    shown = page(client, "/_mock/dashboard/faults")
    labels = {a.get("for"): text for tag, a, text in shown.find() if tag == "label"}
    assert labels.get("arg2-latency") == "Jitter" and labels.get("arg2-index-lag") == "Rows"
    answer = client.post("/_mock/dashboard/faults/set",
                         data={"name": "latency", "arg": "40", "arg2": "15", "times": "3"})
    assert answer.status_code == 303
    (active,) = app.extensions["lbmock"].faults.active()
    assert {k: active[k] for k in ("name", "arg", "arg2", "remaining")} == {
        "name": "latency", "arg": 40, "arg2": 15, "remaining": 3}
    client.post("/_mock/dashboard/faults/clear", data={})
    assert app.extensions["lbmock"].faults.active() == []


@pytest.mark.parametrize("form", [
    {"name": "no-such-fault"}, {"name": HOSTILE}, {"name": "export-fails", "arg": "3"},
    {"name": "server-error", "arg": "200"}, {"name": "rate-limit", "arg": "x"}, {"name": "slow-task", "times": "0"},
    {"name": "slow-task", "times": "-1"}, {"name": "slow-task", "times": "9" * 40},
    {"name": "slow-task", "arg": "9" * 40}, {"name": "export-fails", "arg2": "3"}, {}])
def test_bad_fault_forms_are_400_with_the_reason(client, app, form):
    answer = client.post("/_mock/dashboard/faults/set", data=form)
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "<img" not in html and "Refused" in Page(html).text
    assert app.extensions["lbmock"].faults.active() == []


@pytest.mark.parametrize("form", [
    {"model_name": "export-task", "progression": "manual", "value": "x"},
    {"model_name": "export-task", "progression": "sometimes"},
    {"model_name": "export-task", "progression": "time", "value": "nan"},
    {"model_name": "export-task", "progression": "time", "value": "-1"},
    {"model_name": HOSTILE, "progression": "immediate"}, {}])
def test_bad_transition_forms_are_400_with_the_reason(client, form):
    answer = client.post("/_mock/dashboard/transitions/set", data=form)
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert "Refused" in Page(answer.get_data(as_text=True)).text
    assert client.post("/_mock/dashboard/transitions/unset", data={"model_name": "nope"}).status_code == 400


def test_transition_forms_set_and_reset(client, app):
    manager = app.extensions["lbmock"].state_manager
    client.post("/_mock/dashboard/transitions/set",
                data={"model_name": "legacy-export", "progression": "time", "value": "2.5"})
    assert manager.get_transition("legacy-export").to_json() == {"progression": "time", "seconds": 2.5}
    shown = page(client, "/_mock/dashboard/faults")
    assert "unfinished until 2.5 s after creation" in shown.text
    client.post("/_mock/dashboard/transitions/unset", data={"model_name": "legacy-export"})
    assert manager.get_transition("legacy-export").to_json() == {"progression": "manual", "times": 1}


def test_the_fault_catalogue_is_rendered_from_the_catalogue():
    from lbmock.mockserver.backend.faults import FAULTS

    shown = page(mocks.flask_client(WORLD), "/_mock/dashboard/faults")
    catalogue = [a["data-fault"] for tag, a, _ in shown.find() if tag == "tr" and "data-fault" in a]
    assert catalogue == [fault.value for fault in FAULTS]
    for fault, (matches, _arg) in FAULTS.items():
        assert matches in shown.text
        labels = [text for tag, a, text in shown.find() if tag == "label" and a.get("for", "").endswith(fault.value)]
        assert "Times" in labels  # every control is labelled


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "http://localhost:3000"}])
def test_form_posts_from_other_sites_are_refused(client, app, headers):
    for url, form in (("/_mock/dashboard/faults/set", {"name": "auth-revoked"}),
                      ("/_mock/dashboard/faults/clear", {}),
                      ("/_mock/dashboard/transitions/set", {"model_name": "export-task", "progression": "manual",
                                                            "value": "5"})):
        assert client.post(url, data=form, headers=headers).status_code == 403
    assert app.extensions["lbmock"].faults.active() == []
    same = client.post("/_mock/dashboard/faults/set", data={"name": "auth-revoked"},
                       headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"})
    assert same.status_code == 303


def test_journal_shows_and_filters_unmatched_requests_with_their_near_miss(client, app):
    export(client)
    assert client.get("/api/v1/projectz/x").status_code == 404  # no such route: a near miss
    (missed,) = app.extensions["lbmock"].journal.entries(unmatched=True)
    only = page(client, "/_mock/dashboard/journal?unmatched=only")
    rows = [a for tag, a, _ in only.find() if "data-seq" in a]
    assert [int(a["data-seq"]) for a in rows] == [missed.seq] and rows[0]["class"] == "unmatched"
    assert missed.unmatched in only.text
    assert page(client, "/_mock/dashboard/journal?unmatched=1").text_of(data_seq=str(missed.seq))  # as the API
    matched = page(client, "/_mock/dashboard/journal/rows?unmatched=none")
    assert str(missed.seq) not in [a["data-seq"] for tag, a, _ in matched.find() if "data-seq" in a]
    assert "exportDataRowsInProjectPyApi" in [a["data-operation"] for tag, a, _ in matched.find() if "data-seq" in a]
