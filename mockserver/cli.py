"""``lbmock serve``: run the mock Labelbox on loopback (one process, or gunicorn workers)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile

from lbmock.mockserver.backend.faults import FAULTS, FaultError
from lbmock.mockserver.backend.state_manager import (
    EXPORT_TASK,
    LEGACY_EXPORT,
    Transition,
    TransitionError,
    parse_transition_option,
)
from lbmock.mockserver.config import DEFAULT_FILE_BYTES, ServerConfig
from lbmock.mockserver.http.server import MAX_CONNECTIONS
from lbmock.world import World
from lbmock.world_spec import add_world_arguments, world_spec_from_args


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="bind address; anything but loopback prints a warning (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8080, help="TCP port; 0 picks a free one (default: %(default)s)")
    add_world_arguments(parser)
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    parser.add_argument("--transition", action="append", default=[], type=_transition,
                        metavar="MODEL=PROGRESSION",
                        help="how export-task / legacy-export progress, repeatable: immediate, manual:N "
                             "(N status reads first), time:SECONDS or never "
                             "(default: export-task=immediate, legacy-export=manual:1)")
    parser.add_argument("--task-delay", type=float, default=0.0, metavar="SECONDS",
                        help="seconds an export task stays IN_PROGRESS; 0 completes it at the first poll; "
                             "the same as --transition export-task=time:SECONDS (default: %(default)s)")
    parser.add_argument("--legacy-polls", type=int, default=1, metavar="N",
                        help="exportLabels answers shouldPoll this many times before the download URL; "
                             "the same as --transition legacy-export=manual:N (default: %(default)s)")
    parser.add_argument("--file-bytes", type=_positive("--file-bytes"), default=DEFAULT_FILE_BYTES, metavar="BYTES",
                        help="target size of one export file; bigger exports span several files "
                             "(default: %(default)s)")
    for holder, default in (("project", 10), ("organization", 20)):  # Labelbox's limits page
        parser.add_argument(f"--running-exports-per-{holder}", type=int, default=default, metavar="N",
                            help=f"running export tasks a {holder} may hold before the next export is refused "
                                 "with OPERATION_NOT_ALLOWED, as Labelbox's limits page says (default: %(default)s)")
    parser.add_argument("--timezone", default="UTC", type=_timezone,
                        help="the user's timezone, in which export date filters are evaluated (default: %(default)s)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[:ARG[:TIMES]]",
                        help="inject a fault, repeatable: " + ", ".join(f.value for f in FAULTS) + " (default: none)")
    parser.add_argument("--no-admin", action="store_true",
                        help="remove the /_mock/ control API; health stays (default: admin API on)")
    parser.add_argument("--workers", type=_positive("--workers"), default=1,
                        help="gunicorn worker processes sharing one state (default: %(default)s, no gunicorn)")
    parser.add_argument("--state", default=None, metavar="FILE_OR_URL", type=_path("--state"),
                        help="SQLite file of the shared state, or a postgresql:// URL shared by many hosts "
                             "(default: private in memory; a temp file with --workers)")
    parser.add_argument("--signing-key", default=None, metavar="HEX", type=_signing_key,
                        help=f"hex key signing file URLs, at least {MIN_SIGNING_KEY} bytes; set it to share URLs "
                             "across hosts "
                             "(default: random, kept in the --state file)")
    parser.add_argument("--render-processes", type=int, default=None, metavar="N",
                        help="helper processes rendering the exports of worlds of 5,000 rows or more, in row "
                             "order; 0 renders in the server process (default: one per core, up to 4; none "
                             "on one core or with --workers)")
    parser.add_argument("--template-cache", default=None, metavar="DIR", type=_path("--template-cache"),
                        help="directory keeping rendered export rows across server runs, shared by every server "
                             "using it (`none`: kept with this server only) (default: $LBMOCK_CACHE_DIR/templates, "
                             "else ~/.cache/lbmock/templates)")
    parser.add_argument("--public-url", default=None, type=_public_url,
                        help="base URL put in served links; its host is answered (default: the URL each request "
                             "arrived at)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="HOST", type=_host_name,
                        help="another Host name the admin API and dashboard answer (on a loopback bind the "
                             "emulated API too), repeatable (default: loopback names, the bind address and "
                             "--public-url's host)")
    parser.add_argument("--admin-token", default=None, metavar="TOKEN", type=_admin_token,
                        help="every /_mock/ route asks for this token (header X-Lbmock-Admin-Token or "
                             "'Authorization: Bearer'); the banner prints a one-time dashboard link "
                             "(default: none, no token asked)")
    parser.add_argument("--max-connections", type=_positive("--max-connections"), default=MAX_CONNECTIONS,
                        metavar="N", help="connections served at once (per worker); one more is answered 503 with "
                                          "Retry-After: 1 and closed (default: %(default)s)")


MIN_SIGNING_KEY = 16  # bytes: fewer would let anyone forge file URLs by trying keys
MIN_ADMIN_TOKEN = 8  # characters


def _port(text: str) -> int:
    port = _whole_number("--port", text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 0 to 65535, not {port}")
    return port


def _whole_number(flag: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{flag} takes a whole number, not {text!r}") from None


def _positive(flag: str):
    def parse(text: str) -> int:
        value = _whole_number(flag, text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be 1 or more, not {value}")
        return value

    parse.__name__ = flag
    return parse


def _path(flag: str):
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{flag} needs a path, not an empty string")
        return text

    parse.__name__ = flag
    return parse


def _timezone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if text != "UTC":
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise argparse.ArgumentTypeError(f"unknown timezone {text!r} (an IANA name: UTC, Europe/Paris, "
                                             f"America/New_York ...)") from None
    return text


def _signing_key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("--signing-key must be hex") from None
    if len(key) < MIN_SIGNING_KEY:
        raise argparse.ArgumentTypeError(f"--signing-key must hold at least {MIN_SIGNING_KEY} bytes "
                                         f"({2 * MIN_SIGNING_KEY} hex digits), not {len(key)}")
    return key


def _admin_token(text: str) -> str:
    if len(text) < MIN_ADMIN_TOKEN or not text.isprintable() or text != text.strip():
        raise argparse.ArgumentTypeError(f"--admin-token must be at least {MIN_ADMIN_TOKEN} printable characters, "
                                         f"without leading or trailing spaces")
    return text


def _host_name(text: str) -> str:
    from lbmock.mockserver.guard import host_name

    name = host_name(text)
    if name is None:
        raise argparse.ArgumentTypeError(f"--allow-host takes a host name or address, not {text!r}")
    return name


def _public_url(text: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"--public-url must be an http(s) URL with a host, not {text!r}")
    return text


def _transition(text: str) -> tuple[str, Transition]:
    try:
        return parse_transition_option(text)
    except TransitionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _transitions(args: argparse.Namespace) -> dict[str, Transition]:
    """--task-delay and --legacy-polls are spellings of --transition (which wins when both are given)."""
    chosen: dict[str, Transition] = {}
    if args.task_delay:
        chosen[EXPORT_TASK] = Transition.after(args.task_delay)
    if args.legacy_polls is not None:  # default 1: the built-in legacy-export transition
        chosen[LEGACY_EXPORT] = Transition.manual(args.legacy_polls)
    chosen.update(args.transition)
    return chosen


def _server_config(args: argparse.Namespace, signing_key: bytes | None, state: str | None,
                   spool: str | None = None) -> ServerConfig:
    from lbmock.mockserver.exports.render_workers import default_processes

    return ServerConfig(api_key=args.api_key, transitions=_transitions(args), spool_dir=spool,
                        file_bytes=args.file_bytes, user_timezone=args.timezone,
                        admin=not args.no_admin, signing_key=signing_key, state_path=state,
                        public_url=args.public_url, announce_unmatched=True,
                        render_processes=max(0, args.render_processes) if args.render_processes is not None
                        else default_processes() if args.workers == 1 else 0,
                        template_cache=_template_cache(args.template_cache), bind_host=args.host,
                        allow_hosts=tuple(args.allow_host), admin_token=args.admin_token,
                        running_exports_per_project=max(0, args.running_exports_per_project),
                        running_exports_per_organization=max(0, args.running_exports_per_organization))


def _template_cache(option: str | None) -> str | None:
    from lbmock.mockserver.exports.templates import default_cache_dir

    if option is None:
        return str(default_cache_dir())
    return None if option.lower() == "none" else option


def _banner(args: argparse.Namespace, base: str, world: World, rows: int, login_code: str | None = None,
            loaded: bool = False) -> None:
    """What is served, as served: after ``POST /_mock/world`` a restart on the same ``--state``
    serves the loaded world, and says so (``world`` is the one served, not the command line's)."""
    from lbmock.mockserver.dashboard import PREFIX as DASHBOARD
    from lbmock.mockserver.guard import LOGIN_PATH
    from lbmock.mockserver.handlers.landing import client_line
    from lbmock.replay import ReplayRows

    workers = f", {args.workers} workers" if args.workers > 1 else ""
    source = f"world file {args.world_file}, " if getattr(args, "world_file", None) and not loaded else ""
    if isinstance(world.rows, ReplayRows):  # the rows are the files' (the seed draws only what they lack)
        source += f"replay of {', '.join(os.path.basename(f.path) for f in world.rows.index.files)}, "
    print(f"lbmock: serving {source}seed {world.seed}, {rows} rows at {base}{workers}", flush=True)
    if loaded:
        print(f"lbmock: the world loaded by POST /_mock/world, kept in {args.state} (not the command line's; "
              f"POST /_mock/reset goes back to it)", flush=True)
    print(f"lbmock: project id {world.project.id}", flush=True)
    if len(world.projects) > 1:
        print(f"lbmock: more projects {' '.join(p.id for p in world.projects[1:])} (sharing the datasets)",
              flush=True)
    # what client.get_dataset(...) and client.get_catalog_slice(...) take
    print(f"lbmock: datasets {', '.join(f'{d.id} ({d.name})' for d in world.datasets)}", flush=True)
    print(f"lbmock: slices {', '.join(f'{s.id} ({s.name})' for s in world.slices)}", flush=True)
    variants = sorted(getattr(world.rows, "dicom_variants", ()) or ())
    if variants:
        print(f"lbmock: DICOM variants {', '.join(variants)}", flush=True)
    if world.quality.value != "none":
        print(f"lbmock: quality {world.quality.value}: some rows are labelled several times, with scores", flush=True)
    print(f"lbmock: client = {client_line(base, args.api_key is not None)}", flush=True)
    if not args.no_admin:
        if login_code is None:
            print(f"lbmock: dashboard {base}{DASHBOARD}/", flush=True)
        else:  # --admin-token: a link that sets the dashboard's cookie once (then the token's form)
            print(f"lbmock: dashboard {base}{LOGIN_PATH}?code={login_code} (one-time link; later: the admin token "
                  f"at {base}{LOGIN_PATH})", flush=True)
    cache = _template_cache(args.template_cache)
    if cache is not None:  # files written outside the server's own temp dir: say where
        print(f"lbmock: export templates kept in {cache} (--template-cache none: with this server only)",
              flush=True)


def serve(args: argparse.Namespace) -> int:
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"lbmock: WARNING: binding {args.host} exposes the mock beyond this machine", file=sys.stderr)
    signing_key = args.signing_key  # None: the state's
    try:
        _transitions(args)
    except TransitionError as exc:
        print(f"lbmock: {exc}", file=sys.stderr)
        return 2
    for spec in args.fault:  # validate before starting anything
        try:
            from lbmock.mockserver.backend.faults import FaultBook

            FaultBook().add_spec(spec)
        except FaultError as exc:
            print(f"lbmock: --fault {spec}: {exc}", file=sys.stderr)
            return 2
    if args.dicom_dir:  # a usable folder (checked with the option): say which files it cannot serve
        from lbmock.dicom.user_files import report_scan, scan_dicom_dir

        report_scan(scan_dicom_dir(args.dicom_dir), "lbmock")
    replayed = None
    if world_spec_from_args(args).replay:
        # the files are read now, once: a line that is not an export v2 row is one message and exit 2,
        # and the world built from them is the one served (a 100,000-row file takes seconds to read)
        from lbmock.replay import ReplayError
        from lbmock.strategies.served_world import resolve_world

        try:
            replayed = resolve_world(world_spec_from_args(args))
        except ReplayError as exc:
            print(f"lbmock: --replay {exc}", file=sys.stderr)
            return 2
    if args.state and not _resume(args):
        return 2
    listener = _listen(args.host, args.port)
    if listener is None:
        return 2
    if args.workers > 1:
        return _serve_workers(args, signing_key, listener, replayed)
    return _serve_single(args, signing_key, listener, replayed)


def _resume(args: argparse.Namespace) -> bool:
    """A ``--state`` file is the mock's memory: restarting on it resumes tasks, faults, transitions,
    the journal and the signing key instead of starting afresh.  False (after saying why) if it was
    written for another world, whose tasks this one could not serve."""
    import sqlite3

    import orjson

    from lbmock.mockserver.backend.state import is_database_url, open_state
    from lbmock.mockserver.errors import StateUnavailable

    spec = orjson.dumps(world_spec_from_args(args).to_json(), option=orjson.OPT_SORT_KEYS)
    try:
        state = open_state(args.state)
        resumed = state.has_setting("served_world")
        stored = state.setting("served_world", spec)
    except sqlite3.Error as exc:  # a missing folder, a file that is not lbmock's state ...
        print(f"lbmock: --state {args.state}: cannot use it as the state file: {exc}", file=sys.stderr)
        return False
    except StateUnavailable as exc:  # a database that does not answer, or refuses us
        print(f"lbmock: --state: {exc}", file=sys.stderr)
        return False
    except ImportError:
        print("lbmock: --state postgresql://... needs psycopg: pip install 'lbmock[postgres]'", file=sys.stderr)
        return False
    shown = _without_password(args.state) if is_database_url(args.state) else args.state
    if stored != spec:
        print(f"lbmock: --state {shown} holds the state of another world ({stored.decode()}); "
              f"serve it with those options, or use another file", file=sys.stderr)
        return False
    if resumed:
        held = state.summary()
        print(f"lbmock: resuming {shown}: {held['tasks']} export tasks, {held['journal']} journal entries, "
              f"faults {', '.join(held['faults']) or 'none'}", flush=True)
        if args.fault:  # a restart must not re-arm faults the state has used up
            print(f"lbmock: --fault ignored: resuming {shown} keeps the faults it holds "
                  f"(set or clear them at /_mock/faults)", file=sys.stderr)
            args.fault = []
    return True


def _without_password(url: str) -> str:
    """A database URL fit for a banner: its password replaced with ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _listen(host: str, port: int) -> socket.socket | None:
    """The listening socket, bound here so a busy port is one clear message (gunicorn would retry)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        print(f"lbmock: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return None


def _serve_single(args: argparse.Namespace, signing_key: bytes | None, listener: socket.socket,
                  world: World | None = None) -> int:
    """One process, lbmock's own threaded HTTP/1.1 server (keep-alive, files sent with sendfile).
    ``world``: the world of the options, built already (replay files read by :func:`serve`)."""
    from lbmock.mockserver.app import create_app
    from lbmock.mockserver.http.server import WSGIServer

    app = create_app(world if world is not None else world_spec_from_args(args),
                     _server_config(args, signing_key, args.state))
    for spec in args.fault:
        app.extensions["lbmock"].faults.add_spec(spec)
    server = WSGIServer(app, listener, max_connections=args.max_connections)
    host = f"[{args.host}]" if ":" in args.host else args.host
    backend = app.extensions["lbmock"]
    backend.sync()  # a restart on --state serves the world it holds
    code = backend.issue_login_code() if args.admin_token and not args.no_admin else None
    _banner(args, f"http://{host}:{server.server_port}", backend.world, len(backend.world), code,
            loaded=backend.base_world is not backend.origin_world)
    # SIGTERM stops the server as Ctrl-C does, so exit handlers still run: the private spool
    # (export streams and templates, hundreds of MB for a big world) is removed
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    finally:
        _ignore_signals()
        backend.close()
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    _ignore_signals()  # a second SIGTERM or Ctrl-C must not cut the clean-up short (a traceback, a spool left)
    raise KeyboardInterrupt


def _ignore_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _serve_workers(args: argparse.Namespace, signing_key: bytes | None, listener: socket.socket,
                   world: World | None = None) -> int:
    """gunicorn workers, one state file: any worker answers any step of any task.  Each worker
    serves with lbmock's HTTP server (keep-alive, files sent with sendfile) on the shared socket.
    ``world``: the world of the options, built already; the workers (forks) serve it as it is."""
    from gunicorn.app.base import BaseApplication
    from gunicorn.workers.base import Worker

    class ThreadedWorker(Worker):
        """lbmock's server (``mockserver/http/server.py``) in a gunicorn worker: its threads take
        turns accepting on the listening socket the workers share.  A thread beats the heart
        gunicorn's arbiter watches, and stops the server when the worker is told to stop."""

        def run(self) -> None:
            import threading
            import time

            from lbmock.mockserver.http.server import WSGIServer

            server = WSGIServer(self.wsgi, self.sockets[0].sock, owns_socket=False,
                                max_connections=args.max_connections)

            def heartbeat() -> None:
                while self.alive and self.ppid == os.getppid():
                    self.notify()
                    time.sleep(0.2)
                server.shutdown()

            threading.Thread(target=heartbeat, name="lbmock-heartbeat", daemon=True).start()
            try:
                server.serve_forever()
            finally:
                self.wsgi.extensions["lbmock"].close()  # this worker's render helpers

    from lbmock.mockserver.backend.backend import issue_login_code
    from lbmock.mockserver.backend.faults import FaultBook
    from lbmock.mockserver.backend.state import is_database_url, open_state
    from lbmock.strategies.served_world import resolve_world

    # A private folder, removed on any exit (below): the state file when none is given; with a
    # database, the spool this host's workers share (any host renders the same bytes).
    private = tempfile.mkdtemp(prefix="lbmock-") if not args.state or is_database_url(args.state) else None
    state = args.state or os.path.join(private, "state.sqlite")
    spool = os.path.join(private, "spool") if private is not None and is_database_url(state) else None
    spec, config = world_spec_from_args(args), _server_config(args, signing_key, state, spool)
    from lbmock.world_spec import WorldSpec

    shared = open_state(state)
    loaded, _version = shared.world()  # a restart after POST /_mock/world serves that world
    served = WorldSpec.from_json(loaded) if loaded is not None else spec
    # the banner's ids, cheaply (no rows), or the world built already
    shown = world if world is not None and loaded is None else resolve_world(served.replace(rows=0))
    code = issue_login_code(shared) if args.admin_token and not args.no_admin else None

    class MockApplication(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"fd://{listener.fileno()}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("worker_class", ThreadedWorker)
            self.cfg.set("timeout", 300)
            self.cfg.set("accesslog", None)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 27: no ~/.gunicorn socket
                self.cfg.set("control_socket_disable", True)
            self.cfg.set("when_ready", self.when_ready)

        @staticmethod
        def when_ready(server) -> None:
            host, port = server.LISTENERS[0].sock.getsockname()[:2]
            host_shown = f"[{host}]" if ":" in host else host
            _banner(args, f"http://{host_shown}:{port}", shown, len(shown) if served.replay else served.rows, code,
                    loaded=loaded is not None)

        def load(self):
            from lbmock.mockserver.app import create_app

            return create_app(world if world is not None else spec, config)

    # Faults given on the command line go into the shared state once, before workers start.
    book = FaultBook(shared)
    for fault in args.fault:
        book.add_spec(fault)
    arbiter = os.getpid()
    try:
        MockApplication().run()
    finally:  # (gunicorn's forked workers leave through here too: only the arbiter cleans up)
        if private is not None and os.getpid() == arbiter:
            _ignore_signals()
            shutil.rmtree(private, ignore_errors=True)
    return 0
