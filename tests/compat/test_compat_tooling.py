"""The suite's own machinery: the reference page copy, venv keys, locking, never deleting through symlinks."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
import sdkvenv
from support import REFERENCE_DOC, extract_page_code

# SHA-256 of the page's code block as published (tests/compat/reference is a verbatim copy of the
# reference page); the drivers run exactly this text.
PAGE_CODE_SHA256 = "ec9472a7f5735ee56c1299f0e4a862145dc13db4107a6728dcd7883f4766e605"


def test_reference_page_code_is_the_published_block():
    code = extract_page_code(REFERENCE_DOC.read_text(encoding="utf-8"))
    assert hashlib.sha256(code.encode()).hexdigest() == PAGE_CODE_SHA256
    compile(code, "labelbox-dicom-export-doc", "exec")
    assert "export_task = project.export_v2(params=export_params, filters=filters)" in code
    assert code.count("project.export_labels(download=True") == 2


def test_every_release_pins_labelbox_exactly():
    assert set(sdkvenv.PINS) == set(sdkvenv.RELEASES)
    for release, pins in sdkvenv.PINS.items():
        assert f"labelbox=={release}" in pins
        assert all("==" in pin for pin in pins)


def test_venv_key_follows_the_pins(monkeypatch):
    before = sdkvenv.venv_key("3.72.2")
    assert before != sdkvenv.venv_key("7.17.0")
    monkeypatch.setitem(sdkvenv.PINS, "3.72.2", (*sdkvenv.PINS["3.72.2"], "six==1.17.0"))
    assert sdkvenv.venv_key("3.72.2") != before


def test_cache_root_is_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("LBMOCK_COMPAT_VENVS", str(tmp_path))
    assert sdkvenv.cache_root() == tmp_path
    monkeypatch.delenv("LBMOCK_COMPAT_VENVS")
    assert sdkvenv.cache_root().parts[-2:] == (".cache", "lbmock-compat")


def test_concurrent_requests_build_a_venv_once(monkeypatch, tmp_path):
    active, peak, builds = [0], [0], []
    guard = threading.Lock()

    def fake_build(release, path):
        with guard:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.3)
        path.mkdir(parents=True)
        (path / "built").write_text(release)
        builds.append(release)
        with guard:
            active[0] -= 1

    monkeypatch.setattr(sdkvenv, "build", fake_build)
    monkeypatch.setattr(sdkvenv, "usable", lambda path, release: (path / "built").exists())
    results = []
    threads = [threading.Thread(target=lambda: results.append(sdkvenv.ensure_venv("3.40.1", tmp_path)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert builds == ["3.40.1"] and peak[0] == 1
    assert {r.path for r in results} == {tmp_path / "3.40.1"}


def test_rebuilding_never_deletes_through_a_symlink(tmp_path):
    elsewhere = tmp_path / "someone-elses-venv"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("x")
    link = tmp_path / "root" / "3.40.1"
    link.parent.mkdir()
    link.symlink_to(elsewhere)
    sdkvenv._remove(link)
    assert not link.exists() and (elsewhere / "keep").exists()


def test_a_failed_build_reports_why(monkeypatch, tmp_path):
    def failing_run(cmd, what, log):
        raise sdkvenv.VenvError(f"{what} failed (exit 1)")

    monkeypatch.setattr(sdkvenv, "_run", failing_run)
    with pytest.raises(sdkvenv.VenvError, match=r"pip install labelbox==3\.40\.1|creating the venv"):
        sdkvenv.ensure_venv("3.40.1", tmp_path)
