"""A render's progress, observed mid-way: the rows gone through of those to go through, per block,
in the admin API's task view and the task's completionPercentage; the bytes are those of one pass."""

from __future__ import annotations

import mocks
import pytest
from render_pause import in_thread, paused_at

from lbmock.export import ExportFilters, ExportScope
from lbmock.mockserver.backend.state_manager import Transition
from lbmock.mockserver.backend.tasks import RESULT, ExportTask
from lbmock.mockserver.exports import progress as render_progress
from lbmock.mockserver.exports.render_workers import RenderWorkers
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.strategies import seeded_world

ROWS = 40
BLOCK = 10


def export(b, **task) -> ExportTask:
    created = b.create_export("key", ExportParams(label_details=True), ExportFilters(),
                              Urls.served_at("http://lbmock.test"), None, True, 1_700_000_000_000,
                              ExportScope(project_id=b.world.project.id))
    for name, value in task.items():
        setattr(created, name, value)
    return created


@pytest.mark.parametrize("how", ["template", "no template (export-errors)", "helper processes"])
def test_a_render_observed_midway_then_finished(monkeypatch, how):
    monkeypatch.setattr(render_progress, "BLOCK_ROWS", BLOCK)
    app = mocks.app(seeded_world(4, ROWS), render_processes=0)
    b = app.extensions["lbmock"]
    client = app.test_client()
    workers = RenderWorkers(1, min_rows=1, part_rows=BLOCK) if how == "helper processes" else None
    if workers is not None:
        b.exports.render_workers = workers
    try:
        task = export(b, error_every=3 if how.startswith("no template") else None)
        expected = b"".join(b.job(task, RESULT).lines())
        assert client.get(f"/_mock/tasks/{task.id}").get_json()["render"] is None  # nothing asked for it yet
        with paused_at(monkeypatch, 2 * BLOCK) as (reached, release):
            header = in_thread(lambda: b.plan(task, RESULT))  # the SDK's first header read
            assert reached.wait(120), "the render never got half-way"
            view = client.get(f"/_mock/tasks/{task.id}").get_json()
            assert view["status"] == "COMPLETE" and view["completion_percentage"] == 100.0
            midway = view["render"]
            assert 0 < midway["rows_done"] < midway["rows_total"] == ROWS
            assert midway["rows_done"] == 2 * BLOCK and midway["finished"] is False
            assert midway["rows_per_second"] > 0
            release.set()
            header.join(60)
        assert not header.is_alive()
        done = client.get(f"/_mock/tasks/{task.id}").get_json()["render"]
        assert done["rows_done"] == done["rows_total"] == ROWS and done["finished"] is True
        opened = b.open_export_file(task.id, RESULT)
        assert opened is not None
        handle, size = opened
        with handle:
            assert handle.read(size) == expected  # counted per block, rendered as one pass
    finally:
        if workers is not None:
            workers.close()


def test_completion_percentage_follows_a_render_ahead_while_in_progress(monkeypatch):
    """An IN_PROGRESS task whose rows are being rendered ahead reports the share rendered; its status
    still follows its transition alone."""
    monkeypatch.setattr(render_progress, "BLOCK_ROWS", BLOCK)
    world = seeded_world(4, ROWS)
    b = mocks.backend(world, render_processes=0, signing_key=b"k" * 32)
    workers = RenderWorkers(1, min_rows=1, part_rows=BLOCK)
    b.exports.render_workers = workers
    try:
        task = b.create_export("key", ExportParams(), ExportFilters(), Urls.served_at("http://lbmock.test"),
                               None, True, 1_700_000_000_000, ExportScope(project_id=world.project.id))
        task.transition = Transition.manual(5)
        assert b.task_progress(task) == ("IN_PROGRESS", 0.0)
        with paused_at(monkeypatch, 3 * BLOCK) as (reached, _release):
            b.exports.ahead(world)  # the plain project export, rendered before anyone asks
            assert reached.wait(120), "the render ahead never got there"
            assert b.task_progress(task) == ("IN_PROGRESS", 75.0)
            assert b.render_progress(task).rows_done == 3 * BLOCK
    finally:
        b.close()
        workers.close()
