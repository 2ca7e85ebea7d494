"""``lbmock serve``: run the mock Labelbox on loopback."""

from __future__ import annotations

import argparse
import contextlib
import sys

from mockserver.faults import FAULTS, FaultError


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port; 0 picks a free one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--project-id", default=None, help="serve the world under this project id")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    parser.add_argument("--task-delay", type=float, default=0.0,
                        help="seconds an export task stays IN_PROGRESS (default 0: complete at the first poll)")
    parser.add_argument("--legacy-polls", type=int, default=1,
                        help="exportLabels answers shouldPoll this many times before the download URL")
    parser.add_argument("--file-bytes", type=int, default=None,
                        help="target size of one export file; larger exports span several files")
    parser.add_argument("--timezone", default="UTC", help="the user's timezone (export date filters use it)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[:ARG[:TIMES]]",
                        help="inject a fault (repeatable): " + ", ".join(FAULTS))
    parser.add_argument("--no-admin", action="store_true", help="disable the /_mock/ control API (health stays)")


def serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from mockserver.app import create_app
    from mockserver.models import DEFAULT_FILE_BYTES

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"lbmock: WARNING: binding {args.host} exposes the mock beyond this machine", file=sys.stderr)
    app = create_app(seed=args.seed, rows=args.rows, project_id=args.project_id, api_key=args.api_key,
                     task_delay=args.task_delay, legacy_polls=args.legacy_polls,
                     file_bytes=args.file_bytes or DEFAULT_FILE_BYTES, user_timezone=args.timezone,
                     admin=not args.no_admin)
    for spec in args.fault:
        try:
            app.extensions["lbmock"].faults.add_spec(spec)
        except FaultError as exc:
            print(f"lbmock: --fault {spec}: {exc}", file=sys.stderr)
            return 2
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        print(f"lbmock: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    host = f"[{args.host}]" if ":" in args.host else args.host
    base = f"http://{host}:{server.server_port}"
    backend = app.extensions["lbmock"]
    key = args.api_key or "any-non-empty-key"
    print(f"lbmock: serving seed {args.seed}, {len(backend.world)} rows at {base}", flush=True)
    print(f"lbmock: project id {backend.world.project.id}", flush=True)
    print(f'lbmock: client = labelbox.Client(api_key="{key}", endpoint="{base}/graphql", '
          f'rest_endpoint="{base}/api/v1")', flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0
