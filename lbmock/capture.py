"""``lbmock capture``: a real project's shape as a world file, and a few rows as a replay folder.

Reads the project through the ``labelbox`` SDK (imported lazily: lbmock does not depend on it) and
changes nothing: one ``get_project``, one ``ontology()``, one export task.  The export is streamed
row by row and only tallied (rows per dataset, rows per workflow status), so a project of any size
takes constant memory.  ``--sample N`` keeps the first N rows verbatim, with the mask PNGs they link
(and, with ``--with-dicom``, their DICOM files), in ``replay/`` beside the world file.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from lbmock.world_spec import WORLD_FILE_SCHEMA, SpecError, load_world_file

DEFAULT_ENDPOINT = "https://api.labelbox.com/graphql"  # labelbox.Client's defaults
DEFAULT_REST_ENDPOINT = "https://api.labelbox.com/api/v1"

# Export v2 workflow statuses -> the world file's [status_mix] keys.
STATUS_KEYS = {"TO_LABEL": "ToLabel", "IN_REVIEW": "InReview", "IN_REWORK": "InRework", "DONE": "Done"}

PHI_WARNING = ("exports and DICOM files can hold patient data (PHI): de-identify the replay folder before "
               "sharing it, and do not commit it")

# Ids and frame numbers become file names: anything else in a row is not trusted with a path.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class CaptureError(Exception):
    """A one-line reason the capture stopped (the command prints it and exits 2)."""


@dataclass(frozen=True)
class CaptureOptions:
    """What ``lbmock capture`` was asked for."""

    api_key: str
    project_id: str
    out: Path
    endpoint: str | None = None
    rest_endpoint: str | None = None
    sample: int = 0
    with_dicom: bool = False


@dataclass
class Tally:
    """What the streamed export adds up to; nothing of a row is kept."""

    rows: int = 0
    datasets: dict[str, list] = field(default_factory=dict)  # id -> [name, rows]
    statuses: collections.Counter = field(default_factory=collections.Counter)  # [status_mix] key -> rows
    other_statuses: collections.Counter = field(default_factory=collections.Counter)  # anything else

    def add(self, row: dict[str, Any], project_id: str) -> None:
        details = (row.get("data_row") or {}).get("details") or {}
        dataset_id, dataset_name = details.get("dataset_id"), details.get("dataset_name")
        if not dataset_id or not isinstance(dataset_name, str):
            row_id = (row.get("data_row") or {}).get("id")
            raise CaptureError(f"export row {self.rows + 1} ({row_id}) has no data_row.details.dataset_id/"
                               "dataset_name")
        self.rows += 1
        self.datasets.setdefault(dataset_id, [dataset_name, 0])[1] += 1
        project = (row.get("projects") or {}).get(project_id) or {}
        status = (project.get("project_details") or {}).get("workflow_status")
        if status in STATUS_KEYS:
            self.statuses[STATUS_KEYS[status]] += 1
        else:
            self.other_statuses[str(status)] += 1


@dataclass
class Captured:
    """The project as read: what the world file says."""

    project_id: str
    name: str
    quality: str
    ontology: Any  # project.ontology().normalized, as given (None: the project has none)
    tally: Tally
    endpoint: str
    sdk_version: str
    when: str  # UTC, ISO 8601


@dataclass
class SampleStats:
    rows: int = 0
    masks: int = 0
    dicom_files: int = 0
    bytes: int = 0
    failed: list[str] = field(default_factory=list)


class _Progress:
    """``rows read`` on stderr, at most about once a second."""

    def __init__(self, log: IO[str]) -> None:
        self.log, self.last, self.start = log, time.monotonic(), time.monotonic()

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            _say(self.log, f"{rows:,} rows read ({now - self.start:.0f} s)")


def _say(log: IO[str], message: str) -> None:
    print(f"lbmock capture: {message}", file=log, flush=True)


# ---------------------------------------------------------------- the SDK, lazily


def _sdk() -> tuple[Any, Any]:
    """``labelbox`` and its exceptions module (``lbox.exceptions`` from 5.x, ``labelbox.exceptions`` before)."""
    try:
        import labelbox
    except ImportError:
        raise CaptureError("the labelbox SDK is not installed: pip install labelbox") from None
    try:
        from lbox import exceptions
    except ImportError:
        from labelbox import exceptions  # type: ignore[no-redef]
    return labelbox, exceptions


@contextlib.contextmanager
def _sdk_errors(exceptions: Any, doing: str, options: CaptureOptions, endpoint: str) -> Iterator[None]:
    """The SDK's and the network's exceptions as one-line CaptureErrors."""
    import requests

    def named(name: str) -> type[BaseException]:
        return getattr(exceptions, name, type(f"_No{name}", (Exception,), {}))

    try:
        yield
    except named("AuthenticationError"):
        raise CaptureError(f"the API refused the key ({endpoint}): check --api-key or LABELBOX_API_KEY") from None
    except named("AuthorizationError") as exc:
        raise CaptureError(f"{doing}: the key is not allowed to ({exc})") from None
    except named("ResourceNotFoundError"):
        raise CaptureError(f"no project {options.project_id} at {endpoint} (or the key cannot see it)") from None
    except (named("NetworkError"), requests.RequestException) as exc:
        raise CaptureError(f"{doing}: cannot reach {endpoint}: {_first_line(exc)}") from None
    except named("LabelboxError") as exc:
        raise CaptureError(f"{doing}: Labelbox answered: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _quality(project: Any) -> str:
    """consensus, benchmark or none, from the fields the SDK exposes (7.x: is_*_enabled)."""
    if getattr(project, "is_benchmark_enabled", None):
        return "benchmark"
    if getattr(project, "is_consensus_enabled", None):
        return "consensus"
    if not hasattr(project, "is_consensus_enabled"):  # 3.x: consensus is more than one label a row
        return "consensus" if (getattr(project, "auto_audit_number_of_labels", None) or 1) > 1 else "none"
    return "none"


def export_params(sample: bool) -> dict[str, Any]:
    """Counts need only data-row and project details; sampled rows get every part a replay can serve
    (not embeddings: 512 numbers a row; not interpolated frames: they multiply the masks)."""
    return {"attachments": sample, "embeddings": False, "metadata_fields": sample, "data_row_details": True,
            "project_details": True, "label_details": sample, "performance_details": sample,
            "interpolated_frames": False}


# ---------------------------------------------------------------- the capture


def capture(options: CaptureOptions, log: IO[str] = sys.stderr) -> Captured:
    """Read the project, write the world file (and the ontology and replay folder beside it)."""
    labelbox, exceptions = _sdk()
    endpoint = options.endpoint or DEFAULT_ENDPOINT
    client_kwargs = {"api_key": options.api_key, "endpoint": endpoint,
                     "rest_endpoint": options.rest_endpoint or DEFAULT_REST_ENDPOINT}
    out = options.out
    if out.suffix != ".toml":
        raise CaptureError(f"--out {out}: a world file is TOML, name it *.toml")

    with _sdk_errors(exceptions, "reading the project", options, endpoint):
        client = labelbox.Client(**client_kwargs)
        project = client.get_project(options.project_id)
        name, quality = project.name, _quality(project)
    _say(log, f"project {options.project_id} ({name!r}, quality {quality}) at {endpoint}")
    with _sdk_errors(exceptions, "reading the project's ontology", options, endpoint):
        ontology = project.ontology()
        normalized = ontology.normalized if ontology is not None else None
    if normalized is None:
        _say(log, "the project has no ontology: the world file names none (lbmock draws one)")

    sample = max(options.sample, 0)
    if sample:
        _say(log, f"WARNING: {PHI_WARNING}")
    tally = Tally()
    stats = SampleStats()
    with _sdk_errors(exceptions, "exporting the project", options, endpoint):
        task = project.export(params=export_params(bool(sample)))
        _say(log, "export task created; waiting for it")
        task.wait_till_done()
        if task.has_errors():
            raise CaptureError(f"the export task reported errors: {_first_error(task)}")
        progress = _Progress(log)
        out.parent.mkdir(parents=True, exist_ok=True)
        with (_Sample(out.parent / "replay", options, client_kwargs, log) if sample else _nothing()) as recorder:
            for output in task.get_buffered_stream():
                row = output.json
                tally.add(row, options.project_id)
                if recorder is not None and tally.rows <= sample:
                    recorder.record(row)
                progress(tally.rows)
            stats = recorder.stats if recorder is not None else stats
    _say(log, f"{tally.rows:,} rows in {len(tally.datasets)} datasets; statuses "
              + (", ".join(f"{k} {v}" for k, v in sorted(tally.statuses.items())) or "none"))
    if tally.other_statuses:
        _say(log, "rows with another workflow status (not in the status mix): "
                  + ", ".join(f"{k} {v}" for k, v in sorted(tally.other_statuses.items())))

    captured = Captured(options.project_id, name, quality, normalized, tally, endpoint,
                        getattr(labelbox, "__version__", "?"),
                        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    write_world(captured, out)
    _say(log, f"wrote {out}" + (f" and {ontology_path(out).name}" if normalized is not None else ""))
    if sample:
        _say(log, f"replay folder {out.parent / 'replay'}: {stats.rows} rows, {stats.masks} masks"
                  + (f", {stats.dicom_files} DICOM files" if options.with_dicom else "")
                  + f" ({stats.bytes / 1e6:,.1f} MB)")
        for failure in stats.failed:
            _say(log, f"not fetched: {failure}")
    try:
        load_world_file(out)
    except SpecError as exc:
        raise CaptureError(f"wrote {out}, but lbmock cannot serve it: {exc}") from None
    return captured


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _first_error(task: Any) -> str:
    try:
        from labelbox.schema.export_task import StreamType

        for output in task.get_buffered_stream(stream_type=StreamType.ERRORS):
            return json.dumps(output.json)[:300]
    except Exception as exc:  # the reason is what matters; how the SDK failed to read it is not
        return _first_line(exc)
    return "(none listed)"


# ---------------------------------------------------------------- the replay folder


def mask_urls(row: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(feature id, frame, URL) of every mask a v2 DICOM row links (label groups -> frames -> objects)."""
    for project in (row.get("projects") or {}).values():
        for label in project.get("labels") or ():
            for group in ((label.get("annotations") or {}).get("groups") or {}).values():
                for frame, content in (group.get("frames") or {}).items():
                    for key, obj in ((content or {}).get("objects") or {}).items():
                        url = (obj.get("mask") or {}).get("url") if isinstance(obj, dict) else None
                        if url:
                            yield str(obj.get("feature_id") or key), str(frame), url


class _Sample:
    """Writes ``export.ndjson`` and fetches each recorded row's assets as it arrives (row_data URLs
    are signed and expire: they are fetched now, not after the whole export is read)."""

    def __init__(self, folder: Path, options: CaptureOptions, client_kwargs: dict[str, str], log: IO[str]) -> None:
        import requests

        self.folder, self.options, self.log = folder, options, log
        self.stats = SampleStats()
        self.session = requests.Session()
        # The key goes only to the hosts the user named (the API's); a row's URLs are data.
        self.key_hosts = {urlsplit(client_kwargs["endpoint"]).netloc, urlsplit(client_kwargs["rest_endpoint"]).netloc}
        self.seen: set[tuple[str, str]] = set()

    def __enter__(self) -> _Sample:
        (self.folder / "assets" / "masks").mkdir(parents=True, exist_ok=True)
        if self.options.with_dicom:
            (self.folder / "assets" / "row_data").mkdir(parents=True, exist_ok=True)
        self.partial = self.folder / "export.ndjson.part"
        self.lines = self.partial.open("w", encoding="utf-8")
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.lines.close()
        self.session.close()
        if kind is None:
            os.replace(self.partial, self.folder / "export.ndjson")
        else:
            self.partial.unlink(missing_ok=True)

    def record(self, row: dict[str, Any]) -> None:
        self.lines.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.stats.rows += 1
        for feature_id, frame, url in mask_urls(row):
            if (feature_id, frame) in self.seen:
                continue
            self.seen.add((feature_id, frame))
            if not (_SAFE_NAME.match(feature_id) and frame.isdigit()):
                self.stats.failed.append(f"mask {feature_id!r} frame {frame!r}: not a usable file name")
                continue
            if self._fetch(url, self.folder / "assets" / "masks" / feature_id / f"{frame}.png", f"mask {url}"):
                self.stats.masks += 1
        data_row = row.get("data_row") or {}
        row_id, row_data = str(data_row.get("id")), data_row.get("row_data")
        if self.options.with_dicom and isinstance(row_data, str):
            if not _SAFE_NAME.match(row_id):
                self.stats.failed.append(f"row_data of {row_id!r}: not a usable file name")
            elif self._fetch(row_data, self.folder / "assets" / "row_data" / f"{row_id}.dcm",
                             f"row_data of {row_id}"):
                self.stats.dicom_files += 1
        _say(self.log, f"recorded row {self.stats.rows}/{self.options.sample} ({row_id}): "
                       f"{self.stats.masks} masks, {self.stats.bytes / 1e6:,.1f} MB so far")

    def _fetch(self, url: str, dest: Path, what: str) -> bool:
        """Stream one asset to disk; a failure is reported, not fatal (the rest is still worth keeping)."""
        import requests

        headers = {"Authorization": f"Bearer {self.options.api_key}"} if urlsplit(url).netloc in self.key_hosts else {}
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        try:
            with self.session.get(url, headers=headers, stream=True, timeout=(15, 300)) as answer:
                if answer.status_code != 200:
                    self.stats.failed.append(f"{what}: HTTP {answer.status_code}")
                    return False
                with partial.open("wb") as fh:
                    for chunk in answer.iter_content(1 << 20):
                        fh.write(chunk)
                        self.stats.bytes += len(chunk)
            os.replace(partial, dest)
            return True
        except requests.RequestException as exc:
            partial.unlink(missing_ok=True)
            self.stats.failed.append(f"{what}: {_first_line(exc)}")
            return False


# ---------------------------------------------------------------- the world file


def ontology_path(out: Path) -> Path:
    """Where the ontology is written: beside the world file, named after it."""
    return out.with_name(f"{out.stem}-ontology.json")


def toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, except DEL, which TOML wants escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007F")


def _schema_reference() -> str | None:
    """The installed schema's path, for editors (``#:schema``); None when fixtures are missing."""
    try:
        from lbmock import fixtures_dir

        return str((fixtures_dir() / "schemas" / WORLD_FILE_SCHEMA).resolve())
    except FileNotFoundError:
        return None


def _version() -> str:
    from lbmock import __version__

    return __version__


def world_toml(captured: Captured, ontology_file: str | None, out_name: str = "world.toml") -> str:
    """The world file's text: top-level keys, then [[projects]], [[datasets]], [status_mix]."""
    tally = captured.tally
    lines = []
    schema = _schema_reference()
    if schema:
        lines.append(f"#:schema {schema}")
    lines += [
        f"# Captured by `lbmock capture` from project {json.dumps(captured.name, ensure_ascii=False)} "
        f"({captured.project_id})",
        f"# at {captured.endpoint} on {captured.when} (labelbox SDK {captured.sdk_version}, lbmock {_version()}).",
        "# The project's shape, not its data: its ontology, quality mode, datasets and counts.  Serve it with",
        f"#     lbmock serve --world {out_name}",
        "# What it leaves open (labels, volumes, people, dates) is drawn from the seed.",
        "",
        "seed = 0",
        f"rows = {tally.rows}",
        "",
        "[[projects]]",
        f"id = {toml_string(captured.project_id)}",
        f"name = {toml_string(captured.name)}",
        f"quality = {toml_string(captured.quality)}",
    ]
    if ontology_file is not None:
        lines.append(f"ontology = {toml_string(ontology_file)}   # project.ontology().normalized, verbatim")
    if tally.datasets:
        lines += ["", "# The project's rows, by dataset (served with exactly these counts)."]
        names = collections.Counter(name for name, _rows in tally.datasets.values())
        # By name, so two captures of one project read the same whatever order the export streamed.
        for dataset_id, (name, rows) in sorted(tally.datasets.items(), key=lambda item: (item[1][0], item[0])):
            if names[name] > 1:  # a world's dataset names must differ; the id tells them apart
                name = f"{name} ({dataset_id})"
            lines += ["[[datasets]]", f"id = {toml_string(dataset_id)}", f"name = {toml_string(name)}",
                      f"rows = {rows}", ""]
        lines.pop()
    if sum(tally.statuses.values()):
        lines += ["", "# Rows per workflow status (served with exactly these counts)."]
        if tally.other_statuses:
            lines.append("# Rows with another status, not served: "
                         + ", ".join(f"{k} {v}" for k, v in sorted(tally.other_statuses.items())))
        lines.append("[status_mix]")
        lines += [f"{key} = {tally.statuses.get(key, 0)}" for key in STATUS_KEYS.values()]
    return "\n".join(lines) + "\n"


def write_world(captured: Captured, out: Path) -> None:
    """The ontology JSON (verbatim, as the SDK gave it) and the world file, each replaced whole."""
    ontology_file = None
    if captured.ontology is not None:
        where = ontology_path(out)
        _replace_text(where, json.dumps(captured.ontology, indent=2, ensure_ascii=False) + "\n")
        ontology_file = where.name
    _replace_text(out, world_toml(captured, ontology_file, out.name))


def _replace_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".part")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CaptureError(f"cannot write {path}: {exc.strerror}") from None
