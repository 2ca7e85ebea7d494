"""The HTTP/1.1 server of ``lbmock serve`` (one process) and :class:`ThreadedMockServer`.

Why not werkzeug's development server: it closes every connection (no keep-alive), parses
headers with the ``email`` package, logs each request and copies file bodies through Python.
Why not gunicorn's threaded worker for one process: each keep-alive request goes from its
poller thread to a pool thread and back (two wake-ups a request).  This server is the plain
design both lack: one thread per connection, keep-alive, and ``wsgi.file_wrapper`` bodies
sent with ``socket.sendfile`` (zero-copy on Linux).  It runs any WSGI app; gunicorn still
runs ``--workers N``.

It speaks what clients of a mock send: HTTP/1.0 and 1.1 requests with a Content-Length or
chunked body, ``Expect: 100-continue``, pipelined or keep-alive requests, HEAD.  Responses
without a Content-Length are chunked (HTTP/1.1) or end with the connection (HTTP/1.0).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from email.utils import formatdate
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes

from lbmock.mockserver.errors import printable
from lbmock.mockserver.http.sansio import (
    MAX_BODY,
    ChunkedDecoder,
    ProtocolError,
    RequestHead,
    head_end,
    parse_head,
    skip_empty_lines,
)

KEEPALIVE_SECONDS = 75.0  # an idle keep-alive connection is closed after this
REQUEST_SECONDS = 30.0  # a request's head and body, from its first byte: more is a stall (408)
MAX_CONNECTIONS = 1024  # connections served at once; more are answered 503 (lbmock serve --max-connections)
_NO_BODY_STATUS = (204, 304)
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable", 505: "HTTP Version Not Supported"}
_CLOSED_LISTENER = (errno.EBADF, errno.EINVAL, errno.ENOTSOCK)  # accept() on a closed socket: the end


class FileWrapper:
    """``wsgi.file_wrapper``: a file the server sends itself (sendfile), from the file's current
    position for the response's Content-Length; iterated in blocks where it cannot."""

    def __init__(self, filelike: BinaryIO, blksize: int = 1 << 20) -> None:
        self.filelike, self.blksize = filelike, blksize

    def __iter__(self) -> Iterator[bytes]:
        while block := self.filelike.read(self.blksize):
            yield block

    def close(self) -> None:
        self.filelike.close()


SMALL_BODY = 64 * 1024  # a body sent in the same write as its head


class WSGIServer:
    """Serve ``app`` on an already listening ``sock`` until :meth:`shutdown`.

    Threads take turns accepting: the one that accepts a connection serves it to its end, and
    a new thread starts only when no other is waiting to accept (no hand-over between threads,
    no thread started per connection once enough exist).

    Bounded: at most ``max_connections`` connections are served at once (one thread each); one
    more is answered ``503`` with ``Retry-After: 1`` and closed, at once, by the thread that
    accepted it.  A request's head and body are read whole (``sansio.py`` decides the framing)
    before the app runs, within ``REQUEST_SECONDS`` of its first byte, else ``408``; a refused
    request is answered and its connection closed.  ``accept()`` failing for lack of resources
    (EMFILE, ENFILE, ENOBUFS, ENOMEM) backs off and retries: the server never ends on it.
    """

    ACCEPT_POLL = 0.25  # how often a waiting thread checks for shutdown
    SPARE_THREADS = 8  # threads kept waiting after a burst of connections
    REQUEST_SECONDS = REQUEST_SECONDS
    BACKOFF_SECONDS = (0.01, 1.0)  # accept() out of resources: first and longest wait

    def __init__(self, app: Callable, sock: socket.socket, owns_socket: bool = True,
                 max_connections: int = MAX_CONNECTIONS, max_body: int = MAX_BODY) -> None:
        self.app, self.socket = app, sock
        self._owns_socket = owns_socket  # False: other processes accept on it too (gunicorn workers)
        self.max_connections, self.max_body = max_connections, max_body
        host, port = sock.getsockname()[:2]
        self.server_name, self.server_port = host, port
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._waiting = 0  # threads waiting to accept
        self._accepting = threading.Lock()  # held by the thread in accept()
        self._open: set[socket.socket] = set()  # connections being served
        self._accept_failures = 0  # accept() out of resources in a row (every thread's)
        self._stopped = threading.Event()
        self._date = (0, "")
        sock.settimeout(self.ACCEPT_POLL)

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Accept and serve connections in this thread and others until :meth:`shutdown` (which
        may come first: a stopped server stays stopped)."""
        self._stopped.clear()
        try:
            self._take_turns(stay=True)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop: no more connections accepted, open ones closed (kept-alive ones too)."""
        self._stop.set()
        if self._owns_socket:
            with contextlib.suppress(OSError):  # wakes the threads waiting in accept() (Linux)
                self.socket.shutdown(socket.SHUT_RDWR)
        with self._lock:
            open_now = list(self._open)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._stopped.wait(2 * self.ACCEPT_POLL)

    def server_close(self) -> None:
        self.socket.close()

    def _take_turns(self, stay: bool = False) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self._waiting >= self.SPARE_THREADS and not stay:
                    return
                self._waiting += 1
            try:
                # One thread at a time waits in accept(): every thread polling the socket would be
                # woken by each connection, and all but one would find nothing (a herd per file GET).
                if not self._accepting.acquire(timeout=self.ACCEPT_POLL):
                    raise TimeoutError
                try:
                    conn, addr = self.socket.accept()
                finally:
                    self._accepting.release()
            except (TimeoutError, BlockingIOError, InterruptedError, ConnectionAbortedError):
                with self._lock:
                    self._waiting -= 1
                continue
            except OSError as exc:
                with self._lock:
                    self._waiting -= 1
                if self._stop.is_set() or exc.errno in _CLOSED_LISTENER:  # the listening socket was closed
                    return
                self._back_off(exc)  # EMFILE and the like: connections will end and free resources
                continue
            with self._lock:
                self._waiting -= 1
                self._accept_failures = 0
                alone = self._waiting == 0
                full = len(self._open) >= self.max_connections
            if self._stop.is_set():
                conn.close()
                return
            if full:
                _turn_away(conn)
                continue
            if alone:  # someone must keep accepting while this thread serves
                threading.Thread(target=self._take_turns, daemon=True, name="lbmock-http").start()
            self._connection(conn, addr)

    def _back_off(self, exc: OSError) -> None:
        """Wait before accepting again (doubling, up to a second); say so once per streak."""
        with self._lock:
            self._accept_failures += 1
            failures = self._accept_failures
        first, longest = self.BACKOFF_SECONDS
        if failures == 1:
            print(f"lbmock: accept() failed ({exc.strerror or exc}); retrying with back-off", file=sys.stderr,
                  flush=True)
        self._stop.wait(min(longest, first * 2 ** min(failures - 1, 20)))

    # ------------------------------------------------------------ one connection

    def _connection(self, conn: socket.socket, addr: Any) -> None:
        with self._lock:
            self._open.add(conn)
        with conn:
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                reader = _Reader(conn, self.max_body, self.REQUEST_SECONDS)
                while not self._stop.is_set() and self._exchange(conn, reader, addr):
                    pass
            except OSError:  # the client went away
                pass
            except Exception:  # the app failed mid-body: the connection ends, the server goes on
                _report_failure()
            finally:
                with self._lock:
                    self._open.discard(conn)

    def _exchange(self, conn: socket.socket, reader: _Reader, addr: Any) -> bool:
        """Read one request, answer it; False when the connection is to be closed."""
        try:
            head = reader.head()
            if head is None:  # closed, or idle past the keep-alive time
                return False
            if head.expect_continue and head.version == "HTTP/1.1" and (head.length or head.chunked):
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = reader.body(head)
        except ProtocolError as exc:
            _refuse(conn, exc.status, str(exc))
            return False
        except _Stalled as exc:
            _refuse(conn, 408, str(exc))
            return False
        environ = self._environ(head, body, addr)
        return self._respond(conn, environ, head.keep_alive)

    def _environ(self, head: RequestHead, body: bytes, addr: Any) -> dict[str, Any]:
        environ: dict[str, Any] = {}
        for name, value in head.headers:
            if "_" in name:  # HTTP_X_Y would be ambiguous with X-Y: drop it, as werkzeug does
                continue
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
                if key in environ:
                    value = f"{environ[key]},{value}"
            environ[key] = value
        target = head.target
        if not target.startswith("/"):  # absolute-form (a proxy's) or "*"
            scheme, _, rest = target.partition("://")
            target = "/" + rest.partition("/")[2] if scheme and rest else target
        path, _, query = target.partition("?")
        environ.update({
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,  # the whole body was read: the stream ends where it does
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper, "SERVER_SOFTWARE": "lbmock", "REQUEST_METHOD": head.method,
            "SCRIPT_NAME": "", "PATH_INFO": unquote_to_bytes(path).decode("latin-1"), "QUERY_STRING": query,
            "RAW_URI": target, "REQUEST_URI": target, "SERVER_NAME": str(self.server_name),
            "SERVER_PORT": str(self.server_port), "SERVER_PROTOCOL": head.version,
            "REMOTE_ADDR": str(addr[0]), "REMOTE_PORT": addr[1],
        })
        return environ

    def _http_date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, usegmt=True))
        return self._date[1]

    def _respond(self, conn: socket.socket, environ: dict[str, Any], keep_alive: bool) -> bool:
        """Run the app and send its answer; whether the connection may stay open."""
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            if exc_info and started and started[0] is True:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return lambda data: sent.append(data)  # write(): rarely used; sent with the body

        sent: list[bytes] = []
        try:
            result: Iterable[bytes] = self.app(environ, start_response)
        except Exception:  # an app that raises before answering: 500, as any server would
            _report_failure()
            result, started[:] = [b"internal server error\n"], ["500 Internal Server Error",
                                                                [("Content-Type", "text/plain")]]
        try:
            return self._send(conn, environ, started, sent, result, keep_alive)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _send(self, conn: socket.socket, environ: dict[str, Any], started: list[Any], sent: list[bytes],
              result: Iterable[bytes], keep_alive: bool) -> bool:
        chunks = iter(result)
        first = b""
        if not isinstance(result, FileWrapper):  # the app may call start_response only once iterated
            for first in chunks:
                if first:
                    break
        status, headers = started
        code = int(status[:3])
        length = next((int(v) for k, v in headers if k.lower() == "content-length"), None)
        bodiless = environ["REQUEST_METHOD"] == "HEAD" or code < 200 or code in _NO_BODY_STATUS
        chunked = False
        if length is None and not bodiless:
            if environ["SERVER_PROTOCOL"] == "HTTP/1.1":
                chunked = True
            else:
                keep_alive = False
        head = [f"HTTP/1.1 {status}\r\n", f"Date: {self._http_date()}\r\n"]
        head += [f"{k}: {v}\r\n" for k, v in headers if k.lower() != "connection"]
        if chunked:
            head.append("Transfer-Encoding: chunked\r\n")
        # (few headers: a client parses each one; HTTP/1.1 keeps the connection unless told otherwise)
        head.append("\r\n" if keep_alive and environ["SERVER_PROTOCOL"] == "HTTP/1.1" else
                    "Connection: keep-alive\r\n\r\n" if keep_alive else "Connection: close\r\n\r\n")
        if bodiless:
            conn.sendall("".join(head).encode("latin-1"))
            return keep_alive
        if not chunked and not sent and first and length == len(first) <= SMALL_BODY:
            # a whole small answer in one chunk (GraphQL's): one write, one segment to wait for
            conn.sendall("".join(head).encode("latin-1") + first)
            return keep_alive
        conn.sendall("".join(head).encode("latin-1"))
        if isinstance(result, FileWrapper) and length is not None and not sent:  # zero-copy from where it stands
            _sendfile(conn, result.filelike, length)
            return keep_alive
        left = length
        for data in _chain(sent, first, chunks):
            if not data:
                continue
            if left is not None:
                data = data[:left]
                left -= len(data)
            conn.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            if left == 0:
                break
        if chunked:
            conn.sendall(b"0\r\n\r\n")
        return keep_alive and not left


def _report_failure() -> None:
    """The app's exception on stderr, its text escaped (it may quote what the client sent)."""
    print(printable(traceback.format_exc(), keep_newlines=True), file=sys.stderr, end="", flush=True)


def _chain(sent: list[bytes], first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from sent
    yield first
    yield from rest


class _Stalled(Exception):
    """A request whose head or body did not arrive within its time (answered 408)."""


class _Reader:
    """The socket side of reading requests: a buffer (bytes read past one request are the next
    one's: pipelining) filled by ``recv``, parsed by ``sansio``.  Waiting for a request's first
    byte is bounded by KEEPALIVE_SECONDS; once it started, head and body by ``request_seconds``."""

    def __init__(self, conn: socket.socket, max_body: int, request_seconds: float) -> None:
        self.conn, self.max_body, self.request_seconds = conn, max_body, request_seconds
        self.buffer = bytearray()
        self._kernel = _set_timeout(conn, KEEPALIVE_SECONDS, None)
        self._timeout = KEEPALIVE_SECONDS

    def head(self) -> RequestHead | None:
        """The next request's head; None if the client closed or stayed idle before sending one."""
        buffer, deadline = self.buffer, None
        try:
            while True:
                skip_empty_lines(buffer)
                end = head_end(buffer)
                if end >= 0:
                    break
                if deadline is None and buffer:
                    deadline = time.monotonic() + self.request_seconds
                if not self._fill(deadline, "request head"):
                    return None
            head = parse_head(bytes(buffer[:end]), self.max_body)
            del buffer[:end]
            return head
        finally:
            self._restore()

    def body(self, head: RequestHead) -> bytes:
        """The request's whole body (bounded by ``max_body``, checked by ``parse_head``/the decoder)."""
        buffer, deadline = self.buffer, time.monotonic() + self.request_seconds
        try:
            if head.chunked:
                decoder, parts = ChunkedDecoder(self.max_body), []
                while True:
                    parts.append(decoder.feed(buffer))
                    if decoder.done:
                        return b"".join(parts)
                    if not self._fill(deadline, "chunked body"):
                        raise ConnectionResetError("the client closed in the middle of a body")
            while len(buffer) < head.length:
                if not self._fill(deadline, "request body"):
                    raise ConnectionResetError("the client closed in the middle of a body")
            body = bytes(buffer[:head.length])
            del buffer[:head.length]
            return body
        finally:
            self._restore()

    def _fill(self, deadline: float | None, what: str) -> bool:
        """Read more into the buffer; False at the end of the stream, or when idle (no deadline)."""
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Stalled(f"{what} not received within {self.request_seconds:g} s")
            if abs(left - self._timeout) > 0.05:
                self._timeout = left
                _set_timeout(self.conn, left, self._kernel)
        try:
            data = self.conn.recv(65536)  # (a bigger buffer costs more per small request)
        except (TimeoutError, BlockingIOError):  # SO_RCVTIMEO (EAGAIN) or the socket's timeout
            if deadline is None:
                return False
            raise _Stalled(f"{what} not received within {self.request_seconds:g} s") from None
        self.buffer += data
        return bool(data)

    def _restore(self) -> None:
        if self._timeout != KEEPALIVE_SECONDS:
            self._timeout = KEEPALIVE_SECONDS
            _set_timeout(self.conn, KEEPALIVE_SECONDS, self._kernel)


def _set_timeout(conn: socket.socket, seconds: float, kernel: bool | None) -> bool:
    """Reads (and, the first time, sends) on ``conn`` time out after ``seconds``: by kernel
    timeouts on a blocking socket where the platform has them (no non-blocking socket for Python
    to poll, and sendfile(2) moves as much as the client takes per call), else by Python's socket
    timeout.  Returns whether kernel timeouts are used."""
    if kernel is not False:
        try:
            whole = int(seconds)
            timeval = struct.pack("ll", whole, max(1, int((seconds - whole) * 1e6)) if not whole else 0)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)  # Linux's struct timeval: two longs
            if kernel is None:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
                conn.setblocking(True)
            return True
        except (OSError, AttributeError, struct.error):
            pass
    conn.settimeout(seconds)
    return False


def _refuse(conn: socket.socket, status: int, message: str, extra: str = "") -> None:
    """Answer ``status`` with ``message`` and close the connection, reading what the client
    still sends for a moment first: closing on unread bytes would reset the connection (RST),
    and the client could lose the answer."""
    body = f"{message}\n".encode("latin-1", "replace")
    with contextlib.suppress(OSError):
        conn.sendall(f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
                     f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n".encode() + body)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(0.2)
        for _ in range(16):  # at most 16 reads of 64 KiB, a few tenths of a second
            if not conn.recv(65536):
                break


def _turn_away(conn: socket.socket) -> None:
    """A connection over the cap: 503 now, without reading its request (never blocking the
    accepting thread), then closed."""
    with conn, contextlib.suppress(OSError):
        conn.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # what already arrived: so the close is not a reset
            while conn.recv(65536):
                pass
        body = b"lbmock: too many connections; retry\n"
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        conn.shutdown(socket.SHUT_WR)


def _sendfile(conn: socket.socket, handle: BinaryIO, count: int) -> None:
    """``count`` bytes of ``handle`` from its position, kernel to socket."""
    offset = handle.tell()
    end = offset + count
    if not hasattr(os, "sendfile") or conn.gettimeout() is not None:  # no sendfile, or a non-blocking socket
        conn.sendfile(handle, offset, count)
        return
    fd, out = handle.fileno(), conn.fileno()
    while offset < end:
        try:
            sent = os.sendfile(out, fd, offset, end - offset)
        except BlockingIOError:  # SO_SNDTIMEO: the client stopped reading
            raise TimeoutError("client stopped reading") from None
        if sent == 0:
            return  # the file is shorter than announced: the client sees the connection end
        offset += sent
