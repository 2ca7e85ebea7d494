"""The transport ceiling: a trivial HTTP/1.1 server the benchmarks compare lbmock with.

    python benchmarks/ceiling.py FILE...                # prints "port N", then serves /0, /1 ... (query ignored)
    python benchmarks/ceiling.py --recorded WALK.json   # answers a recorded walk (below)

One thread, one ``selectors`` loop, keep-alive, any number of connections (the SDK keeps its
GraphQL connection open while it fetches each file on a new one).  A request's head is read, then
its body (Content-Length), and it is answered whole before the next event: ``GET /<n>`` (or a
recorded path) with a Content-Length header and ``os.sendfile`` of the file, ``POST`` with the
response bytes recorded for exactly that body.  No routing, auth, journal, JSON or framework:
what is left is what the kernel, loopback TCP and the client cost, so lbmock's figures are shown
as a fraction of it.

A recorded walk (``benchmarks/run.py`` writes it from a walk through lbmock) is JSON:
``{"base": URL, "posts": [[body file, response file], ...], "files": [[path, file], ...]}``;
``base`` (lbmock's base URL) is replaced by this server's own in every response, before serving.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import sys

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class Answers:
    """What the server answers: files by path, and recorded POST responses by request body."""

    def __init__(self, files: dict[bytes, str], posts: dict[bytes, bytes]) -> None:
        self.files, self.posts = files, posts

    @classmethod
    def numbered(cls, paths: list[str]) -> Answers:
        return cls({b"/%d" % i: p for i, p in enumerate(paths)}, {})

    @classmethod
    def recorded(cls, manifest: str, base: str) -> Answers:
        with open(manifest) as f:
            walk = json.load(f)
        old = walk["base"].encode()
        posts = {}
        for body_file, response_file in walk["posts"]:
            with open(body_file, "rb") as body, open(response_file, "rb") as response:
                request, answer = body.read(), response.read().replace(old, base.encode())
            posts[request] = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                                  % len(answer)) + answer
        return cls({path.encode(): file for path, file in walk["files"]}, posts)


def _answer(conn: socket.socket, head: bytes, body: bytes, answers: Answers) -> None:
    method, target = head.split(b" ", 2)[:2]
    if method == b"POST":
        conn.sendall(answers.posts.get(body, NOT_FOUND))
        return
    path = answers.files.get(target.split(b"?", 1)[0])
    if path is None:
        conn.sendall(NOT_FOUND)
        return
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: %d\r\n\r\n" % size)
        offset = 0
        while offset < size:
            offset += os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _serve_ready(conn: socket.socket, pending: dict[socket.socket, bytes], answers: Answers) -> bool:
    """Read what ``conn`` sent and answer every whole request in it; False when the client closed."""
    data = conn.recv(1 << 16)
    if not data:
        return False
    buffered = pending.get(conn, b"") + data
    while b"\r\n\r\n" in buffered:
        head, _, rest = buffered.partition(b"\r\n\r\n")
        length = _content_length(head)
        if len(rest) < length:
            break
        _answer(conn, head, rest[:length], answers)
        buffered = rest[length:]
    pending[conn] = buffered
    return True


def serve(answers_for, listener: socket.socket) -> None:
    """Serve forever on ``listener``; ``answers_for(base URL)`` gives the answers."""
    answers = answers_for(f"http://127.0.0.1:{listener.getsockname()[1]}")
    print(f"port {listener.getsockname()[1]}", flush=True)
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, bytes] = {}
    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            if sock is listener:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(True)  # writes block: the client reads while we send
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                selector.register(conn, selectors.EVENT_READ)
                continue
            try:
                alive = _serve_ready(sock, pending, answers)
            except OSError:
                alive = False
            if not alive:
                selector.unregister(sock)
                pending.pop(sock, None)
                sock.close()


def main(argv: list[str]) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    if argv[:1] == ["--recorded"]:
        serve(lambda base: Answers.recorded(argv[1], base), listener)
    else:
        serve(lambda _base: Answers.numbered(argv), listener)


if __name__ == "__main__":
    main(sys.argv[1:])
