"""The strict HTTP/1.1 framing of lbmock's own server (RFC 9112 §2.2, §3, §5.2, §6.1-6.3, §7.1):
``mockserver/http/sansio.py`` on bytes alone, then over raw sockets: each request-smuggling
shape is refused with the connection closed and nothing it carried is executed; stalled,
truncated and oversized bodies, the connection cap and accept() running out of descriptors."""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from lbmock.mockserver import ThreadedMockServer
from lbmock.mockserver.http.sansio import (
    MAX_HEADERS,
    ChunkedDecoder,
    ProtocolError,
    head_end,
    parse_head,
)
from lbmock.mockserver.http.server import WSGIServer

# ------------------------------------------------------------------ sansio: heads

OK = b"POST /graphql HTTP/1.1\r\nHost: h\r\n"


@pytest.mark.parametrize(("head", "status"), [
    (OK + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),  # §6.3: CL with TE
    (OK + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    (OK + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),  # duplicate, even equal
    (OK + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n", 400),
    (OK + b"Content-Length: 5, 5\r\n\r\n", 400),  # a list
    (OK + b"Content-Length: +5\r\n\r\n", 400),
    (OK + b"Content-Length: -5\r\n\r\n", 400),
    (OK + b"Content-Length: 1_0\r\n\r\n", 400),
    (OK + b"Content-Length: 1 0\r\n\r\n", 400),
    (OK + b"Content-Length: 0x10\r\n\r\n", 400),
    (OK + b"Content-Length: \r\n\r\n", 400),
    (OK + b"Content-Length: 1234567890123456789\r\n\r\n", 400),  # more digits than any length accepted
    (OK + b"Content-Length: 99999999\r\n\r\n", 413),  # over the body limit
    (OK + b"Transfer-Encoding: xchunked\r\n\r\n", 501),  # unknown codings
    (OK + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    (OK + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (OK + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),  # chunked not final
    (OK + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),  # chunked twice
    (OK + b"Transfer-Encoding: chunked,\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),  # §6.1: TE in HTTP/1.0
    (OK + b"X-A: 1\r\n  continued\r\n\r\n", 400),  # §5.2 obsolete line folding
    (OK + b"X-A: 1\r\n\tcontinued\r\n\r\n", 400),
    (OK + b"X-A: a\rb\r\n\r\n", 400),  # §2.2 bare CR
    (b"GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\nHost: h\n\n", 400),  # bare LF line ends
    (OK + b"X-A: 1\n\r\n", 400),
    (OK + b"Content-Length : 5\r\n\r\n", 400),  # whitespace before the colon (§5.1)
    (OK + b" Host: h\r\n\r\n", 400),
    (OK + b"X-A: \x00\r\n\r\n", 400),  # control characters in a value
    (OK + b"Bad Name: 1\r\n\r\n", 400),
    (OK + b"no colon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # §3.2: no Host
    (OK + b"Host: other\r\n\r\n", 400),  # two Hosts
    (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET /\x1b[2J HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # raw escape codes in the target
    (b"G\x00T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.2x\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * (MAX_HEADERS + 1) + b"Host: h\r\n\r\n", 431),
])
def test_parse_head_refuses(head, status):
    with pytest.raises(ProtocolError) as refused:
        end = head_end(head)
        assert end == len(head)
        parse_head(head)
    assert refused.value.status == status


def test_parse_head_frames_what_it_accepts():
    head = parse_head(OK + b"Content-Length: 12\r\nX-Tab:\t a b \t\r\nExpect: 100-continue\r\n\r\n")
    assert (head.method, head.target, head.version, head.length, head.chunked) == ("POST", "/graphql", "HTTP/1.1",
                                                                                    12, False)
    assert head.headers[2] == ("X-Tab", "a b") and head.expect_continue and head.keep_alive
    assert parse_head(OK + b"Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n").chunked
    assert not parse_head(OK + b"Connection: keep-alive, Close\r\n\r\n").keep_alive
    old = parse_head(b"GET / HTTP/1.0\r\n\r\n")  # HTTP/1.0 needs no Host, closes unless asked
    assert old.length == 0 and not old.keep_alive
    assert parse_head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive
    assert parse_head(OK + b"X-Latin: caf\xe9\r\n\r\n").headers[-1] == ("X-Latin", "caf\xe9")  # obs-text


def test_head_end_and_its_limits():
    assert head_end(b"GET / HTTP/1.1\r\nHost: h\r\n") == -1  # not all there yet
    assert head_end(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next") == 27  # where the next request starts
    assert head_end(b"GET / HTTP/1.1\nHost: h\n\nrest") == 24  # a bare-LF head ends too: refused by parse_head
    with pytest.raises(ProtocolError) as too_long:
        head_end(b"GET /" + b"a" * 200_000)
    assert too_long.value.status == 431
    with pytest.raises(ProtocolError):
        head_end(b"GET / HTTP/1.1\r\n" + b"X-A: " + b"b" * 200_000)


# ------------------------------------------------------------------ sansio: chunked bodies

@pytest.mark.parametrize("body", [
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5;ext\r\nhello\r\n0;a=b;c=\"q\\\"s\"\r\n\r\n",  # extensions: token and quoted-string values
    b"2\r\nhe\r\n3\r\nllo\r\n0\r\nX-Trailer: 1\r\nChecksum: abc\r\n\r\n",  # trailers, checked then dropped
    b"5 ;ext\r\nhello\r\n0\r\n\r\n",  # BWS before the extension
])
def test_chunked_bodies_decode_whole_and_byte_by_byte(body):
    whole = ChunkedDecoder()
    buffer = bytearray(body + b"NEXT")
    assert whole.feed(buffer) == b"hello" and whole.done and buffer == b"NEXT"  # the next request stays
    trickled, out = ChunkedDecoder(), []
    buffer = bytearray()
    for byte in body:
        buffer.append(byte)
        out.append(trickled.feed(buffer))
    assert b"".join(out) == b"hello" and trickled.done and not buffer


@pytest.mark.parametrize(("body", "status"), [
    (b"+5\r\nhello\r\n0\r\n\r\n", 400),
    (b"0x5\r\nhello\r\n0\r\n\r\n", 400),
    (b"5_\r\nhello\r\n0\r\n\r\n", 400),
    (b"\r\nhello\r\n0\r\n\r\n", 400),
    (b"5\nhello\r\n0\r\n\r\n", 400),  # bare LF
    (b"5\r\nhelloXX0\r\n\r\n", 400),  # data not followed by CRLF
    (b"5;a b\r\nhello\r\n0\r\n\r\n", 400),  # malformed extension
    (b"5;a=\"open\r\nhello\r\n0\r\n\r\n", 400),
    (b"5\r\nhello\r\n0\r\nXXGET /_mock/faults HTTP/1.1\r\n\r\n", 400),  # a trailer that is a request line
    (b"5\r\nhello\r\n0\r\nX-A: 1\r\n continued\r\n\r\n", 400),
    (b"5\r\nhello\r\n0\r\nX-A: a\rb\r\n\r\n", 400),
    (b"11111111111111111\r\n", 400),  # more than 16 hex digits
    (b"500000\r\n", 413),  # over the body limit
    (b"5;" + b"a" * 5000 + b"\r\n", 400),  # an endless size line
])
def test_chunked_bodies_refused(body, status):
    with pytest.raises(ProtocolError) as refused:
        ChunkedDecoder(max_body=1 << 20).feed(bytearray(body))
    assert refused.value.status == status


# ------------------------------------------------------------------ over raw sockets, through the mock

def _send_and_read(port: int, raw: bytes) -> tuple[bytes, bool]:
    """Send ``raw`` and read until the server closes; (what came back, whether it closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except TimeoutError:
            return received, False
        except ConnectionResetError:
            pass
        return received, True


def _smuggled(port: int) -> bytes:
    """Two requests a smuggler hides in a body: one sets a fault, one would be journaled."""
    fault = b'{"name": "server-error", "arg": 500}'
    return (b"POST /_mock/faults HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (port, len(fault), fault)
            + b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)


def _shape(name: str, port: int) -> bytes:
    hidden = _smuggled(port)
    # a request that reads its body (authorized GraphQL), so a lenient server would go on to the hidden ones
    start = (b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer k\r\n"
             b"Content-Type: application/json\r\n" % port)
    chunked_end = b"0\r\n\r\n"
    return {
        "CL+TE": start + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % (len(chunked_end) + len(hidden))
        + chunked_end + hidden,
        "TE+CL": start + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunked_end + hidden,
        # a proxy reading the first length forwards it all as one; a last-one-wins server sees 0, then requests
        "duplicate CL": start + b"Content-Length: %d\r\nContent-Length: 0\r\n\r\n" % len(hidden) + hidden,
        "plus in CL": start + b"Content-Length: +0\r\n\r\n" + hidden,  # Python's int() reads "+0" and "0_0"
        "underscore in CL": start + b"Content-Length: 0_0\r\n\r\n" + hidden,
        "xchunked": start + b"Transfer-Encoding: xchunked\r\n\r\n" + chunked_end + hidden,
        "chunked, identity": start + b"Transfer-Encoding: chunked, identity\r\n\r\n" + chunked_end + hidden,
        "trailer request line": start + b"Transfer-Encoding: chunked\r\n\r\n0\r\nXXGET /_mock/faults HTTP/1.1\r\n"
        + b"\r\n" + hidden,
        "obs-fold CL": start + b"X-A: 1\r\n Content-Length: %d\r\n\r\n" % len(hidden) + hidden,
        "bare CR": start + b"X-A: 1\rContent-Length: %d\r\n\r\n" % len(hidden) + hidden,
    }[name]


SHAPES = ["CL+TE", "TE+CL", "duplicate CL", "plus in CL", "underscore in CL", "xchunked", "chunked, identity",
          "trailer request line", "obs-fold CL", "bare CR"]


@pytest.fixture(scope="module")
def mock() -> Iterator[ThreadedMockServer]:
    with ThreadedMockServer(seed=3, rows=5) as srv:
        yield srv


@pytest.mark.parametrize("shape", SHAPES)
def test_each_smuggling_shape_is_refused_with_the_connection_closed(mock, shape):
    base, port = mock.base_url, int(mock.base_url.rsplit(":", 1)[1])
    requests.delete(f"{base}/_mock/faults", timeout=10)
    requests.delete(f"{base}/_mock/journal", timeout=10)
    received, closed = _send_and_read(port, _shape(shape, port))
    assert closed, f"{shape}: the connection stayed open"
    status = int(received.split(b" ", 2)[1])
    assert status in (400, 501), received[:200]
    assert received.count(b"HTTP/1.1 ") == 1 and b"Connection: close\r\n" in received  # one answer, then closed
    assert requests.get(f"{base}/_mock/faults", timeout=10).json()["active"] == []  # nothing executed
    assert [e["path"] for e in requests.get(f"{base}/_mock/journal", timeout=10).json()["entries"]] == []


def test_the_smuggled_requests_would_have_acted_if_sent_plainly(mock):
    """The control: the hidden requests, sent as requests, do set the fault and get journaled."""
    base, port = mock.base_url, int(mock.base_url.rsplit(":", 1)[1])
    requests.delete(f"{base}/_mock/journal", timeout=10)
    try:
        received, _closed = _send_and_read(port, _smuggled(port)[:-2] + b"Connection: close\r\n\r\n")
        assert received.count(b"HTTP/1.1 201 ") == 1 and received.count(b"HTTP/1.1 404 ") == 1
        active = requests.get(f"{base}/_mock/faults", timeout=10).json()["active"]
        assert [f["name"] for f in active] == ["server-error"]
        journal = requests.get(f"{base}/_mock/journal", timeout=10).json()["entries"]
        assert "/smuggled" in [e["path"] for e in journal]
    finally:
        requests.delete(f"{base}/_mock/faults", timeout=10)


# ------------------------------------------------------------------ stalls, truncation, limits, cap, accept()

def _echo(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@contextlib.contextmanager
def _server(sock: socket.socket | None = None, **options) -> Iterator[WSGIServer]:
    served = WSGIServer(_echo, sock or socket.create_server(("127.0.0.1", 0)), **options)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()


def _open_connections(served: WSGIServer) -> int:
    with served._lock:
        return len(served._open)


def _wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_stalled_body_gets_a_clean_408_and_frees_its_thread():
    with _server() as served:
        served.REQUEST_SECONDS = 0.5
        port = served.server_port
        started = time.monotonic()
        received, closed = _send_and_read(port, b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and closed
        assert time.monotonic() - started < 5
        assert _wait_for(lambda: _open_connections(served) == 0)  # the thread let the connection go
        # a head that never ends is a stall too
        received, closed = _send_and_read(port, b"GET / HTTP/1.1\r\nHost: h\r\n")
        assert received.startswith(b"HTTP/1.1 408 ") and closed
        assert requests.post(f"http://127.0.0.1:{port}/", data=b"after", timeout=10).text == "after"


def test_a_body_shorter_than_its_length_ends_quietly(capfd):
    """The client closes its side before the body is whole: no TypeError, no 'internal error',
    no thread held; the connection just ends."""
    with _server() as served:
        with socket.create_connection(("127.0.0.1", served.server_port), timeout=10) as conn:
            conn.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nshort")
            conn.shutdown(socket.SHUT_WR)
            started = time.monotonic()
            assert conn.recv(65536) == b""
            assert time.monotonic() - started < 5
        assert _wait_for(lambda: _open_connections(served) == 0)
    assert "Error" not in capfd.readouterr().err


def test_bodies_over_the_limit_are_refused_before_they_are_read():
    with _server(max_body=1000) as served:
        port = served.server_port
        received, closed = _send_and_read(port, b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n")
        assert received.startswith(b"HTTP/1.1 413 ") and closed
        part = b"1f4\r\n" + b"a" * 500 + b"\r\n"  # two chunks of 500: over 1000 with the second
        head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        received, closed = _send_and_read(port, head + part * 2 + b"1\r\na\r\n0\r\n\r\n")
        assert received.startswith(b"HTTP/1.1 413 ") and closed
        assert requests.post(f"http://127.0.0.1:{port}/", data=b"x" * 1000, timeout=10).text == "x" * 1000


def test_connections_over_the_cap_get_503_and_the_server_goes_on():
    with _server(max_connections=2) as served:
        port = served.server_port
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        try:
            assert _wait_for(lambda: _open_connections(served) == 2)
            refused = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        finally:
            for conn in held:
                conn.close()
        assert _wait_for(lambda: _open_connections(served) == 0)
        assert requests.post(f"http://127.0.0.1:{port}/", data=b"again", timeout=10).text == "again"


class _RunsOutOfDescriptors:
    """A listening socket whose accept() fails with EMFILE a few times first."""

    def __init__(self, sock: socket.socket, failures: int) -> None:
        self._sock, self.failures, self.calls = sock, failures, 0

    def accept(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError(errno.EMFILE, "Too many open files")
        return self._sock.accept()

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def test_accept_out_of_descriptors_backs_off_and_serves_again(capfd):
    flaky = _RunsOutOfDescriptors(socket.create_server(("127.0.0.1", 0)), failures=5)
    with _server(flaky) as served:  # type: ignore[arg-type]
        served.BACKOFF_SECONDS = (0.01, 0.05)
        assert requests.post(f"http://127.0.0.1:{served.server_port}/", data=b"served", timeout=10).text == "served"
        assert flaky.calls > 5 and not served._stopped.is_set()
    err = capfd.readouterr().err
    assert err.count("accept() failed (Too many open files); retrying with back-off") == 1  # once per streak
