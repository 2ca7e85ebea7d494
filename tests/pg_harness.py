"""A private PostgreSQL for the tests: Debian's server binaries, a data directory in a temp dir,
listening on loopback only (a free port; its unix socket in the temp dir too).

initdb refuses to run as root: as root (CI, this machine) the server runs as the ``postgres``
user that Debian's package creates (``runuser -u postgres``).  Where the binaries are missing,
PostgreSQL tests skip with the reason; under ``LBMOCK_REQUIRE_POSTGRES=1`` (``.ci/run`` sets
it) they fail instead, so CI can never go green by skipping them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid

from netns_harness import accept_forever, cut, pump

REQUIRE_ENV = "LBMOCK_REQUIRE_POSTGRES"
PASSWORD_ROLE = "lbmock_pw"  # the one role pg_hba.conf asks a password of (create it to use it)
BIN_ENV = "LBMOCK_PG_BIN"  # a folder holding initdb and pg_ctl


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def bin_dir() -> str | None:
    """The folder of initdb and pg_ctl: $LBMOCK_PG_BIN, Debian's newest, or PATH's."""
    candidates = [os.environ.get(BIN_ENV, "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    found = shutil.which("initdb")
    candidates.append(os.path.dirname(found) if found else "")
    for folder in candidates:
        if folder and all(os.access(os.path.join(folder, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def unavailable_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install '.[test]')"
    if bin_dir() is None:
        return f"no PostgreSQL server binaries (apt-get install postgresql, or set {BIN_ENV})"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresInstance:
    """One throw-away PostgreSQL server; :meth:`database` hands each test a fresh database."""

    def __init__(self) -> None:
        folder = bin_dir()
        assert folder is not None
        self._bin = folder
        # not under $TMPDIR (the tests' scratch dir is root's, mode 700): the server's user must enter it
        self.dir = tempfile.mkdtemp(prefix="lbmock-pg-", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            os.chown(self.dir, pwd.getpwnam("postgres").pw_uid, -1)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "lbmock", "-E", "UTF8", "--no-sync",
                  "--no-instructions")
        # one role that must give a password (the first matching line wins): a wrong one is refused
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba) as f:
            rules = f.read()
        with open(hba, "w") as f:
            f.write(f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n{rules}")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as, os.path.join(self._bin, tool), *args], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-t", "60",
                  "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        """Stop (fast: every connection is cut) and start again on the same port."""
        self.stop()
        self.start()

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://lbmock@127.0.0.1:{self.port}/{dbname}"

    def socket_url(self, url: str) -> str:
        """``url`` (one of :meth:`database`'s) through the server's unix socket instead of TCP."""
        return f"postgresql://lbmock@/{url.rsplit('/', 1)[1]}?host={self.dir}&port={self.port}"

    def database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(predicate, timeout: float = 30.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


class LostAcknowledgement:
    """A TCP proxy in front of PostgreSQL that can lose one commit's acknowledgement, the worst
    moment for a client: armed (:meth:`arm`), it forwards the server's replies up to the next
    CommandComplete ``COMMIT``, then cuts both connections without passing that reply on.  The
    server has committed; the client only sees its connection die.

    It reads the server's side as PostgreSQL's protocol messages (a type byte, a length), which
    every reply is once the connection starts: URLs through it disable SSL and GSS encryption,
    whose one-byte answers precede that framing (:meth:`url`)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cuts = 0  # acknowledgements lost so far
        self._armed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=accept_forever, args=(self._listener, self._proxy), daemon=True).start()

    def url(self, database_url: str) -> str:
        """``database_url`` (a :meth:`PostgresInstance.database`) through this proxy."""
        name = database_url.rsplit("/", 1)[1]
        return f"postgresql://lbmock@127.0.0.1:{self.port}/{name}?sslmode=disable&gssencmode=disable"

    def arm(self) -> None:
        self._armed.set()

    def close(self) -> None:
        self._listener.close()

    def _proxy(self, client: socket.socket) -> None:
        server = socket.create_connection(("127.0.0.1", self.target_port))
        threading.Thread(target=pump, args=(client, server), daemon=True).start()
        self._replies(server, client)

    def _replies(self, server: socket.socket, client: socket.socket) -> None:
        pending = b""
        try:
            while data := server.recv(65536):
                pending += data
                forward = b""
                while len(pending) >= 5:
                    size = struct.unpack("!I", pending[1:5])[0] + 1
                    if len(pending) < size:
                        break
                    message, pending = pending[:size], pending[size:]
                    if self._armed.is_set() and message[:1] == b"C" and message[5:].startswith(b"COMMIT\0"):
                        self._armed.clear()
                        self.cuts += 1
                        client.sendall(forward)
                        raise ConnectionAbortedError  # the reply is lost: both sides cut below
                    forward += message
                client.sendall(forward)
        except OSError:
            pass
        finally:
            cut(server, client)
            server.close()
            client.close()


