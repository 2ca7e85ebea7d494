"""A small Labelbox client that speaks the wire protocol exactly as the SDK does.

Typed on a :class:`~lbmock.contract_tests.wire.transport.Transport`, so the same client drives a live
deployment or ``lbmock serve`` over HTTP, the in-process mock (lbmock's own adapter on the real
hostnames) and a Flask app's test client.  It is the one way tests and benchmarks create an
export (:meth:`WireClient.create_export`) and walk a stream (:meth:`WireClient.stream`).
Only ``requests`` is used: the labelbox SDK is not a dependency.
"""

from __future__ import annotations

import json
import platform
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lbmock.contract_tests.wire.documents import (
    CATALOG_EXPORT,
    CREATED_TASKS,
    CURRENT_USER,
    EXPORT,
    FROM_LINE,
    FROM_OFFSET,
    GET_PROJECT,
    GET_USER,
    HEADER,
    LEGACY_EXPORT,
    LEGACY_SDK_VERSION,
    SDK_VERSION,
    TASK_STATUSES,
    catalog_export_variables,
    export_variables,
)
from lbmock.contract_tests.wire.recording import Recorder, slug
from lbmock.contract_tests.wire.transport import Reply, Transport

MOCK_POLL_INTERVAL = 0.25
LIVE_POLL_INTERVAL = 2.0  # the SDK's wait_till_done and export_labels sleep


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


def operation_of(query: str) -> str | None:
    match = re.search(r"\b(?:query|mutation)\s+([A-Za-z_][A-Za-z0-9_]*)", query)
    return match.group(1) if match else None


@dataclass
class TaskWait:
    """A finished task and every snapshot of it seen while polling."""

    task: dict
    snapshots: list[dict] = field(default_factory=list)


@dataclass
class StreamFile:
    offsets: tuple[int, int]
    lines: tuple[int, int]
    url: str
    content: bytes
    seconds: float = 0.0  # the download alone (benchmarks report it)


@dataclass
class Stream:
    """A stream read like the SDK's buffered stream: the header and every file, in order."""

    header: dict | None
    files: list[StreamFile]
    header_seconds: float = 0.0  # the header query (the first one renders the export)

    @property
    def data(self) -> bytes:
        return b"".join(f.content for f in self.files)

    @property
    def lines(self) -> list[bytes]:
        return self.data.splitlines()

    @property
    def rows(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


@dataclass
class LegacyExport:
    rows: list
    polls: int
    answers: list[dict]


def _range(value: Any, what: str) -> tuple[int, int]:
    try:
        return int(value["start"]), int(value["end"])
    except (KeyError, TypeError, ValueError):
        raise ContractViolation(f"{what} is not a {{start, end}} range of integers: {value!r}") from None


def _file_info(info: Any, what: str) -> tuple[tuple[int, int], tuple[int, int], str]:
    if not isinstance(info, dict) or not isinstance(info.get("file"), str):
        raise ContractViolation(f"{what} returned {info!r}, not {{offsets, lines, file}}")
    return _range(info.get("offsets"), f"{what}.offsets"), _range(info.get("lines"), f"{what}.lines"), info["file"]


@dataclass
class DicomHeader:
    """What a ``row_data`` download says about its volume."""

    sop_class_uid: str
    rows: int
    columns: int
    frames: int
    pixel_bytes: int  # the length Pixel Data declares
    size: int  # bytes downloaded


class WireClient:
    """The SDK's requests, sent over ``transport`` with ``api_key``, for ``project_id``."""

    def __init__(self, transport: Transport, api_key: str, project_id: str | None = None, *,
                 live: bool = False, poll_interval: float | None = None, recorder: Recorder | None = None,
                 graphql_path: str = "/graphql") -> None:
        self.transport, self.api_key, self.project_id = transport, api_key, project_id
        self.live = live
        self.poll_interval = poll_interval if poll_interval is not None else (
            LIVE_POLL_INTERVAL if live else MOCK_POLL_INTERVAL)
        self.recorder = recorder
        self.graphql_path = graphql_path
        self._user_id: str | None = None

    # ------------------------------------------------------------ GraphQL

    def headers(self, sdk: str = SDK_VERSION, api_key: str | None = None) -> dict[str, str]:
        """The headers the SDK sends with a GraphQL call."""
        py = platform.python_version_tuple()
        return {"Authorization": f"Bearer {self.api_key if api_key is None else api_key}",
                "Accept": "application/json", "Content-Type": "application/json",
                "X-User-Agent": f"python-sdk {sdk}", "X-Python-Version": f"{py[0]}.{py[1]}.{py[2]}-final"}

    def post_graphql(self, body: bytes, headers: Mapping[str, str] | None = None) -> Reply:
        """POST raw bytes to the GraphQL endpoint (for tests of malformed requests)."""
        return self.transport.request("POST", self.graphql_path, body=body,
                                      headers=self.headers() if headers is None else headers)

    def graphql_raw(self, query: str, variables: Any = None, *, headers: Mapping[str, str] | None = None,
                    sdk: str = SDK_VERSION) -> tuple[int, Any]:
        """POST one document exactly as the SDK does; ``(status, parsed JSON body or text)``, nothing raised."""
        body = json.dumps({"query": query, "variables": variables}).encode("utf-8")
        reply = self.post_graphql(body, headers if headers is not None else self.headers(sdk))
        try:
            parsed: Any = reply.json()
        except ValueError:
            parsed = reply.text
        if self.recorder is not None:
            self.recorder.graphql(operation_of(query), variables, reply.status, parsed)
        return reply.status, parsed

    def graphql(self, query: str, variables: Any = None, *, sdk: str = SDK_VERSION) -> dict:
        """``data`` of one call; :class:`GraphQLFailure` (with status, errors, codes) on any error."""
        status, body = self.graphql_raw(query, variables, sdk=sdk)
        if status != 200 or not isinstance(body, dict) or body.get("errors") or "data" not in body:
            raise GraphQLFailure(operation_of(query), status, body)
        return body["data"]

    def get_project(self, project_id: str | None = None) -> dict:
        data = self.graphql(GET_PROJECT, {"param_0": project_id or self.project_id})
        if data.get("project") is None:
            raise GraphQLFailure("GetProjectPyApi", 200, {"data": data, "errors": [
                {"message": "project is null", "extensions": {"code": "RESOURCE_NOT_FOUND"}}]})
        return data["project"]

    def current_user(self) -> dict:
        """The API key's user (GetUserPyApi, as ``client.get_user()``)."""
        return self.graphql(GET_USER, {})["user"]

    def user_timezone(self) -> str:
        """The user's timezone, as the SDK asks for it before a date filter (``or "UTC"``)."""
        return self.graphql(CURRENT_USER, None)["user"]["timezone"] or "UTC"

    # ------------------------------------------------------------ export v2

    def create_export_payload(self, params: Mapping[str, bool] | None = None, filters: Iterable[Mapping] = (),
                              streamable: bool = True, *, task_name: str | None = None,
                              flags: Mapping[str, object] | None = None) -> dict:
        """The whole ``exportDataRowsInProject`` payload (``taskId``, ``isStreamable``)."""
        variables = export_variables(self.project_id, params, filters, streamable, task_name, flags=flags)
        return self.graphql(EXPORT, variables)["exportDataRowsInProject"]

    def create_export(self, params: Mapping[str, bool] | None = None, filters: Iterable[Mapping] = (),
                      streamable: bool = True, *, task_name: str | None = None,
                      flags: Mapping[str, object] | None = None) -> str:
        """Start an export of the project; the task id."""
        return self.create_export_payload(params, filters, streamable, task_name=task_name, flags=flags)["taskId"]

    def catalog_export(self, params: Mapping[str, bool] | None = None, filters: Iterable[Mapping] = (),
                       project_ids: list[str] | None = None, *, record_as: str | None = None) -> Stream:
        """An ``exportDataRowsInCatalog`` export (Dataset/DataRow/Catalog.export), waited for and streamed."""
        variables = catalog_export_variables(params, filters, project_ids)
        task_id = self.graphql(CATALOG_EXPORT, variables)["exportDataRowsInCatalog"]["taskId"]
        self.wait_for_task(task_id)
        return self.stream(task_id, record_as=record_as)

    def user_id(self) -> str:
        if self._user_id is None:
            self._user_id = self.current_user()["id"]
        return self._user_id

    def created_tasks(self, task_id: str) -> list[dict]:
        """``user.createdTasks(where: {id})`` as the SDK's task refresh asks for it."""
        data = self.graphql(CREATED_TASKS, {"param_0": task_id, "param_1": self.user_id()})
        return data["user"]["createdTasks"]

    def wait_for_task(self, task_id: str, timeout: float | None = None) -> TaskWait:
        """Poll GetUserCreatedTasksPyApi until the task leaves IN_PROGRESS (checked before each sleep, like the SDK)."""
        timeout = (1800.0 if self.live else 60.0) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        snapshots: list[dict] = []
        while True:
            tasks = self.created_tasks(task_id)
            if len(tasks) != 1:
                raise ContractViolation(f"createdTasks(where: {{id: {task_id}}}) returned {len(tasks)} tasks, "
                                        "expected 1")
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
            time.sleep(min(self.poll_interval, max(deadline - time.monotonic(), 0.0)))

    def export_header(self, task_id: str, stream_type: str = "RESULT") -> dict | None:
        data = self.graphql(HEADER, {"where": {"id": task_id}, "streamType": stream_type})
        return data["task"]["exportMetadataHeader"]

    def file_from_offset(self, task_id: str, offset: int, stream_type: str = "RESULT"
                         ) -> tuple[tuple[int, int], tuple[int, int], str]:
        data = self.graphql(FROM_OFFSET, {"where": {"id": task_id}, "streamType": stream_type,
                                          "offset": str(offset)})
        return _file_info(data["task"]["exportFileFromOffset"], f"exportFileFromOffset({offset})")

    def file_from_line(self, task_id: str, line: int, stream_type: str = "RESULT"
                       ) -> tuple[tuple[int, int], tuple[int, int], str]:
        """3.72's ``exportFileFromLine`` (``line`` is a JSON int there, unlike ``offset``)."""
        data = self.graphql(FROM_LINE, {"where": {"id": task_id}, "streamType": stream_type, "line": line},
                            sdk=LEGACY_SDK_VERSION)
        return _file_info(data["task"]["exportFileFromLine"], f"exportFileFromLine({line})")

    def download_file(self, url: str) -> bytes:
        """An export file, fetched like the SDK: a bare GET, no auth (the URL is signed)."""
        reply = self.transport.request("GET", url)
        if reply.status != 200:
            raise ContractViolation(f"export file download gave HTTP {reply.status}: {reply.text[:200]}")
        return reply.content

    def download_dicom(self, url: str) -> DicomHeader:
        """A data row's ``row_data``, fetched as storage serves it (a bare GET: the URL is signed) and
        parsed with pydicom from a temporary file, Pixel Data left on disk."""
        import pydicom

        reply = self.transport.request("GET", url)
        if reply.status != 200:
            raise ContractViolation(f"row_data download gave HTTP {reply.status}: {reply.text[:200]}")
        with tempfile.NamedTemporaryFile(suffix=".dcm") as out:
            out.write(reply.content)
            out.flush()
            try:
                ds = pydicom.dcmread(out.name, defer_size="64 KB")
                pixels = ds.get_item("PixelData", keep_deferred=True)  # its length, its value left on disk
                return DicomHeader(str(ds.SOPClassUID), int(ds.Rows), int(ds.Columns),
                                   int(ds.get("NumberOfFrames", 1) or 1),
                                   pixels.length if pixels is not None else 0, len(reply.content))
            except Exception as exc:  # any parse failure is the contract's finding
                raise ContractViolation(f"row_data is not a DICOM file pydicom reads: {exc}") from exc

    def stream(self, task_id: str, stream_type: str = "RESULT", *, record_as: str | None = None) -> Stream:
        """Walk a stream as ``BufferedStream`` does: header, then file after file by byte offset."""
        started = time.perf_counter()
        header = self.export_header(task_id, stream_type)
        header_seconds = time.perf_counter() - started
        if header is None:
            return Stream(None, [], header_seconds)
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
            offsets, lines, url = self.file_from_offset(task_id, offset, stream_type)
            if offsets[0] != offset:
                raise ContractViolation(f"asked for offset {offset}, got a file starting at {offsets[0]}")
            if offsets[1] < offsets[0]:
                raise ContractViolation(f"file at offset {offset} ends before it starts: {offsets}")
            started = time.perf_counter()
            content = self.download_file(url)
            seconds = time.perf_counter() - started
            if len(content) != offsets[1] - offsets[0] + 1:
                raise ContractViolation(f"file at offset {offset} has {len(content)} bytes, its offsets "
                                        f"{offsets} promise {offsets[1] - offsets[0] + 1}")
            files.append(StreamFile(offsets, lines, url, content, seconds))
            offset = offsets[1] + 1
        result = Stream(header, files, header_seconds)
        if self.recorder is not None and stream_type == "RESULT":
            self.recorder.ndjson("v2", record_as or task_id, result.lines)
            self.recorder.v2_assets(result.lines, self._asset)
        return result

    def _asset(self, url: str, with_key: bool) -> bytes | None:
        """A file an export row links to (a mask with the bearer key; row_data bare: it is signed),
        or None if it cannot be had (a recording keeps what it got)."""
        try:
            reply = self.authed_get(url) if with_key else self.transport.request("GET", url)
        except OSError:
            return None
        return reply.content if reply.status == 200 else None

    def export(self, params: Mapping[str, bool] | None = None, filters: Iterable[Mapping] = (), *,
               record_as: str | None = None) -> Stream:
        """create_export + wait_for_task + stream(RESULT)."""
        task_id = self.create_export(params, filters)
        self.wait_for_task(task_id)
        return self.stream(task_id, record_as=record_as)

    # ------------------------------------------------------------ legacy export_labels, frames, masks

    def legacy_export(self, filters: str = "", timeout: float | None = None, *,
                      record_as: str | None = None) -> LegacyExport:
        """3.72's ``project.export_labels(download=True)``: poll exportLabels, then GET the URL (no auth).

        ``filters`` is the literal the SDK inlines, e.g. ``'labelCreatedAt: {start: "2020-01-01"}'``.
        """
        query = LEGACY_EXPORT % (f", filters: {{{filters} }}" if filters else "")
        timeout = (1800.0 if self.live else 60.0) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        answers: list[dict] = []
        while True:
            data = self.graphql(query, {"projectId": self.project_id}, sdk=LEGACY_SDK_VERSION)
            payload = data["exportLabels"]
            answers.append(payload)
            if not isinstance(payload, dict) or not isinstance(payload.get("shouldPoll"), bool):
                raise ContractViolation(f"exportLabels answered {payload!r}: shouldPoll must be a boolean")
            if not payload["shouldPoll"] and payload.get("downloadUrl") is not None:
                break
            if time.monotonic() >= deadline:
                raise TimeoutError(f"exportLabels still polling after {timeout:.0f} s")
            time.sleep(self.poll_interval)
        reply = self.transport.request("GET", payload["downloadUrl"])
        if reply.status != 200:
            raise ContractViolation(f"legacy export download gave HTTP {reply.status}: {reply.text[:200]}")
        rows = reply.json()
        if self.recorder is not None and isinstance(rows, list):
            self.recorder.json("legacy", record_as or "export_labels", rows)
        return LegacyExport(rows, len(answers), answers)

    def authed_get(self, url: str) -> Reply:
        """A GET with the bearer key (frames and masks need it)."""
        return self.transport.request("GET", url, headers={"Authorization": f"Bearer {self.api_key}"})

    def get_frames(self, url: str, *, record_as: str | None = None) -> list[dict]:
        """A legacy group's per-frame NDJSON (fetched with the bearer key, as the SDK's LBV1 converter does)."""
        reply = self.authed_get(url)
        if reply.status != 200:
            raise ContractViolation(f"frames URL gave HTTP {reply.status}: {reply.text[:200]}")
        lines = [line for line in reply.content.splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]
        if self.recorder is not None and lines:
            self.recorder.ndjson("frames", record_as or slug(urlsplit(url).path + "-" + urlsplit(url).query), lines)
        return records

    def get_mask(self, url: str) -> bytes:
        """A mask PNG (v2 ``mask.url`` or legacy ``instanceURI``), fetched with the bearer key."""
        reply = self.authed_get(url)
        if reply.status != 200:
            raise ContractViolation(f"mask URL gave HTTP {reply.status}: {reply.text[:200]}")
        return reply.content
