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
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from email.utils import formatdate
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes

from werkzeug.serving import DechunkedInput

MAX_LINE = 65536  # request line or one header line
MAX_HEADERS = 100
KEEPALIVE_SECONDS = 75.0  # an idle keep-alive connection is closed after this
DRAIN_LIMIT = 1 << 20  # unread request body bytes drained to keep the connection; more: close it
_NO_BODY_STATUS = (204, 304)
_REASONS = {400: "Bad Request", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            505: "HTTP Version Not Supported"}


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


class _Body:
    """``wsgi.input``: at most ``length`` bytes of the connection."""

    def __init__(self, rfile: BinaryIO, length: int) -> None:
        self._rfile, self.left = rfile, length

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.left:
            size = self.left
        data = self._rfile.read(size) if size else b""
        self.left -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.left:
            size = self.left
        data = self._rfile.readline(size) if size else b""
        self.left -= len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WSGIServer:
    """Serve ``app`` on an already listening ``sock`` until :meth:`shutdown`.

    Threads take turns accepting: the one that accepts a connection serves it to its end, and
    a new thread starts only when no other is waiting to accept (no hand-over between threads,
    no thread started per connection once enough exist).
    """

    ACCEPT_POLL = 0.25  # how often a waiting thread checks for shutdown
    SPARE_THREADS = 8  # threads kept waiting after a burst of connections

    def __init__(self, app: Callable, sock: socket.socket, owns_socket: bool = True) -> None:
        self.app, self.socket = app, sock
        self._owns_socket = owns_socket  # False: other processes accept on it too (gunicorn workers)
        host, port = sock.getsockname()[:2]
        self.server_name, self.server_port = host, port
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._waiting = 0  # threads waiting in accept()
        self._open: set[socket.socket] = set()  # connections being served
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
                conn, addr = self.socket.accept()
            except (TimeoutError, BlockingIOError, InterruptedError, ConnectionAbortedError):
                with self._lock:
                    self._waiting -= 1
                continue
            except OSError:  # the listening socket was closed
                with self._lock:
                    self._waiting -= 1
                return
            with self._lock:
                self._waiting -= 1
                alone = self._waiting == 0
            if self._stop.is_set():
                conn.close()
                return
            if alone:  # someone must keep accepting while this thread serves
                threading.Thread(target=self._take_turns, daemon=True, name="lbmock-http").start()
            self._connection(conn, addr)

    # ------------------------------------------------------------ one connection

    def _connection(self, conn: socket.socket, addr: Any) -> None:
        with self._lock:
            self._open.add(conn)
        with conn:
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _idle_timeout(conn)
                with conn.makefile("rb", buffering=65536) as rfile:
                    while not self._stop.is_set() and self._exchange(conn, rfile, addr):
                        pass
            except OSError:  # the client went away
                pass
            except Exception:  # the app failed mid-body: the connection ends, the server goes on
                sys.excepthook(*sys.exc_info())
            finally:
                with self._lock:
                    self._open.discard(conn)

    def _exchange(self, conn: socket.socket, rfile: BinaryIO, addr: Any) -> bool:
        """Read one request, answer it; False when the connection is to be closed."""
        try:
            line = rfile.readline(MAX_LINE + 1)
            while line in (b"\r\n", b"\n"):  # tolerated before a request line (RFC 9112 2.2)
                line = rfile.readline(MAX_LINE + 1)
        except (TimeoutError, BlockingIOError):  # idle past the keep-alive time
            return False
        if not line:
            return False
        try:
            environ, keep_alive = self._environ(line, rfile, addr)
        except _BadRequest as exc:
            body = f"{exc}\n".encode()
            conn.sendall(f"HTTP/1.1 {exc.status} {_REASONS.get(exc.status, 'Error')}\r\nContent-Type: text/plain\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            return False
        keep_alive = self._respond(conn, environ, keep_alive)
        body = environ["wsgi.input"]
        if keep_alive and isinstance(body, _Body) and body.left:  # what the app did not read
            if body.left > DRAIN_LIMIT:
                return False
            body.read()
        elif isinstance(body, DechunkedInput):  # cannot tell where an unread chunked body ends
            keep_alive = keep_alive and body._done
        return keep_alive

    def _environ(self, line: bytes, rfile: BinaryIO, addr: Any) -> tuple[dict[str, Any], bool]:
        if len(line) > MAX_LINE:
            raise _BadRequest(431, "request line too long")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            if len(parts) == 3 and parts[2].startswith("HTTP/"):
                raise _BadRequest(505, f"unsupported protocol {parts[2]}")
            raise _BadRequest(400, "malformed request line")
        method, target, protocol = parts
        environ: dict[str, Any] = {}
        for _ in range(MAX_HEADERS + 1):
            header = rfile.readline(MAX_LINE + 1)
            if len(header) > MAX_LINE:
                raise _BadRequest(431, "header line too long")
            if header in (b"\r\n", b"\n", b""):
                break
            name, sep, value = header.decode("latin-1").partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, "malformed header line")
            if "_" in name:  # HTTP_X_Y would be ambiguous with X-Y: drop it, as werkzeug does
                continue
            key = name.upper().replace("-", "_")
            value = value.strip()
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
                if key in environ:
                    value = f"{environ[key]},{value}"
            environ[key] = value
        else:
            raise _BadRequest(431, "too many header lines")
        if not target.startswith("/"):  # absolute-form (a proxy's) or "*"
            scheme, _, rest = target.partition("://")
            target = "/" + rest.partition("/")[2] if scheme and rest else target
        path, _, query = target.partition("?")
        connection = environ.get("HTTP_CONNECTION", "").lower()
        keep_alive = "close" not in connection if protocol == "HTTP/1.1" else "keep-alive" in connection
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body: Any = DechunkedInput(rfile)
            environ["wsgi.input_terminated"] = True
        else:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise _BadRequest(400, "malformed Content-Length") from None
            if length < 0:
                raise _BadRequest(400, "malformed Content-Length")
            body = _Body(rfile, length)
        environ.update({
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": body, "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper, "SERVER_SOFTWARE": "lbmock", "REQUEST_METHOD": method,
            "SCRIPT_NAME": "", "PATH_INFO": unquote_to_bytes(path).decode("latin-1"), "QUERY_STRING": query,
            "RAW_URI": target, "REQUEST_URI": target, "SERVER_NAME": str(self.server_name),
            "SERVER_PORT": str(self.server_port), "SERVER_PROTOCOL": protocol,
            "REMOTE_ADDR": str(addr[0]), "REMOTE_PORT": addr[1],
            "lbmock.expect_continue": environ.get("HTTP_EXPECT", "").lower() == "100-continue",
        })
        return environ, keep_alive

    def _http_date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, usegmt=True))
        return self._date[1]

    def _respond(self, conn: socket.socket, environ: dict[str, Any], keep_alive: bool) -> bool:
        """Run the app and send its answer; whether the connection may stay open."""
        if environ.pop("lbmock.expect_continue") and environ["SERVER_PROTOCOL"] == "HTTP/1.1":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
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
            sys.excepthook(*sys.exc_info())
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
        conn.sendall("".join(head).encode("latin-1"))
        if bodiless:
            return keep_alive
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


def _chain(sent: list[bytes], first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from sent
    yield first
    yield from rest


def _idle_timeout(conn: socket.socket) -> None:
    """A connection idle (or stalled) for KEEPALIVE_SECONDS is dropped: by kernel timeouts on a
    blocking socket where the platform has them (no non-blocking socket for Python to poll, and
    sendfile(2) moves as much as the client takes per call), else by Python's socket timeout."""
    try:
        timeval = struct.pack("ll", int(KEEPALIVE_SECONDS), 0)  # Linux's struct timeval: two longs
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    except (OSError, AttributeError, struct.error):
        conn.settimeout(KEEPALIVE_SECONDS)
        return
    conn.setblocking(True)


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
