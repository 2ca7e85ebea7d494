"""Cross-site tricks from a real browser (headless Chromium, tests/browser_harness.py): a page on
another origin (a second loopback server, another port) tries every way the security probe drove the
mock's control API, and changes nothing: faults, transitions and tasks are as they were."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import labelbox as lb
import pytest

from lbmock.mockserver import ThreadedMockServer
from lbmock.strategies import seeded_world

WORLD = seeded_world(1, 8)
WAIT_MS = 15_000

# Each trick posts to TARGET (the mock) from the attacker's origin; TARGET and TASK are filled in.
ATTACK = """<!doctype html><html><head><meta charset="utf-8"><title>attacker</title></head><body>
<h1>attacker</h1>
<iframe id="framed" name="framed" src="TARGET/_mock/dashboard/faults" width="900" height="400"></iframe>
<iframe name="sink" width="10" height="10"></iframe>
<!-- a text/plain form whose body is JSON: {"name": "server-error", "x": "="} -->
<form id="plain" method="post" enctype="text/plain" action="TARGET/_mock/faults" target="sink">
  <input type="hidden" name='{"name": "server-error", "x": "' value='"}'></form>
<form id="dash" method="post" action="TARGET/_mock/dashboard/faults/clear" target="sink"></form>
<form id="advance" method="post" action="TARGET/_mock/tasks/TASK/advance" target="sink"></form>
<!-- Origin: null -->
<iframe sandbox="allow-scripts allow-forms" srcdoc='
  <form id="f" method="post" action="TARGET/_mock/dashboard/faults/clear"></form>
  <script>fetch("TARGET/_mock/faults", {method: "POST", mode: "no-cors",
    headers: {"Content-Type": "text/plain"}, body: JSON.stringify({name: "auth-revoked"})});
  fetch("TARGET/_mock/reset", {method: "POST", mode: "no-cors"});
  document.getElementById("f").submit();</script>'></iframe>
<iframe src="DATAURL"></iframe>
<script>
const target = "TARGET";
window.tricks = (async () => {
  const json = JSON.stringify({name: "rate-limit", times: 5});
  await fetch(target + "/_mock/faults", {method: "POST", mode: "no-cors", body: json}).catch(() => 0);
  await fetch(target + "/_mock/faults", {method: "POST", mode: "no-cors", body: new Blob([json])}).catch(() => 0);
  await fetch(target + "/_mock/faults", {method: "DELETE", mode: "no-cors"}).catch(() => 0);
  await fetch(target + "/_mock/state-manager/set-transition", {method: "POST", mode: "no-cors",
    body: JSON.stringify({model_name: "export-task", transition: {progression: "never"}})}).catch(() => 0);
  await fetch(target + "/_mock/tasks/TASK/advance", {method: "POST", mode: "no-cors", body: "{}"}).catch(() => 0);
  navigator.sendBeacon(target + "/_mock/faults", JSON.stringify({name: "latency", arg: 5000}));
  navigator.sendBeacon(target + "/_mock/reset", new Blob(["{}"], {type: "text/plain"}));
  document.getElementById("plain").submit();
  await new Promise(r => setTimeout(r, 300));
  document.getElementById("dash").submit();
  await new Promise(r => setTimeout(r, 300));
  document.getElementById("advance").submit();
  return "done";
})();
</script></body></html>"""


DATA_URL = "data:text/html," + quote('<form id="f" method="post" action="TARGET/_mock/state-manager/unset-transition">'
                                     '</form><script>document.getElementById("f").submit()</script>', safe="")


class Attacker:
    """A loopback server on another port serving one page."""

    def __init__(self, html: str) -> None:
        body = html.encode()  # (DATAURL: a data: page auto-posting a form, its origin opaque)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def snapshot(server) -> dict:
    backend = server.backend
    return {"faults": backend.faults.active(),
            "transitions": {m: backend.state_manager.get_transition(m).to_json()
                            for m in ("export-task", "legacy-export")},
            "tasks": [(t.id, t.progress()[0], t.advanced) for t in backend.recent_tasks()],
            "world": backend.world.seed}


def test_a_page_of_another_origin_changes_nothing(page):
    with ThreadedMockServer(WORLD) as server:
        server.state_manager.set_transition("export-task", {"progression": "manual", "times": 50})
        task = lb.Client(**server.client_kwargs).get_project(WORLD.project.id).export(params={})
        server.fault("legacy-never-ready")  # something "clear every fault" would remove
        before = snapshot(server)
        assert before["tasks"][0][1] == "IN_PROGRESS"
        attacker = Attacker(ATTACK.replace("DATAURL", DATA_URL).replace("TARGET", server.base_url)
                            .replace("TASK", task.uid))
        answers: list[tuple[str, str, int]] = []  # what reached the mock, as the mock answered it
        inner = server.app.wsgi_app

        def recording(environ, start_response):
            def start(status, headers, *exc):
                answers.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], int(status[:3])))
                return start_response(status, headers, *exc)

            return inner(environ, start)

        server.app.wsgi_app = recording
        try:
            page.goto(attacker.url)
            assert page.evaluate("window.tricks") == "done"
            page.wait_for_timeout(1500)  # the forms, the beacons and the framed pages land
            # the framed dashboard: the browser refuses to show it, so there is nothing to click
            frame = page.frame(url=f"{server.base_url}/_mock/dashboard/faults")
            if frame is not None:
                with pytest.raises(Exception):  # noqa: B017 - any failure to find the button will do
                    frame.get_by_role("button", name="Clear every fault").click(timeout=2000)
        finally:
            attacker.close()
        assert snapshot(server) == before
        posts = [(m, path, status) for m, path, status in answers if m != "GET"]
        # every trick reached the mock and was refused there (not merely left unsent by the browser)
        assert {path.replace(task.uid, "ID") for _m, path, _s in posts} == {
            "/_mock/faults", "/_mock/reset", "/_mock/state-manager/set-transition", "/_mock/tasks/ID/advance",
            "/_mock/state-manager/unset-transition", "/_mock/dashboard/faults/clear"}, posts
        assert len(posts) >= 12 and all(status == 403 for _m, _p, status in posts), json.dumps(posts, indent=1)
        assert ("GET", "/_mock/dashboard/faults", 200) in answers  # fetched, and its headers kept it unframed
        assert server.backend.task_by_id(task.uid).progress()[0] == "IN_PROGRESS"


def test_the_same_dashboard_in_its_own_tab_still_works(page):
    with ThreadedMockServer(WORLD) as server:
        server.fault("legacy-never-ready")
        page.goto(server.base_url + "/_mock/dashboard/faults")
        page.get_by_role("button", name="Clear every fault").click()
        page.wait_for_load_state()
        assert server.faults.active() == []
