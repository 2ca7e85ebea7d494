"""The ``lbmock`` command: generate, validate, serve, oracle, capture."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import NoReturn

from lbmock.render.v2 import ExportParams
from lbmock.world_spec import add_world_arguments, world_spec_from_args


class Progress:
    """Rows-per-second progress on stderr, at most about once a second."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.enabled = total, enabled
        self.start = self.last = time.perf_counter()
        self.done = 0

    def tick(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if self.enabled and now - self.last >= 1.0:
            self.last = now
            print(f"lbmock: {self.done}/{self.total} rows, {self.done / (now - self.start):,.0f} rows/s",
                  file=sys.stderr, flush=True)

    def finish(self, what: str) -> None:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        print(f"lbmock: {what}: {self.done} rows in {elapsed:.2f} s, {self.done / elapsed:,.0f} rows/s",
              file=sys.stderr, flush=True)


def _counted(rows: Iterator, progress: Progress) -> Iterator:
    for row in rows:
        yield row
        progress.tick()


def cmd_generate(args: argparse.Namespace) -> int:
    from lbmock.export import ExportScope, LegacyWindow, legacy_array_chunks, v2_lines
    from lbmock.render.common import Urls
    from lbmock.strategies.served_world import resolve_world

    if args.catalog and args.format != "v2":
        print("lbmock generate: --catalog applies to --format v2 (export_labels is per project)", file=sys.stderr)
        return 2
    world = resolve_world(world_spec_from_args(args))
    params = ExportParams(**{name: name not in set(args.exclude) for name in ExportParams.names()})
    urls = Urls(api_base=args.base_url) if args.base_url else Urls()
    progress = Progress(args.rows, enabled=not args.quiet)
    rows = _counted(iter(world), progress)
    out = sys.stdout.buffer
    # The first project's export (every row is in it), or with --catalog a Catalog export with all_projects=True.
    scope = ExportScope() if args.catalog else None
    try:
        if args.format == "v2":
            for line in v2_lines(world, rows, params, urls, scope):
                out.write(line)
        else:
            for chunk in legacy_array_chunks(world.project, rows, LegacyWindow(), urls):
                out.write(chunk)
            out.write(b"\n")
        out.flush()
    except BrokenPipeError:  # `lbmock generate | head` is fine
        sys.stderr.close()
        return 0
    if not args.quiet:
        progress.finish(f"generated {args.format} export")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from lbmock.validate import validate_path

    return validate_path(args.file, out=sys.stdout, max_reports=args.max_errors, jobs=args.jobs)


def cmd_oracle(args: argparse.Namespace) -> int:
    from lbmock.oracle import UnknownDataRow, write_oracle
    from lbmock.strategies.served_world import resolve_world

    world = resolve_world(world_spec_from_args(args))
    try:
        files = write_oracle(world, args.data_row, args.out, label_id=args.label)
    except (UnknownDataRow, KeyError) as exc:
        print(f"lbmock oracle: {exc.args[0]}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lbmock oracle: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    s = files.summary
    print(f"lbmock oracle: {files.nifti} ({' x '.join(map(str, s['shape']))} voxels, {len(s['labels'])} "
          f"mask labels) and {files.sidecar} ({len(s['polylines'])} polylines)", file=sys.stderr)
    return 0


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} processes? give 1 or more, or 0 for one per core")
    return n or os.cpu_count() or 1


def _nifti_path(text: str) -> str:
    if not text.endswith((".nii.gz", ".nii")):
        raise argparse.ArgumentTypeError(f"{text!r}: the oracle writes NIfTI-1, name it *.nii.gz or *.nii")
    return text


def cmd_serve(args: argparse.Namespace) -> int:
    from lbmock.mockserver.cli import serve

    return serve(args)


def cmd_capture(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from lbmock.capture import CaptureError, CaptureOptions, capture

    key = args.api_key or os.environ.get("LABELBOX_API_KEY", "")
    try:
        if not key:
            raise CaptureError("no API key: give --api-key or set LABELBOX_API_KEY")
        if args.with_dicom and not args.sample:
            raise CaptureError("--with-dicom records the sampled rows' files: give --sample N as well")
        capture(CaptureOptions(api_key=key, project_id=args.project_id, out=Path(args.out),
                               endpoint=args.endpoint, rest_endpoint=args.rest_endpoint,
                               sample=args.sample, with_dicom=args.with_dicom))
    except CaptureError as exc:
        print(f"lbmock capture: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the output folder: full disk, no permission
        print(f"lbmock capture: cannot write {exc.filename or args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lbmock capture: interrupted", file=sys.stderr)
        return 130
    return 0


def _sample_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the number of rows to record, 1 or more")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in two lines: the mistake, then where the options are
    (``lbmock serve`` has some thirty; their usage block buried the one line that mattered)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n({self.prog} --help lists every option)\n")


def build_parser() -> argparse.ArgumentParser:
    from lbmock import __version__
    from lbmock.render.common import DEFAULT_API_BASE

    parser = _Parser(
        prog="lbmock", description="A faithful, offline Labelbox for code that consumes DICOM exports.",
        epilog="Start with `lbmock serve --rows 200`; `lbmock <command> --help` for each command's options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="stream a seeded world's export to stdout")
    add_world_arguments(gen)
    gen.add_argument("--format", choices=("v2", "legacy"), default="v2",
                     help="v2: export v2 NDJSON, one row a line; legacy: the export_labels JSON array "
                          "(default: %(default)s)")
    gen.add_argument("--exclude", action="append", default=[], choices=ExportParams.names(),
                     metavar="FIELD",
                     help=f"leave out a part of each row ({', '.join(ExportParams.names())}); repeatable "
                          "(default: every part included)")
    gen.add_argument("--catalog", action="store_true",
                     help="v2 as a Catalog export with all_projects=True: each row shows every project "
                          "it is in (default: the first project's export)")
    gen.add_argument("--base-url", default=None,
                     help=f"base of the mask and frames URLs in the rows (default: {DEFAULT_API_BASE})")
    gen.add_argument("--quiet", action="store_true",
                     help="print no progress on stderr (default: a rows/s line about once a second)")
    gen.set_defaults(func=cmd_generate)

    val = sub.add_parser("validate", help="check a v2 NDJSON or legacy JSON export file")
    val.add_argument("file", help="the export to check: a v2 NDJSON or legacy JSON file, or - for stdin")
    val.add_argument("--max-errors", type=int, default=200,
                     help="print at most this many problems; the summary still counts all (default: %(default)s)")
    val.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                     help="check NDJSON rows in N processes, 0 for one per core; the report is the same, in the "
                          "same order (default: %(default)s)")
    val.set_defaults(func=cmd_validate)

    orc = sub.add_parser("oracle", help="write a data row's expected label map (NIfTI-1 + JSON sidecar)",
                         description="Write the label map a correct converter produces for one data row of "
                                     "the world `lbmock serve` serves with the same options: NIfTI-1 on the "
                                     "DICOM volume's voxel grid (RAS affine) and a JSON sidecar next to it.")
    add_world_arguments(orc)
    orc.add_argument("--data-row", required=True, metavar="ID", help="the data row id (from the export)")
    orc.add_argument("--label", default=None, metavar="ID",
                     help="which label of the row, for rows labelled several times (default: the row's first label)")
    orc.add_argument("--out", required=True, type=_nifti_path, metavar="PATH.nii.gz",
                     help="NIfTI-1 output (.nii.gz or .nii); the sidecar is PATH.json beside it")
    orc.set_defaults(func=cmd_oracle)

    srv = sub.add_parser("serve", help="run the mock Labelbox server")
    from lbmock.mockserver.cli import add_serve_arguments

    add_serve_arguments(srv)
    srv.set_defaults(func=cmd_serve)

    cap = sub.add_parser("capture", help="write a world file (and a replay sample) from a real project",
                         description="Read a Labelbox project through the labelbox SDK, without changing it, "
                                     "and write a world file lbmock serves: its ontology (verbatim, in a JSON "
                                     "file beside it), quality mode, datasets, row counts and workflow-status "
                                     "counts. --sample N also records N export rows and their masks in "
                                     "replay/ beside it.")
    cap.add_argument("--api-key", default=None,
                     help="the Labelbox API key (default: $LABELBOX_API_KEY)")
    cap.add_argument("--project-id", required=True, metavar="ID", help="the project to capture")
    cap.add_argument("--endpoint", default=None, metavar="URL",
                     help="the GraphQL endpoint (default: https://api.labelbox.com/graphql)")
    cap.add_argument("--rest-endpoint", default=None, metavar="URL",
                     help="the REST endpoint, also where masks are fetched from (default: "
                          "https://api.labelbox.com/api/v1)")
    cap.add_argument("--out", required=True, metavar="FILE.toml",
                     help="the world file to write; the ontology JSON and replay/ go beside it")
    cap.add_argument("--sample", type=_sample_count, default=0, metavar="N",
                     help="also record the export's first N rows and the masks they link in replay/ beside "
                          "the world file; they can hold patient data (default: 0, none recorded)")
    cap.add_argument("--with-dicom", action="store_true",
                     help="with --sample: also record each sampled row's DICOM file (row_data) "
                          "(default: masks only)")
    cap.set_defaults(func=cmd_capture)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from lbmock.world_spec import SpecError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SpecError as exc:  # options each fine alone that do not go together
        print(f"lbmock {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
