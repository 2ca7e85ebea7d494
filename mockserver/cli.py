"""``lbmock serve``: run the mock Labelbox on loopback."""

from __future__ import annotations

import argparse
import sys


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--project-id", default=None, help="serve the world under this project id")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    parser.add_argument("--task-delay", type=float, default=0.0,
                        help="seconds an export task stays IN_PROGRESS (default 0: done at first poll)")


def serve(args: argparse.Namespace) -> int:
    try:
        from mockserver.app import create_app
    except ImportError as exc:  # pragma: no cover - the server lands with issue 3
        print(f"lbmock serve is not available in this build: {exc}", file=sys.stderr)
        return 2
    app = create_app(seed=args.seed, rows=args.rows, project_id=args.project_id, api_key=args.api_key)
    app.run(host=args.host, port=args.port, threaded=True)
    return 0
