"""Export templates: a task reads its rows while they are still being rendered, and a template
cache directory carries rendered rows from one server run to the next, in any process, without
ever serving bytes another rendering would not."""

from __future__ import annotations

import os
import threading

import mocks
import pytest
import requests

from lbmock.contract_tests.wire import HttpTransport, WireClient, start_serve, unsigned
from lbmock.export import ExportFilters, ExportScope
from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.backend.tasks import RESULT, ExportTask
from lbmock.mockserver.exports import templates as export_templates
from lbmock.mockserver.exports.job import ExportJob
from lbmock.mockserver.exports.spool import RenderedPart
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.strategies import seeded_world
from lbmock.strategies.served_world import SeededRows

KEY = b"k" * 32
NOW_MS = 1_700_000_000_000


def backend(world, cache=None) -> MockBackend:
    return mocks.backend(world, signing_key=KEY, file_bytes=20_000,
                         template_cache=None if cache is None else str(cache))


def export(b: MockBackend, base: str = "http://lbmock.test", created: int = NOW_MS) -> ExportTask:
    return b.create_export("key", ExportParams(label_details=True), ExportFilters(), Urls.served_at(base), None,
                           True, created, ExportScope(project_id=b.world.project.id))


def direct(b: MockBackend, task: ExportTask) -> bytes:
    """The stream rendered row by row, without templates."""
    return b"".join(b.job(task, RESULT).lines())


def served(b: MockBackend, task: ExportTask) -> bytes:
    b.plan(task, RESULT)
    handle, size = b.open_export_file(task.id, RESULT)
    with handle:
        return handle.read(size)


def template_files(directory) -> list:
    return sorted(directory.glob("template-*.ndjson"))


@pytest.mark.parametrize("as_parts", [False, True], ids=["lines", "helper parts"])
def test_a_task_reads_its_rows_while_the_template_is_still_rendered(as_parts, tmp_path, monkeypatch):
    """The first export of a big world does not wait for the whole template: the rows rendered so
    far are filled in and handed on while the rest is still being rendered (here the render is held
    half-way until the task has read rows from the first half), and the bytes are those of a
    row-by-row render."""
    monkeypatch.setattr(export_templates, "PUBLISH_BYTES", 1)
    b = backend(seeded_world(3, 40))
    task = export(b)
    expected = direct(b, task).splitlines(keepends=True)
    half_read, rendered = threading.Event(), []

    def render(template_job: ExportJob, _progress):
        lines = list(template_job.lines())
        halves = (lines[:20], lines[20:])
        for number, half in enumerate(halves):
            if number == 1:
                assert half_read.wait(30), "the task read nothing while the template was half rendered"
            if as_parts:
                path = tmp_path / f"part-{number}"
                path.write_bytes(b"".join(half))
                yield RenderedPart(str(path), [len(line) for line in half])
            else:
                yield from half
            rendered.append(number)

    got = []
    for line in b.exports.templates.lines(b.job(task, RESULT), render)[0]:
        got.append(line)
        if len(got) == 20:
            assert rendered == [0], "the first rows arrived only after the whole template was rendered"
            half_read.set()
    assert got == expected
    assert len(template_files(b.exports.spool.scratch_dir())) == 1


def test_a_failed_render_reaches_the_task_waiting_for_it(tmp_path):
    """A template whose render fails leaves no template behind, and the task reading it gets an error
    instead of waiting forever or a stream cut short."""
    b = backend(seeded_world(3, 10))
    task = export(b)

    def render(_task, _progress):
        yield b'{"row": 0}\n'
        raise OSError("disk full")

    with pytest.raises(RuntimeError, match="could not be rendered"):  # (at once, or where the rows stop)
        list(b.exports.templates.lines(b.job(task, RESULT), render)[0])
    assert template_files(b.exports.spool.scratch_dir()) == []
    assert served(b, task) == direct(b, task)  # the next attempt renders afresh


def test_a_template_cache_serves_the_next_server_run_without_drawing_a_row(tmp_path, monkeypatch):
    """Two server runs on one cache directory (two backends, each resolving the world afresh): the
    second one's export is filled in from the first one's template, with its own base URL and
    signatures; a change of lbmock's code is a new key, so stale rows are never served."""
    cache = tmp_path / "cache"
    first = backend(seeded_world(6, 60, n_projects=2, dicom_variants=("oblique", "mr-rescale")), cache)
    task = export(first)
    assert served(first, task) == direct(first, task)
    (kept,) = template_files(cache)
    assert not template_files(first.exports.spool.scratch_dir())  # kept in the cache, not the server's spool

    second = backend(seeded_world(6, 60, n_projects=2, dicom_variants=("mr-rescale", "oblique")), cache)
    again = export(second, "http://127.0.0.1:9999", NOW_MS + 3_600_000)
    expected = direct(second, again)
    with monkeypatch.context() as m:
        m.setattr(SeededRows, "__getitem__", lambda *_: pytest.fail("a row was drawn again"))
        data = served(second, again)
    assert data == expected and b"http://127.0.0.1:9999/storage/" in data
    assert template_files(cache) == [kept]

    monkeypatch.setattr(export_templates, "code_fingerprint", lambda: "another version of lbmock")
    third = backend(seeded_world(6, 60, n_projects=2, dicom_variants=("oblique", "mr-rescale")), cache)
    later = export(third)
    assert served(third, later) == direct(third, later)
    assert len(template_files(cache)) == 2


def test_an_unusable_template_cache_costs_speed_not_the_export(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    b = backend(seeded_world(2, 15), blocker / "templates")
    task = export(b)
    assert served(b, task) == direct(b, task)
    assert "template cache" in capsys.readouterr().err
    assert len(template_files(b.exports.spool.scratch_dir())) == 1


def test_servers_in_separate_processes_share_one_template(tmp_path):
    """``lbmock serve --template-cache``: the second server process (another hash seed, so sets
    iterate in another order) finds the first one's template under the same key and serves the
    same rows."""
    cache = tmp_path / "templates"
    streams = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        with start_serve("--seed", "5", "--rows", "40", "--projects", "2", "--dicom-variant", "oblique",
                         "--dicom-variant", "anisotropic", "--template-cache", str(cache),
                         "--render-processes", "0", env=env) as server, requests.Session() as session:
            client = WireClient(HttpTransport(server.base_url, session), "key", server.project_id)
            data = client.stream(client.create_export({"label_details": True})).data
            streams.append(unsigned(data.replace(server.base_url.encode(), b"http://lbmock.test")))
            assert len(template_files(cache)) == 1
    assert streams[0] == streams[1] and streams[0].count(b"\n") == 40
