"""Hosts in network namespaces of their own, for the many-hosts tests.

Each host is ``lbmock serve`` in a new network namespace (``unshare(CLONE_NEWNET)``, which needs
root or CAP_SYS_ADMIN): it has only a loopback interface of its own, so it cannot reach any other
host's ports, nor PostgreSQL's TCP port.  What crosses the namespace boundary is the file system:

* the host reaches PostgreSQL through its unix socket (a temp dir every host can read);
* the host's HTTP port is reached through a unix socket too: this file, run as a script inside the
  namespace, starts the server on 127.0.0.1:PORT there and forwards each connection made to its
  unix socket to that port; in the test's own namespace a :class:`Door` (a loopback TCP port)
  forwards to that unix socket, so HTTP clients, the SDK and the balancer see a plain URL.

All three hosts listen on the same port in their own namespaces: separate stacks, not separate
ports.  Where namespaces are not permitted, :func:`unavailable_reason` says why and the tests
start plain processes on loopback ports instead (and the namespace test skips).

Only the standard library here: the script half runs before anything else is imported.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
PORT = 8080  # every namespaced host listens here: each in its own network stack
_reason: list[str | None] = []  # the probe's answer, once per test process


def enter_new_network_namespace() -> None:
    """Move this process into a new network namespace, with its loopback interface up."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # `ip link set lo up`, without iproute2
        request = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | _IFF_UP))


def unavailable_reason() -> str | None:
    """Why hosts cannot have network namespaces here (None: they can), probed once in a child."""
    if not _reason:
        probe = subprocess.run([sys.executable, __file__, "--probe"], capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
        _reason.append(None if probe.returncode == 0 else
                       f"network namespaces are not permitted here: {(probe.stderr.strip() or 'probe failed')[-300:]}")
    return _reason[0]


def cut(*sockets: socket.socket) -> None:
    """Shut both directions of each socket (the peer sees the connection end)."""
    for s in sockets:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)


def pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy ``source`` to ``sink`` until either ends; then cut both."""
    try:
        while data := source.recv(262144):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        cut(source, sink)


def accept_forever(listener: socket.socket, handle) -> None:
    """``handle(accepted)`` in a thread of its own for each connection, until ``listener`` is closed."""
    while True:
        try:
            accepted, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=handle, args=(accepted,), daemon=True).start()


def _bridge(accepted: socket.socket, connect) -> None:
    """Forward both ways between ``accepted`` and what ``connect()`` opens; close both at the end."""
    try:
        other = connect()
    except OSError:
        accepted.close()
        return
    back = threading.Thread(target=pump, args=(other, accepted), daemon=True)
    back.start()
    pump(accepted, other)
    back.join()
    accepted.close()
    other.close()


class Door:
    """A loopback TCP port in the test's namespace that forwards to a host's unix socket."""

    def __init__(self, unix_path: str) -> None:
        self.unix_path = unix_path
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=accept_forever, daemon=True,
                         args=(self._listener, lambda accepted: _bridge(accepted, self._connect))).start()

    def _connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        return s

    def close(self) -> None:
        self._listener.close()


def network_namespace(pid: int) -> int:
    """The inode naming process ``pid``'s network namespace."""
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def serving_pid(wrapper_pid: int, timeout: float = 10.0) -> int:
    """The ``lbmock serve`` process a namespaced host's wrapper started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{wrapper_pid}/task/{wrapper_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.02)
    raise RuntimeError(f"host wrapper {wrapper_pid} started no server")


def connects_from(pid: int, port: int) -> bool:
    """Whether 127.0.0.1:``port`` accepts a connection inside process ``pid``'s network namespace."""
    code = (f"import ctypes, os, socket\n"
            f"fd = os.open('/proc/{pid}/ns/net', os.O_RDONLY)\n"
            f"assert ctypes.CDLL(None, use_errno=True).setns(fd, {CLONE_NEWNET}) == 0, 'setns'\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    if "setns" in done.stderr:
        raise RuntimeError(f"cannot enter the network namespace of {pid}: {done.stderr[-300:]}")
    return done.returncode == 0


def _serve_in_namespace(unix_path: str, command: list[str]) -> int:
    """(The script half.)  Enter a new namespace, run ``command`` there, and forward ``unix_path``'s
    connections to 127.0.0.1:PORT until it exits; then remove the socket and exit as it did."""
    enter_new_network_namespace()
    server = subprocess.Popen(command)
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    signal.signal(signal.SIGINT, lambda *_: server.terminate())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(unix_path)
    listener.listen(256)

    threading.Thread(target=accept_forever, daemon=True, args=(listener, lambda accepted: _bridge(
        accepted, lambda: socket.create_connection(("127.0.0.1", PORT))))).start()
    code = server.wait()
    listener.close()
    with contextlib.suppress(OSError):
        os.unlink(unix_path)
    return code


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe"]:
        enter_new_network_namespace()
        with socket.create_server(("127.0.0.1", PORT)):  # loopback is up in there
            sys.exit(0)
    sys.exit(_serve_in_namespace(sys.argv[1], sys.argv[3:]))  # UNIX_PATH -- COMMAND...
