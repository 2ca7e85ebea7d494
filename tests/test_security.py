"""Who may reach the mock (mockserver/guard.py, docs/security.md): the Host allow-list, same-origin
state changes under /_mock/, the admin token and its dashboard login, framing headers; and the clean
edges of ``lbmock serve``: a private state file that is always a path, temp folders removed on any
exit, the banner of the world served, a full disk as a retryable 503, bad flags as exit 2.
(The same cross-site tricks from a real browser: test_security_browser.py.)"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import labelbox
import pytest
import requests
from sdk_streams import buffered

from lbmock.contract_tests.wire import start_serve
from lbmock.mockserver import MockLabelbox, ThreadedMockServer
from lbmock.mockserver.app import create_app
from lbmock.mockserver.backend.store import SharedState
from lbmock.mockserver.config import ServerConfig
from lbmock.mockserver.guard import COOKIE, TOKEN_HEADER, host_allowed
from lbmock.strategies import seeded_world

WORLD = seeded_world(3, 6)
TOKEN = "a-long-admin-token"
EXPORT = """mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!) {
  exportDataRowsInProject(input: $input) { taskId isStreamable } }"""


def client(**config):
    app = create_app(WORLD, ServerConfig(**config))
    return app, app.test_client()


# ------------------------------------------------------------ Host


@pytest.mark.parametrize(("host", "config", "allowed"), [
    ("127.0.0.1:8080", {}, True), ("localhost:8080", {}, True), ("[::1]:8080", {}, True),
    ("127.7.0.1", {}, True), ("app.localhost", {}, True), (None, {}, True),
    ("rebind.test:8080", {}, False), ("10.0.0.5:8080", {}, False), ("", {}, False), ("a b", {}, False),
    ("lbmock.test", {"public_url": "http://lbmock.test:9000"}, True),
    ("ci-box", {"allow_hosts": ("ci-box",)}, True), ("CI-BOX.", {"allow_hosts": ("ci-box",)}, True),
    ("10.0.0.5:8080", {"bind_host": "10.0.0.5"}, True), ("10.0.0.6:8080", {"bind_host": "10.0.0.5"}, False),
    ("10.0.0.6:8080", {"bind_host": "0.0.0.0"}, True), ("rebind.test", {"bind_host": "0.0.0.0"}, False),
])
def test_the_host_allow_list(host, config, allowed):
    assert host_allowed(host, ServerConfig(**config)) is allowed


def test_a_rebound_host_gets_neither_the_admin_api_nor_the_dashboard_nor_the_api():
    app, c = client()
    rebound = {"Host": "rebind.test:8080"}
    health = c.get("/_mock/health", headers=rebound)
    assert health.status_code == 403 and health.json["code"] == "FORBIDDEN_HOST"
    assert "--allow-host" in health.json["error"]
    assert c.get("/_mock/journal", headers=rebound).status_code == 403
    assert c.post("/_mock/dashboard/faults/set", data={"name": "auth-revoked"},
                  headers={**rebound, "Origin": "http://rebind.test:8080"}).status_code == 403
    answer = c.post("/graphql", json={"query": "{user{id}}"}, headers={**rebound, "Authorization": "Bearer k"})
    assert answer.status_code == 403 and answer.json["errors"][0]["extensions"]["code"] == "FORBIDDEN_HOST"
    assert app.extensions["lbmock"].faults.active() == []
    assert c.get("/_mock/health").status_code == 200  # its own name: answered


def test_a_public_bind_answers_the_api_on_any_host_and_the_admin_api_only_on_its_own():
    _app, c = client(bind_host="0.0.0.0", allow_hosts=("lbmock",))
    key = {"Authorization": "Bearer k"}
    assert c.post("/graphql", json={"query": "{user{id}}"}, headers={**key, "Host": "lb.example"}).status_code == 200
    assert c.get("/_mock/health", headers={"Host": "lb.example"}).status_code == 403
    assert c.get("/_mock/health", headers={"Host": "lbmock:8080"}).status_code == 200
    assert c.get("/_mock/health", headers={"Host": "192.168.1.20:8080"}).status_code == 200  # an address


def test_the_sdk_in_process_and_over_loopback_is_unchanged():
    with MockLabelbox(WORLD) as lb:  # Host api.labelbox.com / storage.labelbox.com: no socket, not checked
        project = labelbox.Client(**lb.client_kwargs).get_project(WORLD.project.id)
        assert project.uid == WORLD.project.id
        assert requests.get("https://api.labelbox.com/_mock/health", timeout=10).status_code == 200
    with ThreadedMockServer(WORLD) as srv:
        assert labelbox.Client(**srv.client_kwargs).get_project(WORLD.project.id).uid == WORLD.project.id
        spoofed = requests.get(f"{srv.base_url}/_mock/journal", headers={"Host": "rebind.test"}, timeout=10)
        assert spoofed.status_code == 403


# ------------------------------------------------------------ same origin


CROSS_SITE = [
    ({"Content-Type": "text/plain"}, b'{"name": "auth-revoked"}'),  # a text/plain form, a no-cors fetch
    ({}, b'{"name": "auth-revoked"}'),  # a beacon or a no-cors fetch of a Blob: no Content-Type
    ({"Content-Type": "application/x-www-form-urlencoded"}, b'{"name": "auth-revoked"}'),
    ({"Content-Type": "application/json", "Origin": "null"}, b'{"name": "auth-revoked"}'),
    ({"Content-Type": "application/json", "Origin": "http://localhost:3000"}, b'{"name": "auth-revoked"}'),
    ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, b'{"name": "auth-revoked"}'),
    ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, b'{"name": "auth-revoked"}'),
]


@pytest.mark.parametrize(("headers", "body"), CROSS_SITE)
def test_cross_site_state_changes_are_refused_with_a_clear_403(headers, body):
    app, c = client()
    for method, path in (("POST", "/_mock/faults"), ("POST", "/_mock/reset"), ("DELETE", "/_mock/journal"),
                         ("POST", "/_mock/state-manager/set-transition"), ("POST", "/_mock/world"),
                         ("POST", "/_mock/tasks/cnosuchtask/advance")):
        answer = c.open(path, method=method, data=body, headers=headers)
        assert answer.status_code == 403, (method, path, answer.get_data(as_text=True))
        assert set(answer.json) == {"error", "code"} and answer.json["code"] == "FORBIDDEN_CROSS_SITE"
    assert app.extensions["lbmock"].faults.active() == []


def test_the_dashboard_refuses_origin_null_and_other_origins():
    app, c = client()
    for headers in ({"Origin": "null"}, {"Origin": "http://127.0.0.1:9999"}, {"Sec-Fetch-Site": "cross-site"}):
        assert c.post("/_mock/dashboard/faults/set", data={"name": "auth-revoked"}, headers=headers).status_code == 403
    assert app.extensions["lbmock"].faults.active() == []


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin"},
                                     {"Sec-Fetch-Site": "none"}])
def test_same_origin_and_non_browser_clients_are_answered(headers):
    _app, c = client()
    assert c.post("/_mock/faults", json={"name": "auth-revoked", "times": 1}, headers=headers).status_code == 201
    assert c.post("/_mock/reset", headers=headers).status_code == 200  # no body: no Content-Type needed
    assert c.delete("/_mock/faults", headers=headers).status_code == 200


def test_the_dashboard_and_the_landing_page_cannot_be_framed():
    _app, c = client()
    for url in ("/_mock/dashboard/", "/_mock/dashboard/faults", "/", "/_mock/health"):
        answer = c.get(url)
        assert answer.headers["X-Frame-Options"] == "DENY", url
        assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none'", url


# ------------------------------------------------------------ admin token


def test_the_admin_token_guards_every_mock_route():
    app, c = client(admin_token=TOKEN)
    for url in ("/_mock/health", "/_mock/journal", "/_mock/faults"):
        refused = c.get(url)
        assert refused.status_code == 401 and refused.json["code"] == "ADMIN_TOKEN_REQUIRED", url
        assert c.get(url, headers={TOKEN_HEADER: TOKEN}).status_code == 200
        assert c.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get(url, headers={TOKEN_HEADER: TOKEN + "x"}).status_code == 401
    page = c.get("/_mock/dashboard/faults")
    assert page.status_code == 401 and "/_mock/login" in page.get_data(as_text=True)
    assert c.post("/_mock/faults", json={"name": "auth-revoked"}).status_code == 401
    assert app.extensions["lbmock"].faults.active() == []
    key = {"Authorization": "Bearer any-key"}  # the emulated API takes API keys, never the admin token
    assert c.post("/graphql", json={"query": "{user{id}}"}, headers=key).status_code == 200


def test_the_dashboard_login_link_works_once_and_the_token_form_always():
    app, c = client(admin_token=TOKEN)
    code = app.extensions["lbmock"].issue_login_code()
    entered = c.get(f"/_mock/login?code={code}")
    assert entered.status_code == 303 and entered.headers["Location"].endswith("/_mock/dashboard/")
    cookie = entered.headers["Set-Cookie"]
    assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/_mock/" in cookie
    assert c.get("/_mock/dashboard/").status_code == 200  # the cookie
    assert c.post("/_mock/dashboard/faults/set", data={"name": "rate-limit"}).status_code == 303
    other = app.test_client()
    assert other.get(f"/_mock/login?code={code}").status_code == 401  # used up
    assert other.post("/_mock/login", data={"token": "wrong-token"}).status_code == 401
    assert other.post("/_mock/login", data={"token": TOKEN}).status_code == 303
    assert other.get("/_mock/dashboard/").status_code == 200
    forged = app.test_client()
    forged.set_cookie(COOKIE, "0" * 64, path="/_mock/")
    assert forged.get("/_mock/dashboard/").status_code == 401


def test_lbmock_serve_with_an_admin_token_prints_a_login_link(tmp_path):
    with start_serve("--seed", "3", "--rows", "6", "--admin-token", TOKEN, "--template-cache", "none",
                     log_dir=tmp_path) as served:
        assert TOKEN not in served.banner
        link = next(line for line in served.banner.splitlines() if "lbmock: dashboard" in line).split()[2]
        assert requests.get(f"{served.base_url}/_mock/health", timeout=10).status_code == 401
        with requests.Session() as browser:
            assert browser.get(link, timeout=10).url == f"{served.base_url}/_mock/dashboard/"
            assert browser.get(f"{served.base_url}/_mock/dashboard/faults", timeout=10).status_code == 200
        assert requests.get(link, timeout=10).status_code == 401  # one browser only
        sdk = labelbox.Client(**served.client_kwargs())
        assert sdk.get_project(served.project_id).uid == served.project_id


# ------------------------------------------------------------ the state file, temp folders, the banner


def test_the_state_file_is_private_and_always_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    SharedState("c#d.sqlite").put_setting("x", b"1")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == ["c#d.sqlite"]
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    SharedState("file:odd?mode=memory").put_setting("x", b"1")
    assert (tmp_path / "file:odd?mode=memory").exists()


def _leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("lbmock-"))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_double_sigterm_removes_temp_folders_without_a_traceback(tmp_path, workers):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    served = start_serve("--seed", "3", "--rows", "6", "--workers", workers, "--template-cache", "none",
                         log_dir=tmp_path, env=env)
    try:
        wire = labelbox.Client(**served.client_kwargs())
        task = wire.get_project(served.project_id).export(params={})
        task.wait_till_done()  # a spooled stream in the temp folder
        assert _leftovers(tmp)
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=60) == 0
    finally:
        served.stop()
    assert _leftovers(tmp) == []
    assert "Traceback" not in served.stderr.read_text()


def test_the_banner_shows_the_world_a_restart_serves(tmp_path):
    state = str(tmp_path / "state.sqlite")
    args = ("--seed", "3", "--rows", "6", "--state", state, "--template-cache", "none")
    with start_serve(*args, log_dir=tmp_path, name="first") as first:
        loaded = requests.post(f"{first.base_url}/_mock/world", json={"seed": 8, "rows": 4}, timeout=30).json()
    with start_serve(*args, log_dir=tmp_path, name="second") as second:
        assert "lbmock: serving seed 8, 4 rows at" in second.banner
        assert second.project_id == loaded["project_id"]
        assert "loaded by POST /_mock/world" in second.banner
        assert requests.get(f"{second.base_url}/_mock/health", timeout=10).json()["seed"] == 8


@pytest.mark.parametrize("flags", [
    ["--seed", str(2**64)], ["--timezone", "Mars/Olympus"], ["--port", "-1"], ["--port", "65536"],
    ["--state", ""], ["--template-cache", ""], ["--file-bytes", "0"], ["--workers", "0"],
    ["--signing-key", "ab"], ["--admin-token", "short"], ["--allow-host", "a/b"],
])
def test_bad_serve_flags_exit_2_with_a_message(flags):
    done = subprocess.run([sys.executable, "-m", "lbmock.cli", "serve", "--rows", "1", *flags],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "error: argument" in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------ a full disk


def _full_disk(_spool, data_path, _plan_path, private, _lines):
    data_path.with_suffix(private).write_bytes(b'{"partial": ')  # what got written before the disk filled
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_a_retryable_503_with_a_message_and_leaves_no_partial_file(monkeypatch):
    from lbmock.mockserver.exports import spool as spool_module

    with ThreadedMockServer(WORLD) as srv:
        project = labelbox.Client(**srv.client_kwargs).get_project(WORLD.project.id)
        task = project.export(params={})
        task.wait_till_done()
        with monkeypatch.context() as m:  # every write of a rendered stream fails, as on a full disk
            m.setattr(spool_module.Spool, "_write", _full_disk)
            answer = requests.post(f"{srv.base_url}/graphql", timeout=30, headers={
                "Authorization": f"Bearer {srv.api_key}"}, json={
                "query": "query($id: ID!) { task(where: {id: $id}) { exportMetadataHeader(streamType: RESULT) "
                         "{ totalSize totalLines } } }", "variables": {"id": task.uid}})
            assert answer.status_code == 503, answer.text  # labelbox retries a 5xx GraphQL answer
            assert "no space left" in answer.json()["errors"][0]["message"]
            spooled = srv.backend.exports.spool.scratch_dir()
            assert not list(spooled.glob(f"{task.uid}*.tmp"))  # the stream's partial file is gone
            url = srv.backend.export_file_url(srv.base_url, task.uid, "RESULT", 0)
            download = requests.get(url, timeout=30)
            assert download.status_code == 503 and download.headers["Retry-After"]
            assert "no space left" in download.json()["error"]
            assert not list(spooled.glob(f"{task.uid}*.tmp"))
        deadline = time.monotonic() + 30  # a template built meanwhile in a thread of its own ends too
        while list(spooled.glob("*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not list(spooled.glob("*.tmp"))
        assert len(buffered(task)) == WORLD.row_count(WORLD.project.id)  # space again: the same task exports
