"""Many hosts, one world (issue 29): the shared state in PostgreSQL.

The store answers as the SQLite one does (one script, both engines); faults are spent exactly
once across concurrent takers; the schema is versioned; a database that is down is one clear
error at start and a 503 saying why while serving.  Then three ``lbmock serve`` processes stand
for three hosts on one database (separate ports, temp and template-cache dirs) behind a tiny
round-robin proxy, driven by labelbox 7.17.0.  PostgreSQL is a private instance the tests start
(``conftest.postgres``, ``pg_harness.py``).
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import labelbox as lb
import netns_harness
import orjson
import pytest
import requests
from pg_harness import free_port, wait_until
from sdk_streams import buffered
from test_survival import crash, expected_rows, without_signatures

from lbmock.cli import main
from lbmock.contract_tests.wire import HttpTransport, ServedProcess, WireClient, start_serve
from lbmock.mockserver import create_app
from lbmock.mockserver.backend import store_pg
from lbmock.mockserver.backend.state import open_state
from lbmock.mockserver.config import ServerConfig
from lbmock.mockserver.errors import StateUnavailable
from lbmock.strategies import seeded_world

KEY = "many-hosts-key"
SEED, ROWS = 8, 30
PARAMS = {"label_details": True, "project_details": True, "data_row_details": True}


# ------------------------------------------------------------ the store, on both engines

def test_both_engines_answer_alike(state_location):
    s = open_state(state_location)
    s.put_task("t1", "alice", {"a": 1})
    s.put_task("t2", "bob", {"b": 2})
    assert s.get_task("t1") == ("alice", {"a": 1}, 0, None)
    assert s.has_task("t2") and not s.has_task("nope")
    s.bump_refresh("t1")
    assert s.advance_task("t1", "COMPLETE") and not s.advance_task("nope", "COMPLETE")
    assert s.get_task("t1") == ("alice", {"a": 1}, 1, "COMPLETE")
    assert s.task_ids_of("alice") == ["t1"] and s.recent_task_ids() == ["t2", "t1"] and s.recent_task_ids(1) == ["t2"]
    assert s.legacy_poll("k", "L1", {"w": 1}) == ("L1", {"w": 1}, 1)
    assert s.legacy_poll("k", "L2", {"w": 2}) == ("L1", {"w": 1}, 2)
    assert s.get_legacy("L1") == {"w": 1} and s.get_legacy("L2") is None
    assert not s.any_fault() and s.take_fault("rate-limit") is None
    s.set_fault("rate-limit", 7, 2, 9)
    assert s.any_fault() and s.has_fault("rate-limit")
    assert s.take_fault("rate-limit") == (7, 9, 2, 1)
    assert s.faults() == [("rate-limit", 7, 1, 9, 1)]
    assert s.take_fault("rate-limit") == (7, 9, 1, 2)
    assert s.faults() == [] and s.take_fault("rate-limit") is None
    s.set_fault("latency", None, None)
    s.set_fault("auth-revoked", 1, 3)
    s.clear_faults("latency")
    assert [f[0] for f in s.faults()] == ["auth-revoked"]
    s.clear_faults()
    assert s.faults() == []
    s.set_transition("export-task", {"progression": "manual", "times": 2})
    s.set_transition("export-task", {"progression": "never"})
    assert s.transition("export-task") == {"progression": "never"} and s.transition("legacy-export") is None
    s.unset_transitions(None)
    assert s.transition("export-task") is None
    s.append_journal_many([{"n": i} for i in range(5)])
    s.append_journal_many([{"n": 5}])
    assert [e["n"] for _, e in s.journal()] == list(range(6)) and s.journal_size() == 6
    newest = s.journal_newest(2)
    assert [e["n"] for _, e in newest] == [5, 4]
    assert [e["n"] for _, e in s.journal_newest(2, before=newest[-1][0])] == [3, 2]
    assert s.first_unmatched("GET /x") and not s.first_unmatched("GET /x")
    assert s.setting("key", b"first") == b"first" and s.setting("key", b"second") == b"first"
    assert s.has_setting("key") and not s.has_setting("other")
    assert s.summary() == {"tasks": 2, "journal": 6, "faults": []}
    assert s.world() == (None, 0)
    assert s.set_world({"seed": 3}) == 1 and s.world() == ({"seed": 3}, 1)
    assert s.recent_task_ids() == [] and s.get_legacy("L1") is None  # a new world: no tasks
    s.clear_journal()
    assert s.journal() == [] and s.journal_size() == 0
    s.ping()
    again = open_state(state_location)  # a second opener (another worker or host) sees it all
    assert again.world() == ({"seed": 3}, 1) and again.setting("key", b"x") == b"first"


def test_a_fault_is_spent_exactly_times_times_by_concurrent_takers(state_location):
    open_state(state_location).set_fault("rate-limit", None, 40)
    takers = [open_state(state_location) for _ in range(8)]  # a connection each: hosts, as far as the store knows
    uses: list[int] = []
    lock = threading.Lock()

    def take(store) -> None:
        for _ in range(10):
            got = store.take_fault("rate-limit")
            if got is not None:
                with lock:
                    uses.append(got[3])

    threads = [threading.Thread(target=take, args=(t,)) for t in takers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(uses) == list(range(1, 41))  # 40 uses, each counted once, none lost or repeated


def test_the_schema_is_versioned_and_a_newer_one_is_refused(postgres):
    import psycopg

    url = postgres.database()
    open_state(url)
    open_state(url)  # again: nothing to upgrade
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM lbmock_schema").fetchone()[0] == store_pg.SCHEMA_VERSION
        conn.execute("UPDATE lbmock_schema SET version = version + 1")
    with pytest.raises(StateUnavailable, match="newer than this lbmock"):
        open_state(url)


# ------------------------------------------------------------ a commit whose acknowledgement is lost

def _counted(store, name: str) -> int:
    return store._one("SELECT value FROM counters WHERE name = ?", (name,))[0]


# write: (prepare the state, the write whose COMMIT reply is lost, what it must return, what must then hold)
LOST_ACK_WRITES = {
    "journal entry": (None, lambda s: s.append_journal_many([{"n": 1}]), None,
                      lambda s: [e for _, e in s.journal()] == [{"n": 1}]),
    "fault use": (lambda s: s.set_fault("rate-limit", 7, 3), lambda s: s.take_fault("rate-limit"), (7, None, 3, 1),
                  lambda s: s.faults() == [("rate-limit", 7, 2, None, 1)]),
    "export task": (None, lambda s: s.put_task("t1", "alice", {"a": 1}), None,
                    lambda s: s.recent_task_ids() == ["t1"] and _counted(s, "tasks") == 1),
    "status read": (lambda s: s.put_task("t1", "alice", {}), lambda s: s.bump_refresh("t1"), None,
                    lambda s: s.get_task("t1")[2] == 1),
    "legacy poll": (None, lambda s: s.legacy_poll("k", "L1", {"w": 1}), ("L1", {"w": 1}, 1),
                    lambda s: s.legacy_poll("k", "L2", {}) == ("L1", {"w": 1}, 2)),
    "near miss announced": (None, lambda s: s.first_unmatched("GET /x"), True,
                            lambda s: not s.first_unmatched("GET /x")),
    "one-time code taken": (lambda s: s.put_setting("code", b"c"), lambda s: s.take_setting("code", b"c"), True,
                            lambda s: not s.has_setting("code")),
    "world served": (None, lambda s: s.set_world({"seed": 3}), 1, lambda s: s.world() == ({"seed": 3}, 1)),
}


@pytest.mark.parametrize("write", list(LOST_ACK_WRITES))
def test_a_write_whose_commit_acknowledgement_is_lost_is_applied_once(postgres, write):
    """The worst moment for a retry: PostgreSQL committed, and the connection dies before its
    reply arrives (a proxy swallows the COMMIT's CommandComplete and cuts both sides).  The store
    reconnects and retries; its idempotency key makes the retry return the first attempt's result
    instead of writing again: one journal entry, one use of the fault, one task, one counted read."""
    from pg_harness import LostAcknowledgement

    prepare, act, returns, holds = LOST_ACK_WRITES[write]
    url = postgres.database()
    direct = open_state(url)
    proxy = LostAcknowledgement(postgres.port)
    try:
        through = open_state(proxy.url(url))
        if prepare is not None:
            prepare(through)
        proxy.arm()
        assert act(through) == returns
        assert proxy.cuts == 1  # the acknowledgement was lost, and the write retried
        assert holds(direct)
    finally:
        proxy.close()


# ------------------------------------------------------------ a database that is down

def test_an_unreachable_database_at_start_is_one_clear_error(capsys):
    closed_port = free_port()  # nothing listens there
    started = time.monotonic()
    assert main(["serve", "--port", "0", "--state", f"postgresql://lbmock:secret@127.0.0.1:{closed_port}/x"]) == 2
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert err.startswith("lbmock: --state: the shared state's database is unreachable (127.0.0.1:")
    assert len(err.strip().splitlines()) == 1 and "secret" not in err and "Traceback" not in err


def test_a_refused_password_at_start_is_one_clear_authentication_error(postgres, capsys):
    import psycopg
    from pg_harness import PASSWORD_ROLE

    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS pw_owned")
        conn.execute(f"DROP ROLE IF EXISTS {PASSWORD_ROLE}")
        conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'right'")
    wrong = f"postgresql://{PASSWORD_ROLE}:wrong-secret@127.0.0.1:{postgres.port}/postgres"
    assert main(["serve", "--port", "0", "--state", wrong]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lbmock: --state: the shared state's database refused lbmock's credentials (127.0.0.1:")
    assert "password authentication failed" in err and "unreachable" not in err
    assert len(err.strip().splitlines()) == 1 and "wrong-secret" not in err and "Traceback" not in err
    # the right password on a database whose schema the role may not change: also one line
    right = f"postgresql://{PASSWORD_ROLE}:right@127.0.0.1:{postgres.port}"
    assert main(["serve", "--port", "0", "--state", f"{right}/postgres"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lbmock: --state: the shared state's database (127.0.0.1:")
    assert "refused lbmock's schema: permission denied" in err and len(err.strip().splitlines()) == 1
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE pw_owned OWNER {PASSWORD_ROLE}")
    open_state(f"{right}/pw_owned").ping()  # its own database: let in, the refusals were the password's and rights'


def test_requests_get_a_503_saying_why_while_the_database_is_down(postgres, monkeypatch):
    monkeypatch.setattr(store_pg, "RETRY_SECONDS", 0.3)
    app = create_app(seeded_world(SEED, ROWS), ServerConfig(state_path=postgres.database()))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {KEY}"}
    assert client.get("/_mock/health").json["state"] == "postgresql"
    postgres.stop()
    try:
        for answer in (client.get("/_mock/health"), client.post("/graphql", json={"query": "{user{id}}"}, headers=auth),
                       client.get("/_mock/journal")):
            assert answer.status_code == 503, answer.data
            assert answer.json["code"] == "SERVICE_UNAVAILABLE"
            assert answer.json["error"].startswith("lbmock: the shared state's database is un")  # ...available
            assert answer.headers["Retry-After"] == "1"
    finally:
        postgres.start()
    assert wait_until(lambda: client.get("/_mock/health").status_code == 200, timeout=20)
    assert client.post("/graphql", json={"query": "{user{id}}"}, headers=auth).status_code == 200
    # the requests answered 503 while it was down are journaled once it is back
    assert wait_until(lambda: len(client.get("/_mock/journal").json["entries"]) >= 2, timeout=20)


# ------------------------------------------------------------ three hosts behind a round-robin proxy

class RoundRobin:
    """A tiny load balancer: each request goes to the next live host; a host that refuses the
    connection is skipped (as a balancer's health check would), the request tried on the next."""

    def __init__(self, hosts: list[str]) -> None:
        self.hosts = hosts
        self.answered = dict.fromkeys(hosts, 0)  # requests each host answered (not /_mock/)
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of each, in order
        self._turn = itertools.count()
        self._lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                for _ in range(len(balancer.hosts)):
                    with balancer._lock:
                        host = balancer.hosts[next(balancer._turn) % len(balancer.hosts)]
                    where = urlsplit(host)
                    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
                    try:
                        conn.request(self.command, self.path, body=body or None, headers=headers)
                        answer = conn.getresponse()
                        data = answer.read()
                    except ConnectionRefusedError:
                        continue
                    finally:
                        conn.close()
                    if not self.path.startswith("/_mock/"):
                        with balancer._lock:
                            balancer.answered[host] += 1
                            balancer.log.append((self.command, urlsplit(self.path).path, answer.status))
                    self.send_response(answer.status)
                    for k, v in answer.getheaders():
                        if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    return
                self.send_error(502, "no host answered")

            do_GET = do_POST = do_HEAD = do_DELETE = _forward

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 resets a burst of concurrent clients

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class NamespacedHost(ServedProcess):
    """A host in a network namespace of its own, reached through ``door``."""

    door: netns_harness.Door | None = None
    sockets: str = ""  # the folder of its unix socket

    def stop(self) -> None:
        super().stop()
        if self.door is not None:
            self.door.close()
        shutil.rmtree(self.sockets, ignore_errors=True)


def start_host(postgres, url: str, tmp: Path, name: str, *extra: str) -> ServedProcess:
    """One ``lbmock serve`` on the shared database, with its own temp and template-cache dirs and,
    where the sandbox permits, its own network namespace (netns_harness.py): it reaches PostgreSQL
    through the server's unix socket, and the tests reach it through a door to its own."""
    own = tmp / name
    (own / "tmp").mkdir(parents=True)
    env = {**os.environ, "TMPDIR": str(own / "tmp")}
    args = ("--seed", str(SEED), "--rows", str(ROWS), "--file-bytes", "20000",
            "--template-cache", str(own / "templates"), "--render-processes", "0", *extra)
    if netns_harness.unavailable_reason() is not None:
        return start_serve("--state", url, *args, log_dir=own, name=name, env=env)
    sockets = tempfile.mkdtemp(prefix="lbmock-ns-", dir="/tmp")  # short: a unix socket's path is at most 107 bytes
    door = netns_harness.Door(os.path.join(sockets, "http.sock"))
    try:
        served = start_serve("--state", postgres.socket_url(url), *args, "--port", str(netns_harness.PORT),
                             log_dir=own, name=name, env=env, reach=lambda _inside: door.url,
                             wrap=[sys.executable, netns_harness.__file__, door.unix_path, "--"])
    except BaseException:
        door.close()
        shutil.rmtree(sockets, ignore_errors=True)
        raise
    return NamespacedHost(**vars(served), door=door, sockets=sockets)


@pytest.fixture(scope="module")
def hosts(postgres, tmp_path_factory) -> Iterator[tuple[list, RoundRobin, str]]:
    url = postgres.database()
    tmp = tmp_path_factory.mktemp("hosts")
    served = []
    try:
        for n in range(3):
            served.append(start_host(postgres, url, tmp, f"host{n}"))
        balancer = RoundRobin([s.base_url for s in served])
        yield served, balancer, url
        balancer.close()
    finally:
        for s in served:
            s.stop()


def test_each_host_has_a_network_namespace_of_its_own(hosts, postgres):
    """The three hosts are three network stacks: each server runs in a namespace of its own (not
    the test's), answers on the same port 8080 there, and cannot reach PostgreSQL's TCP port (it
    uses the unix socket).  Skips where the sandbox does not permit namespaces; the other tests
    then run the hosts as plain processes on loopback ports."""
    reason = netns_harness.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    served, _, _ = hosts
    servers = [netns_harness.serving_pid(host.pid) for host in served]
    spaces = {netns_harness.network_namespace(pid) for pid in servers}
    assert len(spaces) == 3 and netns_harness.network_namespace(os.getpid()) not in spaces
    for pid in servers:
        assert netns_harness.connects_from(pid, netns_harness.PORT)  # its own server, inside
        assert not netns_harness.connects_from(pid, postgres.port)  # no path to the database's TCP port


def sdk_client(base: str) -> lb.Client:
    return lb.Client(api_key=KEY, endpoint=f"{base}/graphql", rest_endpoint=f"{base}/api/v1")


def mock(base: str, method: str, path: str, **json: object) -> dict:
    answer = requests.request(method, f"{base}/_mock/{path}", json=json or None, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_sixteen_concurrent_exports_across_three_hosts_are_exact(hosts):
    served, balancer, _ = hosts
    before = dict(balancer.answered)
    expected = expected_rows(SEED, ROWS, PARAMS, balancer.url)
    project = sdk_client(balancer.url).get_project(served[0].project_id)
    results: dict[int, object] = {}

    def export(n: int) -> None:
        try:
            task = project.export(params=PARAMS)
            task.wait_till_done()
            results[n] = buffered(task)
        except BaseException as exc:  # reported below
            results[n] = exc

    threads = [threading.Thread(target=export, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(results) == list(range(16))
    for rows in results.values():
        assert not isinstance(rows, BaseException), repr(rows)
        assert without_signatures(rows) == expected
    assert all(balancer.answered[h] > before[h] for h in balancer.hosts)  # every host took part


def test_a_fault_set_through_one_host_is_used_up_exactly_times_across_all(hosts):
    served, balancer, _ = hosts
    mock(served[0].base_url, "POST", "faults", name="rate-limit", times=5)
    statuses: list[int] = []

    def ask() -> None:
        for _ in range(5):
            answer = requests.post(f"{balancer.url}/graphql", json={"query": "{user{id}}"},
                                   headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(429) == 5 and statuses.count(200) == 25
    assert mock(served[2].base_url, "GET", "faults")["active"] == []


def test_manual_progressions_count_status_reads_from_every_host(hosts):
    served, balancer, _ = hosts
    mock(served[1].base_url, "POST", "state-manager/set-transition",
         model_name="export-task", transition={"progression": "manual", "times": 3})
    try:
        client = WireClient(HttpTransport(balancer.url), KEY, served[0].project_id)
        task_id = client.create_export()
        answered = dict(balancer.answered)
        assert [client.created_tasks(task_id)[0]["status"] for _ in range(4)] == ["IN_PROGRESS"] * 3 + ["COMPLETE"]
        assert sum(balancer.answered[h] > answered[h] for h in balancer.hosts) >= 2  # reads on several hosts
    finally:
        mock(served[1].base_url, "POST", "state-manager/unset-transition", model_name="export-task")


def test_the_journal_shows_every_hosts_requests(hosts):
    served, balancer, _ = hosts
    mock(served[0].base_url, "DELETE", "journal")
    before = dict(balancer.answered)
    for _ in range(9):
        requests.post(f"{balancer.url}/graphql", json={"query": "{user{id}}"},
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert all(balancer.answered[h] - before[h] == 3 for h in balancer.hosts)
    for host in served:  # read on any host: all nine, whichever host answered them
        assert len(mock(host.base_url, "GET", "journal")["entries"]) == 9
        entries = requests.get(f"{host.base_url}/_mock/journal", params={"path": "/graphql", "status": "200"},
                               timeout=30).json()["entries"]
        assert len(entries) == 9


def test_a_host_killed_mid_download_and_a_retry_on_another_give_identical_bytes(hosts, postgres, tmp_path):
    served, _, url = hosts
    doomed = start_host(postgres, url, tmp_path, "doomed")  # a fourth host, so the others stay up
    try:
        wire = WireClient(HttpTransport(doomed.base_url), KEY, doomed.project_id)
        task_id = wire.create_export(PARAMS)
        assert wire.created_tasks(task_id)[0]["status"] == "COMPLETE"
        _offsets, _lines, file_url = wire.file_from_offset(task_id, 0)
        path = file_url[len(doomed.base_url):]
        with requests.get(doomed.base_url + path, stream=True, timeout=60) as partial:
            first = next(partial.iter_content(1024))
            crash(doomed)
        whole = [requests.get(host.base_url + path, timeout=60) for host in served]
        assert all(r.status_code == 200 for r in whole)
        assert whole[0].content == whole[1].content == whole[2].content
        assert whole[0].content.startswith(first)
    finally:
        doomed.stop()


def test_a_host_killed_mid_way_through_a_large_volume_and_a_retry_elsewhere_give_identical_bytes(
        hosts, postgres, tmp_path):
    """A DICOM volume of tens of MB: the doomed host is killed once its client has read 2 MB (what
    the socket buffers between them hold still arrives, then the body stops short).  The client
    resumes with a Range request on another host, and a third host sends it whole: the pieces join
    up to exactly the whole, and the whole is the file's size."""
    import hashlib

    from lbmock.dicom.part10 import file_size

    served, _, url = hosts
    world = seeded_world(SEED, ROWS)
    sizes = {row.id: file_size(row.series) for row in world.rows}
    row_id = min((i for i, size in sizes.items() if size >= 20_000_000), key=sizes.__getitem__)
    size = sizes[row_id]
    doomed = start_host(postgres, url, tmp_path, "doomed")
    try:
        wire = WireClient(HttpTransport(doomed.base_url), KEY, doomed.project_id)
        task_id = wire.create_export(PARAMS)
        assert wire.created_tasks(task_id)[0]["status"] == "COMPLETE"
        rows = [orjson.loads(line) for line in wire.stream(task_id).data.splitlines()]
        file_url = next(r["data_row"]["row_data"] for r in rows if r["data_row"]["id"] == row_id)
        path = file_url[len(doomed.base_url):]
        first = bytearray()
        with requests.get(doomed.base_url + path, stream=True, timeout=120) as partial:
            assert partial.status_code == 200 and int(partial.headers["Content-Length"]) == size
            for chunk in partial.iter_content(65536):
                first += chunk
                if len(first) >= 2_000_000:
                    break
            crash(doomed)
            with contextlib.suppress(requests.RequestException):  # what was in flight: then the cut
                for chunk in partial.iter_content(65536):
                    first += chunk
        assert 2_000_000 <= len(first) < size  # cut mid-stream (what socket buffers held came through)
        resumed = requests.get(served[0].base_url + path, headers={"Range": f"bytes={len(first)}-"}, timeout=120)
        assert resumed.status_code == 206
        assert resumed.headers["Content-Range"] == f"bytes {len(first)}-{size - 1}/{size}"
        whole = requests.get(served[1].base_url + path, timeout=120)
        assert whole.status_code == 200 and len(whole.content) == size
        assert hashlib.sha256(bytes(first) + resumed.content).digest() == hashlib.sha256(whole.content).digest()
    finally:
        doomed.stop()


def test_restarting_postgres_during_an_export_loses_nothing(hosts, postgres):
    """PostgreSQL restarts (a fast stop: every host's connections cut) while an export is in
    progress: the export completes with exact rows, one task was created, and the journal holds
    exactly the requests the hosts answered: the same (method, path, status), none lost, none twice."""
    served, balancer, url = hosts
    mock(served[0].base_url, "DELETE", "journal")
    mock(served[0].base_url, "POST", "state-manager/set-transition",
         model_name="export-task", transition={"progression": "manual", "times": 6})
    tasks_before = set(open_state(url).recent_task_ids())
    first = len(balancer.log)
    outcome: dict = {}
    try:
        project = sdk_client(balancer.url).get_project(served[0].project_id)
        task = project.export(params=PARAMS)

        def finish() -> None:
            try:
                task.wait_till_done()
                outcome["rows"] = buffered(task)
            except BaseException as exc:  # reported below
                outcome["error"] = exc

        poller = threading.Thread(target=finish)
        poller.start()
        time.sleep(0.3)
        reads_before = open_state(url).get_task(task.uid)[2]
        postgres.restart()  # every connection of every host is cut
        poller.join(timeout=240)
        assert not poller.is_alive() and "error" not in outcome, repr(outcome.get("error"))
        assert reads_before < 6  # the restart came while the export was in progress
        assert without_signatures(outcome["rows"]) == expected_rows(SEED, ROWS, PARAMS, balancer.url)
        assert set(open_state(url).recent_task_ids()) - tasks_before == {task.uid}  # created once
        sent = sorted(balancer.log[first:])

        def journaled() -> list[tuple[str, str, int]]:
            return sorted((e["method"], e["path"], e["status"])
                          for e in mock(served[1].base_url, "GET", "journal")["entries"])

        assert wait_until(lambda: journaled() == sent, timeout=30), (sent, journaled())
    finally:
        with contextlib.suppress(Exception):
            mock(served[0].base_url, "POST", "state-manager/unset-transition", model_name="export-task")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_hosts_spool_is_its_own_and_gone_after_shutdown(postgres, tmp_path, workers):
    """A host on a database keeps its spool (its gunicorn workers share it) in a private temp
    folder: it holds only finished exports and volumes (no partial files) while serving, and
    nothing of it is left after shutdown."""
    temp = tmp_path / "workers" / "tmp"  # the host's TMPDIR (start_host)
    with start_host(postgres, postgres.database(), tmp_path, "workers", "--workers", workers) as server:
        wire = WireClient(HttpTransport(server.base_url), KEY, server.project_id)
        for params in (PARAMS, {"label_details": True}):
            task_id = wire.create_export(params)
            assert wire.created_tasks(task_id)[0]["status"] == "COMPLETE"
            rows = [orjson.loads(line) for line in wire.stream(task_id).data.splitlines()]
            assert without_signatures(rows) == expected_rows(SEED, ROWS, params, server.base_url)
        assert mock(server.base_url, "GET", "health")["state"] == "postgresql"
        volume = requests.get(rows[0]["data_row"]["row_data"], timeout=120)
        assert volume.status_code == 200 and volume.content[128:132] == b"DICM"
        spooled = [p.name for p in temp.rglob("*") if p.is_file()]
        assert any(name.endswith(".ndjson") for name in spooled)  # the spool is in the host's temp folder
        assert not [name for name in spooled if name.endswith(".tmp")]
    assert list(temp.iterdir()) == []  # stopped: no spool, no folder left behind
