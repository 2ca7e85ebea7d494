"""The dashboard in a real browser (Debian's headless Chromium through Playwright, see
tests/browser_harness.py) against a real threaded lbmock on loopback, with the real
labelbox 7.17.0 SDK as the other client of the same server.

Every page is reached by clicking from the overview, as a person would."""

from __future__ import annotations

import json

import labelbox as lb
import pytest
from lbox import exceptions as lbx

from mockserver import ThreadedMockServer
from strategies import seeded_world

WORLD = seeded_world(7, 16)
PARAMS = {"label_details": True, "project_details": True}
WAIT_MS = 15_000  # generous: CI shares two cores between two test processes and the browser


@pytest.fixture
def server():
    with ThreadedMockServer(WORLD, file_bytes=8_000) as served:
        yield served


@pytest.fixture
def sdk_project(server):
    return lb.Client(**server.client_kwargs).get_project(WORLD.project.id)


def open_from_overview(page, server, nav_title: str) -> None:
    """Open the overview, then follow the navigation bar's link ``nav_title``."""
    page.goto(server.base_url + "/_mock/dashboard/")
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name=nav_title, exact=True).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text()


def buffered(task) -> list[dict]:
    rows: list[dict] = []
    task.get_buffered_stream().start(stream_handler=lambda out: rows.append(out.json))
    return rows


def test_a_fault_set_on_the_faults_page_fails_the_sdk(page, server, sdk_project):
    open_from_overview(page, server, "Faults")
    row = page.locator('#fault-catalogue tr[data-fault="export-fails"]')
    row.get_by_label("Times").fill("1")
    row.get_by_role("button", name="Set fault export-fails").click()
    page.wait_for_load_state()
    assert "export-fails" in page.get_by_role("status").inner_text()
    active = page.locator('#active-faults tr[data-fault="export-fails"]')
    assert "1" in active.inner_text()

    task = sdk_project.export(params=PARAMS)
    task.wait_till_done()
    assert task.status == "FAILED"
    with pytest.raises(lb.ExportTask.ExportTaskException, match="failed"):
        task.get_buffered_stream()

    page.reload()  # the fault was for one export: used up
    assert page.locator("#active-faults").inner_text().startswith("No fault is set")
    assert len(buffered(sdk_project.export(params=PARAMS))) == len(WORLD)


def test_auth_revoked_from_the_page_and_cleared_again(page, server):
    open_from_overview(page, server, "Faults")
    page.locator('#fault-catalogue tr[data-fault="auth-revoked"]').get_by_role("button").click()
    page.wait_for_load_state()
    with pytest.raises(lbx.AuthenticationError):
        lb.Client(**server.client_kwargs).get_project(WORLD.project.id)
    page.get_by_role("button", name="Clear fault auth-revoked").click()
    page.wait_for_load_state()
    assert lb.Client(**server.client_kwargs).get_project(WORLD.project.id).uid == WORLD.project.id


def test_bad_fault_input_is_a_message_on_the_page(page, server):
    open_from_overview(page, server, "Faults")
    row = page.locator('#fault-catalogue tr[data-fault="server-error"]')
    row.get_by_label("Argument").fill("200")
    with page.expect_navigation() as navigation:
        row.get_by_role("button").click()
    assert navigation.value.status == 400
    assert "500-599" in page.get_by_role("alert").inner_text()
    assert page.locator("#active-faults").inner_text().startswith("No fault is set")


def test_a_transition_set_on_the_page_holds_the_sdks_task_until_advanced_there(page, server, sdk_project):
    open_from_overview(page, server, "Faults")
    row = page.locator('#transitions tr[data-model="export-task"]')
    row.get_by_label("Progression").select_option("manual")
    row.get_by_label("Reads (manual) or seconds (time)").fill("2")
    row.get_by_role("button", name="Set the export-task transition", exact=True).click()
    page.wait_for_load_state()
    assert "unfinished for 2 status read(s)" in page.locator('#transitions tr[data-model="export-task"]').inner_text()

    client = lb.Client(**server.client_kwargs)
    task = sdk_project.export(params=PARAMS)  # its first status read
    assert task.status == "IN_PROGRESS"
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Tasks", exact=True).click()
    listed = page.locator(f'#tasks tr[data-task="{task.uid}"]')
    assert listed.get_attribute("data-status") == "IN_PROGRESS"
    page.reload()  # looking is not polling: still one read short of done
    assert client.get_task_by_id(task.uid).status == "IN_PROGRESS"  # the second read

    page.locator(f'#tasks tr[data-task="{task.uid}"]').get_by_role("link").first.click()
    page.get_by_label("Move it on to").select_option("FAILED")
    page.get_by_role("button", name="Advance").click()
    page.wait_for_load_state()
    assert page.locator("#task").get_attribute("data-status") == "FAILED"
    assert client.get_task_by_id(task.uid).status == "FAILED"

    open_from_overview(page, server, "Faults")
    page.get_by_role("button", name="Reset the export-task transition to the server's default").click()
    page.wait_for_load_state()
    assert sdk_project.export(params=PARAMS).status == "COMPLETE"  # immediate again


def test_the_journal_view_shows_the_sdks_operations_as_they_happen(page, server, sdk_project):
    open_from_overview(page, server, "Journal")
    assert page.get_by_label("Auto-refresh every 2 s").is_checked()
    page.evaluate("window.__notReloaded = true")
    seen_before = server.backend.journal.entries()[-1].seq

    task = sdk_project.export(params=PARAMS)
    task.wait_till_done()
    rows = buffered(task)
    assert len(rows) == len(WORLD)

    # wait for the SDK's last request (its file download) to show at the top, without reloading
    expected = [e for e in server.backend.journal.entries() if e.seq > seen_before][::-1]
    assert expected[0].path.startswith("/files/")
    page.wait_for_function("seq => document.querySelector('#journal-rows tr[data-seq]')?.dataset.seq == seq",
                           arg=str(expected[0].seq), timeout=WAIT_MS)
    assert page.evaluate("window.__notReloaded") is True
    shown = page.locator("#journal-rows tr[data-seq]")
    shown_seq = [int(s) for s in shown.evaluate_all("rows => rows.map(r => r.dataset.seq)")]
    newest_first = [s for s in shown_seq if s > seen_before]
    assert newest_first == [e.seq for e in expected]  # newest first, every request of the SDK
    operations = [r.get_attribute("data-operation") for r in shown.all()[:len(expected)]]
    assert operations == [e.operation or "" for e in expected]
    assert "exportDataRowsInProjectPyApi" in operations and "GetExportFileFromOffsetPyApi" in operations

    # filter by operation: the export's creation, with its params in the variables
    page.get_by_label("Operation").fill("exportDataRowsInProjectPyApi")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    (created,) = page.locator("#journal-rows tr[data-seq]").all()
    created.locator("summary").click()
    variables = json.loads(created.locator("pre").inner_text())
    assert variables["input"]["params"]["includeLabelDetails"] is True


def test_the_tasks_page_links_the_files_the_sdk_read(page, server, sdk_project):
    task = sdk_project.export(params=PARAMS, filters={"workflow_status": "Done"})
    task.wait_till_done()
    rows = buffered(task)
    open_from_overview(page, server, "Tasks")
    listed = page.locator(f'#tasks tr[data-task="{task.uid}"]')
    assert listed.get_attribute("data-status") == "COMPLETE"
    assert "label_details" in listed.inner_text() and "statuses" in listed.inner_text()
    listed.get_by_role("link").first.click()
    page.wait_for_load_state()
    links = page.locator('table.files[data-stream="RESULT"] a.file-link')
    assert links.count() >= 2  # file_bytes=8_000: the export spans several files
    fetched = b"".join(page.request.get(link.get_attribute("href")).body() for link in links.all())
    assert [json.loads(line) for line in fetched.splitlines()] == rows
    line_ranges = page.locator('table.files[data-stream="RESULT"] tbody tr td:nth-child(2)').all_inner_texts()
    assert line_ranges[0].startswith("0–") and line_ranges[-1].endswith(f"–{len(rows) - 1}")
