"""lbmock's own HTTP/1.1 server (``lbmock.mockserver.http.server``, what ``lbmock serve`` runs in one
process): keep-alive, pipelining, HEAD, request bodies (Content-Length, chunked, 100-continue),
zero-copy file bodies, and clear 4xx answers to malformed requests; then the served mock's export
files and journal through it."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from lbmock.contract_tests.wire import PARAM_FLAGS, HttpTransport, WireClient, start_serve
from lbmock.mockserver.http.server import WSGIServer


def _app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/file":  # a byte range of a file, as export files are served
        handle = open(environ["lbmock.test.file"], "rb")  # noqa: SIM115 - the server closes it
        handle.seek(10)
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", "1000")])
        return environ["wsgi.file_wrapper"](handle, 4096)
    if path == "/stream":  # no Content-Length: chunked
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"one,", b"", b"two"])
    if path == "/boom":
        raise RuntimeError("the app failed")
    body = environ["wsgi.input"].read()
    answer = f"{environ['REQUEST_METHOD']} {path} {environ['QUERY_STRING']} {len(body)} {body[:20]!r}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, int, bytes]]:
    data = os.urandom(5000)
    (tmp_path / "data").write_bytes(data)

    def app(environ, start_response):
        environ["lbmock.test.file"] = str(tmp_path / "data")
        return _app(environ, start_response)

    listener = socket.create_server(("127.0.0.1", 0))
    served = WSGIServer(app, listener)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", served.server_port, data
    finally:
        served.shutdown()
        served.server_close()


def _exchange(port: int, raw: bytes, reads: int = 1) -> bytes:
    """Send ``raw``, read until the server closes or ``reads`` complete answers came (by their ends)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        received = b""
        with contextlib.suppress(TimeoutError):
            conn.settimeout(1.0)
            while chunk := conn.recv(65536):
                received += chunk
                if received.count(b"HTTP/1.1 ") >= reads and received.endswith((b"\r\n\r\n", b"')")):
                    conn.settimeout(0.2)
    return received


def test_keep_alive_serves_several_requests_on_one_connection(server):
    _host, port, data = server
    with requests.Session() as session:
        first = session.get(f"http://127.0.0.1:{port}/a?x=1", timeout=10)
        second = session.post(f"http://127.0.0.1:{port}/b", data=b"hello", timeout=10)
        file = session.get(f"http://127.0.0.1:{port}/file", timeout=10)
        assert first.text == "GET /a x=1 0 b''" and "close" not in first.headers.get("Connection", "")
        assert second.text == "POST /b  5 b'hello'"
        assert file.content == data[10:1010]  # the range the app set up, no more
        assert len(session.get_adapter("http://").poolmanager.pools) == 1  # one pool, one connection reused


def test_pipelined_requests_are_answered_in_order(server):
    _host, port, _data = server
    raw = b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    received = _exchange(port, raw, reads=2)
    assert received.index(b"GET /one") < received.index(b"GET /two")
    assert received.count(b"HTTP/1.1 200 OK") == 2 and b"Connection: close" in received


def test_head_has_headers_and_no_body(server):
    _host, port, _data = server
    head = requests.head(f"http://127.0.0.1:{port}/file", timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == "1000" and head.content == b""
    raw = _exchange(port, b"HEAD /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.endswith(b"\r\n\r\n")  # nothing after the head


def test_request_bodies_chunked_and_after_100_continue(server):
    _host, port, _data = server
    chunked = requests.post(f"http://127.0.0.1:{port}/c", data=iter([b"ab", b"cde"]), timeout=10)
    assert chunked.text == "POST /c  5 b'abcde'"
    raw = _exchange(port, b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n"
                          b"Connection: close\r\n\r\nxyz", reads=2)
    assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK") and raw.endswith(b"POST /e  3 b'xyz'")


def test_a_body_without_length_is_chunked(server):
    _host, port, _data = server
    reply = requests.get(f"http://127.0.0.1:{port}/stream", timeout=10)
    assert reply.headers["Transfer-Encoding"] == "chunked" and reply.content == b"one,two"


def test_malformed_requests_get_a_4xx_and_the_server_goes_on(server):
    _host, port, _data = server
    assert _exchange(port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _exchange(port, b"GET / HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    assert _exchange(port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 431 ")
    assert _exchange(port, b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _exchange(port, b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n").startswith(b"HTTP/1.1 431 ")
    boom = requests.get(f"http://127.0.0.1:{port}/boom", timeout=10)
    assert boom.status_code == 500
    assert requests.get(f"http://127.0.0.1:{port}/after", timeout=10).text == "GET /after  0 b''"


def test_serve_answers_export_files_and_journals_them_in_order():
    """Through ``lbmock serve``: a whole export over one keep-alive session is byte-exact, each file
    download is journaled once, in request order, with the file's path, right after the download."""
    with start_serve("--seed", "3", "--rows", "60", "--file-bytes", "20000") as served, \
            requests.Session() as session:
        client = WireClient(HttpTransport(served.base_url, session), "journal-key", served.project_id)
        task = client.create_export(dict.fromkeys(PARAM_FLAGS, True))
        client.wait_for_task(task)
        stream = client.stream(task)
        assert len(stream.files) > 2 and b"".join(f.content for f in stream.files) == stream.data
        journal = session.get(f"{served.base_url}/_mock/journal", timeout=10).json()["entries"]
        paths = [e["path"] for e in journal if e["path"].startswith("/files/")]
        assert paths == [f.url.split("?")[0].removeprefix(served.base_url) for f in stream.files]
        seqs = [e["seq"] for e in journal]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert all(e["status"] == 200 and e["method"] == "GET" for e in journal if e["path"].startswith("/files/"))
        # a tampered URL is refused (and journaled) as before
        bad = session.get(stream.files[0].url.replace("Signature=", "Signature=0"), timeout=10)
        assert bad.status_code == 403 and bad.json()["code"] == "BAD_SIGNATURE"
        last = session.get(f"{served.base_url}/_mock/journal", timeout=10).json()["entries"][-1]
        assert last["status"] == 403 and last["path"] == paths[0]


def test_shutdown_closes_kept_alive_connections(tmp_path):
    """After shutdown no request is answered, not even on a connection kept alive before it."""
    served = WSGIServer(_app, socket.create_server(("127.0.0.1", 0)))
    threading.Thread(target=served.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{served.server_port}/x"
    with requests.Session() as session:
        assert session.get(url, timeout=10).status_code == 200
        served.shutdown()
        served.server_close()
        with pytest.raises(requests.ConnectionError):
            session.get(url, timeout=10)
