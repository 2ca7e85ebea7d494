"""The dashboard in a real browser (Debian's headless Chromium through Playwright, see
tests/browser_harness.py) against a real threaded lbmock on loopback, with the real
labelbox 7.17.0 SDK as the other client of the same server.

Every page is reached by clicking from the overview, as a person would."""

from __future__ import annotations

import io
import json

import labelbox as lb
import numpy as np
import pytest
import requests
from lbox import exceptions as lbx
from PIL import Image
from render_pause import in_thread, paused_at
from sdk_streams import buffered

from lbmock.labelmap import choose_label
from lbmock.mockserver.exports import progress as render_progress

pytestmark = [pytest.mark.lb_world(seed=1, rows=16), pytest.mark.lb_server_options(file_bytes=8_000)]
PARAMS = {"label_details": True, "project_details": True}
WAIT_MS = 15_000  # generous: CI shares two cores between two test processes and the browser


@pytest.fixture
def sdk_project(lb_server):
    return lb.Client(**lb_server.client_kwargs).get_project(lb_server.project_id)


def open_from_overview(page, server, nav_title: str) -> None:
    """Open the overview, then follow the navigation bar's link ``nav_title``."""
    page.goto(server.base_url + "/_mock/dashboard/")
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name=nav_title, exact=True).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text()


def served_mask(server, feature, frame: int) -> np.ndarray:
    """The mask PNG the API serves for ``feature`` at ``frame`` (what the SDK's users download), as booleans."""
    answer = requests.get(f"{server.base_url}/api/v1/projects/{server.project_id}/annotations/"
                          f"{feature.feature_id}/index/{frame}/mask",
                          headers={"Authorization": f"Bearer {server.api_key}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return np.asarray(Image.open(io.BytesIO(answer.content)).convert("L")) > 127


def shifted_any(mask: np.ndarray, distance: int) -> np.ndarray:
    """``mask`` grown by ``distance`` pixels (square neighbourhood)."""
    grown = mask.copy()
    for dy in range(-distance, distance + 1):
        for dx in range(-distance, distance + 1):
            grown |= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    return grown


def test_overview_to_a_row_and_the_overlay_sits_on_the_mask(page, lb_server, lb_world):
    # The first row whose default label has an Axial mask; its biggest Axial mask keyframe.
    row, label = next((r, choose_label(r, None)) for r in lb_world
                      if choose_label(r, None) and any(f.tool.kind == "mask" and f.plane == "Axial"
                                                       for f in choose_label(r, None).features))
    axial_masks = [f for f in label.features if f.tool.kind == "mask" and f.plane == "Axial"]
    feature, frame, mask = max(((f, kf.frame, served_mask(lb_server, f, kf.frame)) for f in axial_masks
                                for kf in f.keyframes), key=lambda found: found[2].sum())
    others = np.zeros_like(mask)  # other masks on the same slice, drawn in their own colours
    for other in axial_masks:
        if other is not feature and frame in {kf.frame for kf in other.keyframes}:
            others |= served_mask(lb_server, other, frame)

    page.goto(lb_server.base_url + "/_mock/dashboard/")
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Data rows", exact=True).click()
    page.get_by_role("link", name=row.id, exact=True).click()
    page.wait_for_load_state()
    assert page.locator('[data-fact="row-id"]').inner_text() == row.id
    colour = page.locator(f'#legend li[data-tool="{feature.tool.name}"]').first.get_attribute("data-color")
    assert colour == feature.tool.color

    opacity = page.get_by_label("Overlay opacity, percent")
    opacity.focus()
    page.keyboard.press("End")  # 100 %: exactly the tool's colour where the mask is
    slider = page.locator("#slider-Axial")
    keyframes = [int(k) for k in slider.get_attribute("data-keyframes").split(",")]
    assert frame in keyframes
    slider.focus()
    page.keyboard.press("Home")
    for _ in range(len(keyframes) + 1):  # "]": the next keyframe, one key press at a time
        if int(slider.input_value()) == frame:
            break
        page.keyboard.press("]")
    assert int(slider.input_value()) == frame
    assert page.locator("#frame-Axial").inner_text() == str(frame)
    page.wait_for_function(
        """frame => ["image-Axial", "overlay-Axial"].every(id => {
               const img = document.getElementById(id);
               return img.src.includes(`/Axial/${frame}/`) && img.complete && img.naturalWidth > 0; })""",
        arg=frame, timeout=WAIT_MS)

    stack = page.locator("#plane-Axial .stack")
    shot = np.asarray(Image.open(io.BytesIO(stack.screenshot())).convert("RGB")).astype(int)
    box_w, box_h = page.evaluate("id => { const r = document.getElementById(id).getBoundingClientRect(); "
                                 "return [r.width, r.height]; }", "overlay-Axial")
    height, width = mask.shape
    scale = min(box_w / width, box_h / height)  # object-fit: contain, centred
    left, top = (box_w - width * scale) / 2, (box_h - height * scale) / 2
    ys, xs = np.mgrid[0:height, 0:width]
    sx = np.clip((left + (xs + 0.5) * scale).astype(int), 0, shot.shape[1] - 1)
    sy = np.clip((top + (ys + 0.5) * scale).astype(int), 0, shot.shape[0] - 1)
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    is_colour = (np.abs(shot[sy, sx] - rgb).max(axis=-1) <= 12)

    edge = max(2, int(np.ceil(1 / scale)) + 1)  # stay clear of resampled edges
    inside = mask & ~shifted_any(~mask, edge) & ~shifted_any(others, edge)
    outside = ~shifted_any(mask | others, edge)
    assert inside.sum() >= 20, "the chosen mask is too small to judge"
    assert is_colour[inside].mean() >= 0.98, "the overlay colour is missing where the mask is"
    assert is_colour[outside].mean() <= 0.01, "the overlay colour shows where there is no mask"


def test_a_fault_set_on_the_faults_page_fails_the_sdk(page, lb_server, sdk_project, lb_world):
    open_from_overview(page, lb_server, "Faults")
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
    assert len(buffered(sdk_project.export(params=PARAMS))) == len(lb_world)


def test_auth_revoked_from_the_page_and_cleared_again(page, lb_server):
    open_from_overview(page, lb_server, "Faults")
    page.locator('#fault-catalogue tr[data-fault="auth-revoked"]').get_by_role("button").click()
    page.wait_for_load_state()
    with pytest.raises(lbx.AuthenticationError):
        lb.Client(**lb_server.client_kwargs).get_project(lb_server.project_id)
    page.get_by_role("button", name="Clear fault auth-revoked").click()
    page.wait_for_load_state()
    assert lb.Client(**lb_server.client_kwargs).get_project(lb_server.project_id).uid == lb_server.project_id


def test_bad_fault_input_is_a_message_on_the_page(page, lb_server):
    open_from_overview(page, lb_server, "Faults")
    row = page.locator('#fault-catalogue tr[data-fault="server-error"]')
    row.get_by_label("Argument").fill("200")
    with page.expect_navigation() as navigation:
        row.get_by_role("button").click()
    assert navigation.value.status == 400
    assert "500-599" in page.get_by_role("alert").inner_text()
    assert page.locator("#active-faults").inner_text().startswith("No fault is set")


def test_a_transition_set_on_the_page_holds_the_sdks_task_until_advanced_there(page, lb_server, sdk_project):
    open_from_overview(page, lb_server, "Faults")
    row = page.locator('#transitions tr[data-model="export-task"]')
    row.get_by_label("Progression").select_option("manual")
    row.get_by_label("Reads (manual) or seconds (time)").fill("2")
    row.get_by_role("button", name="Set the export-task transition", exact=True).click()
    page.wait_for_load_state()
    assert "unfinished for 2 status read(s)" in page.locator('#transitions tr[data-model="export-task"]').inner_text()

    client = lb.Client(**lb_server.client_kwargs)
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

    open_from_overview(page, lb_server, "Faults")
    page.get_by_role("button", name="Reset the export-task transition to the server's default").click()
    page.wait_for_load_state()
    assert sdk_project.export(params=PARAMS).status == "COMPLETE"  # immediate again


def test_the_journal_view_shows_the_sdks_operations_as_they_happen(page, lb_server, sdk_project, lb_world):
    open_from_overview(page, lb_server, "Journal")
    assert page.get_by_label("Auto-refresh every 2 s").is_checked()
    page.evaluate("window.__notReloaded = true")
    seen_before = lb_server.backend.journal.entries()[-1].seq

    task = sdk_project.export(params=PARAMS)
    task.wait_till_done()
    rows = buffered(task)
    assert len(rows) == len(lb_world)

    # wait for the SDK's last request (its file download) to show at the top, without reloading
    expected = [e for e in lb_server.backend.journal.entries() if e.seq > seen_before][::-1]
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


def test_the_tasks_page_links_the_files_the_sdk_read(page, lb_server, sdk_project):
    task = sdk_project.export(params=PARAMS, filters={"workflow_status": "Done"})
    task.wait_till_done()
    rows = buffered(task)
    open_from_overview(page, lb_server, "Tasks")
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


def test_the_tasks_page_shows_a_render_as_it_goes(page, lb_server, sdk_project, lb_world, monkeypatch):
    """The SDK's first header read waits for the rows to be rendered: the tasks page says how far the
    render is ("rendering N of M rows"), and moves on to the finished count without a reload."""
    monkeypatch.setattr(render_progress, "BLOCK_ROWS", 4)
    rows_total = len(lb_world)
    read: list = []
    with paused_at(monkeypatch, 8) as (reached, release):
        task = sdk_project.export(params={"performance_details": True})  # a stream no other test rendered
        sdk = in_thread(lambda: (task.wait_till_done(), read.extend(buffered(task))))
        assert reached.wait(WAIT_MS / 1000), "the SDK's export never started rendering"
        open_from_overview(page, lb_server, "Tasks")
        page.evaluate("window.__notReloaded = true")
        line = page.locator(f'#tasks tr[data-task="{task.uid}"] .render-progress')
        assert line.inner_text().startswith(f"rendering 8 of {rows_total} rows")
        assert line.get_attribute("data-finished") == "false"
        release.set()
        sdk.join(WAIT_MS / 1000)
    assert not sdk.is_alive() and len(read) == rows_total
    page.wait_for_function("id => document.querySelector(`#tasks tr[data-task='${id}'] .render-progress`)"
                           "?.dataset.finished === 'true'", arg=task.uid, timeout=WAIT_MS)
    assert page.evaluate("window.__notReloaded") is True
    assert line.inner_text().startswith(f"rendered {rows_total} of {rows_total} rows")
