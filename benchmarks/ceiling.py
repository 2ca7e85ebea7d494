"""The transport ceiling: a trivial HTTP/1.1 file server the benchmarks compare lbmock with.

    python benchmarks/ceiling.py FILE...     # prints "port N", then serves /0, /1 ... (query ignored)

A socket loop in one thread, keep-alive: it accepts a connection and, until the client closes
it, reads each request's head and answers ``GET /<n>`` with a Content-Length header and
``os.sendfile`` of file ``n`` (the benchmarks' client is sequential, so one thread is enough and
no thread is started per connection; a client must close a kept-alive connection before another
is served).  No routing, auth, journal or framework: what is left is what the kernel, loopback
TCP and the ``requests`` client cost, so lbmock's figures are shown as a fraction of it.
"""

from __future__ import annotations

import os
import socket
import sys


def _serve_connection(conn: socket.socket, files: list[str]) -> None:
    with conn:
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].split(b"?", 1)[0]
            try:
                path = files[int(target.strip(b"/"))]
            except (ValueError, IndexError):
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                continue
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: %d\r\n\r\n" % size)
                offset = 0
                while offset < size:
                    offset += os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)


def main(files: list[str]) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"port {listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _serve_connection(conn, files)


if __name__ == "__main__":
    main(sys.argv[1:])
