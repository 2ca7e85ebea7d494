"""A small Labelbox client that speaks the wire protocol exactly as the SDK does.

The GraphQL documents and variable shapes are the ones labelbox 7.17.0 sends
(3.72.2 for the two flows 7.17 removed: ``exportFileFromLine`` and the legacy
``exportLabels``), as read off the released SDK packages (``tests/compat``
runs those releases against the mock and checks them).  Only
``requests`` is used: the labelbox SDK is not a dependency.

Every function takes a :class:`contract_tests.plugin.Target`.  When
``target.record_dir`` is set (``--lb-record DIR``), the JSON payloads received
are saved under DIR with secrets stripped (see :func:`scrub`):

* ``DIR/v2/<name>.ndjson``: export v2 rows (``lbmock validate`` checks them),
* ``DIR/legacy/<name>.json``: a legacy ``export_labels`` array (same),
* ``DIR/frames/<label>-<plane>.ndjson``: legacy per-frame records (same),
* ``DIR/graphql/<pid>-<n>-<operation>.json``: each raw GraphQL response.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

SDK_VERSION = "7.17.0"
LEGACY_SDK_VERSION = "3.72.2"  # exportLabels and exportFileFromLine: gone from 7.17
REQUEST_TIMEOUT = 60.0  # the SDK's per-request timeout
FILE_TIMEOUT = 30.0  # the SDK's export file download timeout
MOCK_POLL_INTERVAL = 0.25
LIVE_POLL_INTERVAL = 2.0  # the SDK's wait_till_done and export_labels sleep
TASK_STATUSES = frozenset({"IN_PROGRESS", "COMPLETE", "FAILED"})

# ---------------------------------------------------------------- documents (verbatim from the capture)

GET_PROJECT = ("query GetProjectPyApi($param_0: ID!){project(where: {id: $param_0}){autoAuditNumberOfLabels "
               "autoAuditPercentage createdAt dataRowCount description editorTaskType isBenchmarkEnabled "
               "isConsensusEnabled lastActivityTime allowedMediaType modelSetupComplete name setupComplete id "
               "updatedAt uploadType}}")
GET_USER = ("query GetUserPyApi{user{createdAt email isExternalUser isViewer lastLoginAt nickname name picture id "
            "updatedAt}}")
CURRENT_USER = "query CurrentUserPyApi { user { timezone } }"
EXPORT = ("mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!)"
          "{exportDataRowsInProject(input: $input){taskId isStreamable}}")
CREATED_TASKS = ("query GetUserCreatedTasksPyApi($param_0: ID!, $param_1: ID!){user(where: {id: $param_1})"
                 "{createdTasks(where: {id: $param_0} skip: 0 first: 100){completionPercentage createdAt errors "
                 "metadata name result status status type id updatedAt}}}")
HEADER = ("query GetExportMetadataHeaderPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!)"
          "{task(where: $where){exportMetadataHeader(streamType: $streamType){totalSize totalLines}}}")
FROM_OFFSET = ("query GetExportFileFromOffsetPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!, "
               "$offset: UInt64!){task(where: $where){exportFileFromOffset(streamType: $streamType, "
               "offset: $offset){offsets {start end} lines {start end} file}}}")
FROM_LINE = ("query GetExportFileFromLinePyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!, "
             "$line: UInt64!){task(where: $where){exportFileFromLine(streamType: $streamType, line: $line)"
             "{offsets {start end} lines {start end} file}}}")
LEGACY_EXPORT = ("mutation GetLabelExportUrlPyApi($projectId: ID!)\n            {exportLabels(data:{projectId: "
                 "$projectId%s}) {downloadUrl createdAt shouldPoll} }\n        ")

# SDK param name -> GraphQL flag, in the order 7.17 sends them.
PARAM_FLAGS: dict[str, str] = {
    "attachments": "includeAttachments",
    "embeddings": "includeEmbeddings",
    "metadata_fields": "includeMetadata",
    "data_row_details": "includeDataRowDetails",
    "project_details": "includeProjectDetails",
    "performance_details": "includePerformanceDetails",
    "label_details": "includeLabelDetails",
    "interpolated_frames": "includeInterpolatedFrames",
}
WORKFLOW_STATUSES = ("ToLabel", "InReview", "InRework", "Done")


class GraphQLFailure(Exception):
    """A GraphQL call answered with errors or a non-200 status."""

    def __init__(self, operation: str | None, status: int, body: Any) -> None:
        self.operation, self.status, self.body = operation, status, body
        errors = body.get("errors") if isinstance(body, dict) else None
        self.errors: list = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        self.codes = [(e.get("extensions") or {}).get("code") for e in self.errors]
        messages = "; ".join(f"{c}: {e.get('message')}" for c, e in zip(self.codes, self.errors, strict=True))
        super().__init__(f"{operation or 'GraphQL'} failed with HTTP {status}: {messages or str(body)[:300]}")


class ContractViolation(AssertionError):
    """The server broke a rule of the wire protocol the SDK depends on."""


def poll_interval(target: Any) -> float:
    """0.25 s for mock targets; --lb-poll-interval (default 2 s, the SDK's) for live."""
    if target.kind != "live":
        return MOCK_POLL_INTERVAL
    configured = getattr(target, "poll_interval", None)
    return LIVE_POLL_INTERVAL if configured is None else float(configured)


def _headers(target: Any, sdk: str = SDK_VERSION, api_key: str | None = None) -> dict[str, str]:
    py = platform.python_version_tuple()
    return {"Authorization": f"Bearer {target.api_key if api_key is None else api_key}",
            "Accept": "application/json", "Content-Type": "application/json",
            "X-User-Agent": f"python-sdk {sdk}",
            "X-Python-Version": f"{py[0]}.{py[1]}.{py[2]}-final"}


def _operation(query: str) -> str | None:
    match = re.search(r"\b(?:query|mutation)\s+([A-Za-z_][A-Za-z0-9_]*)", query)
    return match.group(1) if match else None


# ---------------------------------------------------------------- GraphQL


def graphql_raw(target: Any, query: str, variables: Any = None, *, headers: Mapping[str, str] | None = None,
                sdk: str = SDK_VERSION) -> tuple[int, Any]:
    """POST one document exactly as the SDK does; ``(status, parsed JSON body or text)``, nothing raised."""
    body = json.dumps({"query": query, "variables": variables}).encode("utf-8")
    resp = requests.post(target.graphql_url, data=body, timeout=REQUEST_TIMEOUT,
                         headers=dict(headers) if headers is not None else _headers(target, sdk))
    try:
        parsed: Any = resp.json()
    except ValueError:
        parsed = resp.text
    _record_graphql(target, _operation(query), variables, resp.status_code, parsed)
    return resp.status_code, parsed


def graphql(target: Any, query: str, variables: Any = None, *, sdk: str = SDK_VERSION) -> dict:
    """``data`` of one call; :class:`GraphQLFailure` (with status, errors, codes) on any error."""
    status, body = graphql_raw(target, query, variables, sdk=sdk)
    if status != 200 or not isinstance(body, dict) or body.get("errors") or "data" not in body:
        raise GraphQLFailure(_operation(query), status, body)
    return body["data"]


def get_project(target: Any, project_id: str | None = None) -> dict:
    data = graphql(target, GET_PROJECT, {"param_0": project_id or target.project_id})
    if data.get("project") is None:
        raise GraphQLFailure("GetProjectPyApi", 200, {"data": data, "errors": [
            {"message": "project is null", "extensions": {"code": "RESOURCE_NOT_FOUND"}}]})
    return data["project"]


def current_user(target: Any) -> dict:
    """The API key's user (GetUserPyApi, as ``client.get_user()``)."""
    return graphql(target, GET_USER, {})["user"]


def user_timezone(target: Any) -> str:
    """The user's timezone, as the SDK asks for it before a date filter (``or "UTC"``)."""
    return graphql(target, CURRENT_USER, None)["user"]["timezone"] or "UTC"


# ---------------------------------------------------------------- export v2


def export_variables(project_id: str, params: Mapping[str, bool] | None = None,
                     filters: Iterable[Mapping] = (), streamable: bool = True,
                     task_name: str | None = None) -> dict:
    """The ``exportDataRowsInProject`` variables of 7.17's ``project.export()`` (``export_v2``: streamable False)."""
    params = dict(params or {})
    unknown = set(params) - set(PARAM_FLAGS)
    if unknown:
        raise ValueError(f"unknown export params {sorted(unknown)}; known: {', '.join(PARAM_FLAGS)}")
    flags = {flag: params.get(name, False) for name, flag in PARAM_FLAGS.items()}
    return {"input": {"taskName": task_name, "isStreamableReady": True,
                      "filters": {"projectId": project_id, "searchQuery": {"scope": None, "query": list(filters)}},
                      "params": {"mediaTypeOverride": None, **flags},
                      "streamable": streamable}}


def create_export(target: Any, params: Mapping[str, bool] | None = None, filters: Iterable[Mapping] = (),
                  streamable: bool = True) -> str:
    """Start an export of the target's project; the task id."""
    payload = create_export_payload(target, params, filters, streamable)
    return payload["taskId"]


def create_export_payload(target: Any, params: Mapping[str, bool] | None = None, filters: Iterable[Mapping] = (),
                          streamable: bool = True) -> dict:
    """The whole ``exportDataRowsInProject`` payload (``taskId``, ``isStreamable``)."""
    data = graphql(target, EXPORT, export_variables(target.project_id, params, filters, streamable))
    return data["exportDataRowsInProject"]


def date_item(kind: str, start: str | None, end: str | None, timezone: str) -> dict:
    """A date filter item as 3.72/7.17 build it; ``kind`` is last_activity_at or label_created_at."""
    types = {"last_activity_at": "data_row_last_activity_at", "label_created_at": "labeled_at"}
    if start and end:
        value: dict = {"operator": "BETWEEN", "timezone": timezone, "value": {"min": start, "max": end}}
    elif start:
        value = {"operator": "GREATER_THAN_OR_EQUAL", "timezone": timezone, "value": start}
    elif end:
        value = {"operator": "LESS_THAN_OR_EQUAL", "timezone": timezone, "value": end}
    else:
        raise ValueError("a date filter needs a start or an end")
    return {"type": types[kind], "value": value}


def ids_item(kind: str, ids: list[str]) -> dict:
    """``data_row_ids`` / ``global_keys`` / ``batch_ids`` items (at most 2000 ids, as the SDK checks)."""
    types = {"data_row_ids": "data_row_id", "global_keys": "global_key", "batch_ids": "batch"}
    if not ids or len(ids) > 2000:
        raise ValueError(f"{kind} takes 1 to 2000 ids")
    return {"ids": list(ids), "operator": "is", "type": types[kind]}


def workflow_item(status: str) -> dict:
    if status not in WORKFLOW_STATUSES:
        raise ValueError(f"workflow_status must be one of {WORKFLOW_STATUSES}")
    return {"type": "task_queue_not_exist"} if status == "ToLabel" else {"type": "task_queue_status", "status": status}


@dataclass
class TaskWait:
    """A finished task and every snapshot of it seen while polling."""

    task: dict
    snapshots: list[dict] = field(default_factory=list)


_USER_IDS: dict[tuple, str] = {}


def _user_id(target: Any) -> str:
    key = (target.graphql_url, target.api_key, target.project_id, id(target.world))
    if key not in _USER_IDS:
        _USER_IDS[key] = current_user(target)["id"]
    return _USER_IDS[key]


def created_tasks(target: Any, task_id: str) -> list[dict]:
    """``user.createdTasks(where: {id})`` as the SDK's task refresh asks for it."""
    user_id = _user_id(target)
    data = graphql(target, CREATED_TASKS, {"param_0": task_id, "param_1": user_id})
    return data["user"]["createdTasks"]


def wait_for_task(target: Any, task_id: str, timeout: float | None = None) -> TaskWait:
    """Poll GetUserCreatedTasksPyApi until the task leaves IN_PROGRESS (checked before each sleep, like the SDK)."""
    timeout = (60.0 if target.kind != "live" else 1800.0) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    snapshots: list[dict] = []
    while True:
        tasks = created_tasks(target, task_id)
        if len(tasks) != 1:
            raise ContractViolation(f"createdTasks(where: {{id: {task_id}}}) returned {len(tasks)} tasks, expected 1")
        task = tasks[0]
        snapshots.append(task)
        if task.get("status") not in TASK_STATUSES:
            raise ContractViolation(f"task {task_id} has status {task.get('status')!r}, "
                                    f"not one of {sorted(TASK_STATUSES)}")
        if task["status"] != "IN_PROGRESS":
            if task["status"] == "FAILED":
                raise ContractViolation(f"export task {task_id} FAILED: errors={task.get('errors')!r}")
            return TaskWait(task, snapshots)
        if time.monotonic() >= deadline:
            raise TimeoutError(f"export task {task_id} still IN_PROGRESS after {timeout:.0f} s")
        time.sleep(min(poll_interval(target), max(deadline - time.monotonic(), 0.0)))


@dataclass
class StreamFile:
    offsets: tuple[int, int]
    lines: tuple[int, int]
    url: str
    content: bytes


@dataclass
class Stream:
    """A stream read like the SDK's buffered stream: the header and every file, in order."""

    header: dict | None
    files: list[StreamFile]

    @property
    def data(self) -> bytes:
        return b"".join(f.content for f in self.files)

    @property
    def lines(self) -> list[bytes]:
        return self.data.splitlines()

    @property
    def rows(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


def _range(value: Any, what: str) -> tuple[int, int]:
    try:
        return int(value["start"]), int(value["end"])
    except (KeyError, TypeError, ValueError):
        raise ContractViolation(f"{what} is not a {{start, end}} range of integers: {value!r}") from None


def export_header(target: Any, task_id: str, stream_type: str = "RESULT") -> dict | None:
    data = graphql(target, HEADER, {"where": {"id": task_id}, "streamType": stream_type})
    return data["task"]["exportMetadataHeader"]


def _file_info(info: Any, what: str) -> tuple[tuple[int, int], tuple[int, int], str]:
    if not isinstance(info, dict) or not isinstance(info.get("file"), str):
        raise ContractViolation(f"{what} returned {info!r}, not {{offsets, lines, file}}")
    return _range(info.get("offsets"), f"{what}.offsets"), _range(info.get("lines"), f"{what}.lines"), info["file"]


def file_from_offset(target: Any, task_id: str, offset: int, stream_type: str = "RESULT"
                     ) -> tuple[tuple[int, int], tuple[int, int], str]:
    data = graphql(target, FROM_OFFSET, {"where": {"id": task_id}, "streamType": stream_type, "offset": str(offset)})
    return _file_info(data["task"]["exportFileFromOffset"], f"exportFileFromOffset({offset})")


def file_from_line(target: Any, task_id: str, line: int, stream_type: str = "RESULT"
                   ) -> tuple[tuple[int, int], tuple[int, int], str]:
    """3.72's ``exportFileFromLine`` (``line`` is a JSON int there, unlike ``offset``)."""
    data = graphql(target, FROM_LINE, {"where": {"id": task_id}, "streamType": stream_type, "line": line},
                   sdk=LEGACY_SDK_VERSION)
    return _file_info(data["task"]["exportFileFromLine"], f"exportFileFromLine({line})")


def download_file(url: str) -> bytes:
    """An export file, fetched like the SDK: a bare GET, no auth (the URL is signed)."""
    resp = requests.get(url, timeout=FILE_TIMEOUT)
    if resp.status_code != 200:
        raise ContractViolation(f"export file download gave HTTP {resp.status_code}: {resp.text[:200]}")
    return resp.content


@dataclass
class DicomHeader:
    """What a ``row_data`` download says about its volume (pixels left on disk, not in memory)."""

    sop_class_uid: str
    rows: int
    columns: int
    frames: int
    pixel_bytes: int  # the length Pixel Data declares
    size: int  # bytes downloaded


def download_dicom(url: str) -> DicomHeader:
    """A data row's ``row_data``, fetched like storage: a bare GET (the URL is signed), streamed to a
    temporary file and parsed with pydicom without loading Pixel Data."""
    import pydicom

    with requests.get(url, timeout=FILE_TIMEOUT, stream=True) as resp:
        if resp.status_code != 200:
            raise ContractViolation(f"row_data download gave HTTP {resp.status_code}: {resp.text[:200]}")
        with tempfile.NamedTemporaryFile(suffix=".dcm") as out:
            size = 0
            for chunk in resp.iter_content(1 << 20):
                out.write(chunk)
                size += len(chunk)
            out.flush()
            try:
                ds = pydicom.dcmread(out.name, defer_size="64 KB")
                pixels = ds.get_item("PixelData", keep_deferred=True)  # its length, its value left on disk
                return DicomHeader(str(ds.SOPClassUID), int(ds.Rows), int(ds.Columns),
                                   int(ds.get("NumberOfFrames", 1) or 1),
                                   pixels.length if pixels is not None else 0, size)
            except Exception as exc:  # any parse failure is the contract's finding
                raise ContractViolation(f"row_data is not a DICOM file pydicom reads: {exc}") from exc


def stream(target: Any, task_id: str, stream_type: str = "RESULT", *, record_as: str | None = None) -> Stream:
    """Walk a stream as ``BufferedStream`` does: header, then file after file by byte offset."""
    header = export_header(target, task_id, stream_type)
    if header is None:
        return Stream(None, [])
    try:
        total_size = int(header["totalSize"])
        int(header["totalLines"])
    except (KeyError, TypeError, ValueError):
        raise ContractViolation(f"exportMetadataHeader {header!r} lacks integer totalSize/totalLines") from None
    if total_size <= 0:
        raise ContractViolation(f"exportMetadataHeader has totalSize {total_size}: an empty stream must have "
                                "a null header (the SDK raises 'offset is out of range')")
    files: list[StreamFile] = []
    offset = 0
    while offset < total_size:
        offsets, lines, url = file_from_offset(target, task_id, offset, stream_type)
        if offsets[0] != offset:
            raise ContractViolation(f"asked for offset {offset}, got a file starting at {offsets[0]}")
        if offsets[1] < offsets[0]:
            raise ContractViolation(f"file at offset {offset} ends before it starts: {offsets}")
        content = download_file(url)
        if len(content) != offsets[1] - offsets[0] + 1:
            raise ContractViolation(f"file at offset {offset} has {len(content)} bytes, its offsets "
                                    f"{offsets} promise {offsets[1] - offsets[0] + 1}")
        files.append(StreamFile(offsets, lines, url, content))
        offset = offsets[1] + 1
    result = Stream(header, files)
    if target.record_dir and stream_type == "RESULT":
        _record_ndjson(target, "v2", record_as or task_id, result.lines)
    return result


def export(target: Any, params: Mapping[str, bool] | None = None, filters: Iterable[Mapping] = (), *,
           record_as: str | None = None) -> Stream:
    """create_export + wait_for_task + stream(RESULT)."""
    task_id = create_export(target, params, filters)
    wait_for_task(target, task_id)
    return stream(target, task_id, record_as=record_as)


# ---------------------------------------------------------------- legacy export_labels, frames, masks


@dataclass
class LegacyExport:
    rows: list
    polls: int
    answers: list[dict]


def legacy_export(target: Any, filters: str = "", timeout: float | None = None, *,
                  record_as: str | None = None) -> LegacyExport:
    """3.72's ``project.export_labels(download=True)``: poll exportLabels, then GET the URL (no auth).

    ``filters`` is the literal the SDK inlines, e.g. ``'labelCreatedAt: {start: "2020-01-01"}'``.
    """
    query = LEGACY_EXPORT % (f", filters: {{{filters} }}" if filters else "")
    timeout = (60.0 if target.kind != "live" else 1800.0) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    answers: list[dict] = []
    while True:
        data = graphql(target, query, {"projectId": target.project_id}, sdk=LEGACY_SDK_VERSION)
        payload = data["exportLabels"]
        answers.append(payload)
        if not isinstance(payload, dict) or not isinstance(payload.get("shouldPoll"), bool):
            raise ContractViolation(f"exportLabels answered {payload!r}: shouldPoll must be a boolean")
        if not payload["shouldPoll"] and payload.get("downloadUrl") is not None:
            break
        if time.monotonic() >= deadline:
            raise TimeoutError(f"exportLabels still polling after {timeout:.0f} s")
        time.sleep(poll_interval(target))
    resp = requests.get(payload["downloadUrl"], timeout=REQUEST_TIMEOUT)
    if resp.status_code != 200:
        raise ContractViolation(f"legacy export download gave HTTP {resp.status_code}: {resp.text[:200]}")
    rows = resp.json()
    if target.record_dir and isinstance(rows, list):
        _record_json(target, "legacy", record_as or "export_labels", rows)
    return LegacyExport(rows, len(answers), answers)


def _authed_get(target: Any, url: str) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {target.api_key}"}, timeout=REQUEST_TIMEOUT)


def get_frames(target: Any, url: str, *, record_as: str | None = None) -> list[dict]:
    """A legacy group's per-frame NDJSON (fetched with the bearer key, as the SDK's LBV1 converter does)."""
    resp = _authed_get(target, url)
    if resp.status_code != 200:
        raise ContractViolation(f"frames URL gave HTTP {resp.status_code}: {resp.text[:200]}")
    lines = [line for line in resp.content.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    if target.record_dir and lines:
        _record_ndjson(target, "frames", record_as or _slug(urlsplit(url).path + "-" + urlsplit(url).query), lines)
    return records


def get_mask(target: Any, url: str) -> bytes:
    """A mask PNG (v2 ``mask.url`` or legacy ``instanceURI``), fetched with the bearer key."""
    resp = _authed_get(target, url)
    if resp.status_code != 200:
        raise ContractViolation(f"mask URL gave HTTP {resp.status_code}: {resp.text[:200]}")
    return resp.content


# ---------------------------------------------------------------- recording, with secrets stripped

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_SECRET_PREFIXES = ("x-goog-", "x-amz-", "x-lbmock-", "x-ms-")
_SECRET_WORDS = ("signature", "token", "credential", "expires", "secret", "password", "apikey", "api_key",
                 "api-key", "accesskey", "access_key")
_SECRET_NAMES = frozenset({"key", "sig", "se", "st", "sp", "sv", "sr", "spr", "skoid", "sktid", "skt", "ske",
                           "sks", "skv", "policy", "key-pair-id", "googleaccessid", "auth", "jwt"})
_SECRET_KEYS = re.compile(r"^(authorization|api[-_]?key|x-api-key|token|access[-_]?token|password)$", re.I)
REDACTED = "<redacted>"


def secret_param(name: str) -> bool:
    """Whether a URL query parameter is a credential (signed-URL parameters, tokens, keys)."""
    low = name.lower()
    return low.startswith(_SECRET_PREFIXES) or low in _SECRET_NAMES or any(w in low for w in _SECRET_WORDS)


# lbmock's signed file URLs carry the server's key and the task's creation time; comparing a
# served export with a rendered one replaces each signature by this same-length placeholder.
LBMOCK_SIGNATURE = re.compile(r"X-Lbmock-Expires=\d{10}&X-Lbmock-Signature=[0-9a-f]{64}")
PLACEHOLDER_SIGNATURE = "X-Lbmock-Expires=0000000000&X-Lbmock-Signature=" + "0" * 64


def unsigned(data: str | bytes) -> str | bytes:
    """``data`` with every lbmock URL signature replaced by :data:`PLACEHOLDER_SIGNATURE`."""
    if isinstance(data, bytes):
        return LBMOCK_SIGNATURE.sub(PLACEHOLDER_SIGNATURE, data.decode()).encode()
    return LBMOCK_SIGNATURE.sub(PLACEHOLDER_SIGNATURE, data)


def placeholder_sign(path: str) -> str:
    """A ``Urls.sign`` that signs with the placeholder: rendered rows then equal ``unsigned`` served ones."""
    return f"{path}?{PLACEHOLDER_SIGNATURE}"


def strip_url(url: str) -> str:
    """``url`` without its credential query parameters (others, e.g. ``group=axial``, stay)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not secret_param(k)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))


def scrub(value: Any, api_key: str | None = None) -> Any:
    """A copy of a JSON value with secrets removed from every string and every URL, anywhere."""

    def text(s: str) -> str:
        if api_key and len(api_key) >= 6 and api_key in s:
            s = s.replace(api_key, REDACTED)
        if s.lower().startswith("bearer "):
            return f"Bearer {REDACTED}"
        return _URL.sub(lambda m: strip_url(m.group(0)), s) if "://" in s else s

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return text(v)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {text(k): (REDACTED if _SECRET_KEYS.match(k) and v2 is not None else walk(v2))
                    for k, v2 in v.items()}
        return v

    return walk(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-")[:120] or "unnamed"


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _record_ndjson(target: Any, kind: str, name: str, lines: list[bytes]) -> None:
    def write(fh: Any) -> None:
        for line in lines:
            fh.write(json.dumps(scrub(json.loads(line), target.api_key), ensure_ascii=False) + "\n")

    _atomic_write(Path(target.record_dir) / kind / f"{_slug(name)}.ndjson", write)


def _record_json(target: Any, kind: str, name: str, value: Any) -> None:
    _atomic_write(Path(target.record_dir) / kind / f"{_slug(name)}.json",
                  lambda fh: json.dump(scrub(value, target.api_key), fh, ensure_ascii=False, indent=1))


_SEQ = itertools.count(1)


def _record_graphql(target: Any, operation: str | None, variables: Any, status: int, body: Any) -> None:
    if not target.record_dir:
        return
    name = f"{os.getpid()}-{next(_SEQ):04d}-{_slug(operation or 'anonymous')}.json"
    record = {"operation": operation, "variables": variables, "status": status, "response": body}
    _atomic_write(Path(target.record_dir) / "graphql" / name,
                  lambda fh: json.dump(scrub(record, target.api_key), fh, ensure_ascii=False, indent=1))
