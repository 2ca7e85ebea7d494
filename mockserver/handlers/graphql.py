"""POST /graphql (and /_gql, its experimental twin): the Labelbox GraphQL endpoint."""

from __future__ import annotations

import io

import orjson
from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.backend.faults import Fault
from lbmock.mockserver.backend.stubs import answer
from lbmock.mockserver.errors import BadInput, NotFound, small_number
from lbmock.mockserver.gql import RequestContext, document_roots, run_graphql
from lbmock.mockserver.gql.execution import _checked_document
from lbmock.mockserver.gql.near_miss import UNKNOWN_FIELD
from lbmock.mockserver.handlers.common import JSON, backend, base_url, bearer_key, request_urls
from lbmock.mockserver.handlers.emulated import emulated_root_fields, multipart_operation, refusal, sdk_method_of


def _reply(status: int, body: dict) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype=JSON)


def _auth_failure(message: str) -> Response:
    # 401 + AUTHENTICATION_ERROR: every supported SDK raises AuthenticationError.
    return _reply(401, {"errors": [{"message": message, "extensions": {"code": "AUTHENTICATION_ERROR"}}]})


def handle_graphql() -> Response:
    key = bearer_key()
    if key is None:
        return _auth_failure("missing 'Authorization: Bearer <api key>' header")
    if not backend().accepts_key(key):
        return _auth_failure("Invalid API key")
    faulted = _injected_fault()
    if faulted is not None:
        return faulted
    if request.mimetype == "multipart/form-data":  # an upload (label import ...): refused unparsed
        return _upload()
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:  # over the app's MAX_CONTENT_LENGTH: say so in this endpoint's shape
        limit = request.max_content_length
        return _reply(413, {"errors": [{"message": f"request body is larger than {limit} bytes",
                                        "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]})
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _reply(400, {"errors": [{"message": f"request body is not valid JSON: {exc}",
                                        "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]})
    if not isinstance(payload, dict):
        return _reply(400, {"errors": [{"message": "request body must be a JSON object {query, variables}",
                                        "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]})
    decided = _stubbed_or_refused(payload)
    if decided is not None:
        return decided
    ctx = RequestContext(backend(), key, request_urls(), base_url())
    outcome = run_graphql(ctx, payload.get("query"), payload.get("variables"), payload.get("operationName"))
    request.environ["lbmock.operation"] = outcome.operation
    request.environ["lbmock.variables"] = _journalable(payload.get("variables"))
    if outcome.unmatched:
        request.environ["lbmock.unmatched"] = outcome.unmatched
    return _reply(outcome.status, outcome.body)


MAX_JOURNALED_VARIABLES = 64 * 1024
UPLOAD_HEAD_BYTES = 64 * 1024  # the multipart "operations" part comes before any file


def _refuse(message: str, operation: str | None) -> Response:
    request.environ["lbmock.operation"] = operation
    request.environ["lbmock.unmatched"] = message  # journaled and announced as a near miss
    # GRAPHQL_VALIDATION_FAILED: every supported SDK raises InvalidQueryError(message), word for word
    return _reply(400, {"errors": [{"message": message, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED",
                                                                       "lbmock": "not-emulated"}}]})


def _stub_reply(stub, call: dict) -> Response:
    request.environ["lbmock.stub"] = stub.id
    request.environ["lbmock.operation"] = call.get("operation")
    status, body = answer(stub, call)
    return _reply(status, body)


def _upload() -> Response:
    """A multipart request: its operation is read from the head of the body (never the files); a stub
    may answer it, else it is refused.  The rest is drained unread (keep-alive connections)."""
    header = request.headers.get("X-SDK-Method")
    too_big = (request.content_length or 0) > (request.max_content_length or 0)
    head = b"" if too_big else request.stream.read(UPLOAD_HEAD_BYTES)
    operation, field = multipart_operation(head)
    if not too_big:
        while request.stream.read(1 << 16):
            pass
    names = {n for n in (operation, field) if n}
    stub = backend().stubs.take_graphql(names, None)
    if stub is not None:
        return _stub_reply(stub, {"operation": operation, "root_fields": [field] if field else [], "variables": None,
                                  "method": "POST", "path": request.path, "upload": True})
    near = backend().stubs.near_miss(names=names) if names else None
    what = field or operation or "multipart uploads"
    return _refuse(refusal(what, sdk_method_of(field, operation, header=header) or "a file upload", near,
                           operation), operation)


def _stubbed_or_refused(payload: dict) -> Response | None:
    """A stub's answer, or the refusal of an operation lbmock does not emulate (decided on the
    document's root fields, before its variables are looked at); None: emulate it."""
    query, variables = payload.get("query"), payload.get("variables")
    name = payload.get("operationName") if isinstance(payload.get("operationName"), str) else None
    roots = document_roots(query, name) if isinstance(query, str) else None
    if roots is None:
        return None
    operation, fields = roots
    names = {operation, *fields} - {None}
    be = backend()
    stub = be.stubs.take_graphql(names, variables if isinstance(variables, dict) else None)
    if stub is not None:
        request.environ["lbmock.variables"] = _journalable(variables)
        return _stub_reply(stub, {"operation": operation, "root_fields": list(fields), "variables": variables,
                                  "method": "POST", "path": request.path})
    unknown = [f for f in fields if f not in emulated_root_fields() and not f.startswith("__")]
    checked = _checked_document(query) if len(query) <= 16_384 else None
    schema_says = getattr(checked, "unmatched", None)
    if not unknown:  # every root emulated: refused still when it selects a field lbmock lacks below them
        # (project { labelCount }: project.get_label_count(), named as a call lbmock does not emulate,
        # not left to read as a typo; other validation errors take the ordinary path, near misses and all)
        unknown = list(dict.fromkeys(f"{m['type']}.{m['asked']}" for m in UNKNOWN_FIELD.finditer(schema_says or "")))
        if not unknown:
            return None
    near = be.stubs.near_miss(names=names)
    closest = "; ".join(x for x in (schema_says, near) if x) or None
    request.environ["lbmock.variables"] = _journalable(variables)
    what = ", ".join(unknown)
    return _refuse(refusal(what, sdk_method_of(*unknown, operation, header=request.headers.get("X-SDK-Method")),
                           closest, operation), operation)


def _journalable(variables: object) -> object:
    """The variables as the journal can store them: JSON nested deeper than orjson
    writes (255 levels) would fail the request after it was answered."""
    try:
        size = len(orjson.dumps([variables]))  # one level deeper, as inside a journal entry
    except orjson.JSONEncodeError:
        return {"lbmock": "variables not journaled: nested too deeply"}
    if size > MAX_JOURNALED_VARIABLES:  # the journal keeps 10,000 entries: keep them small
        return {"lbmock": f"variables not journaled: {size} bytes"}
    return variables


def _injected_fault() -> Response | None:
    be = backend()
    if (fault := be.take_fault(Fault.RATE_LIMIT)) is not None:
        # A top-level "message" starting "You have exceeded": the SDK's ApiLimitError.
        wait = fault.arg or 1
        return Response(orjson.dumps({"message": f"You have exceeded the API rate limit. Retry after {wait} s.",
                                      "errors": []}),
                        status=429, mimetype=JSON, headers={"Retry-After": str(wait)})
    if (fault := be.take_fault(Fault.SERVER_ERROR)) is not None:
        # What Labelbox's proxy answers when a backend resets: the SDK retries it.
        return Response(b"upstream connect error or disconnect/reset before headers. reset reason: "
                        b"connection termination", status=fault.arg or 503, mimetype="text/plain")
    return None


# The SDK reads an export one file at a time, each behind this query (labelbox 3.x to 7.17.0 send it
# word for word, variables {where: {id}, streamType, offset: "<digits>"}): a query per file.
SDK_FILE_FROM_OFFSET = ("query GetExportFileFromOffsetPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!, "
                        "$offset: UInt64!){task(where: $where){exportFileFromOffset(streamType: $streamType, "
                        "offset: $offset){offsets {start end} lines {start end} file}}}")
FAST_BODY_BYTES = 4096  # the SDK's request is ~400 bytes; anything bigger goes the general way


def file_from_offset_fast(be: MockBackend, environ: dict, base: str) -> bytes | None:
    """The answer to the SDK's ``exportFileFromOffset`` query without Flask or graphql-core (most
    of the query's cost), the same bytes and journal entry as the general path; None sends the
    request that way (with its body put back): any other document or variables, no fault, stub or
    valid key, a task not complete, an offset past the end, errors of any kind.  ``base``: where
    file links point (the app's public URL, else this request's host)."""
    length = small_number(environ.get("CONTENT_LENGTH") or "", 4)
    if (length is None or length > FAST_BODY_BYTES or "multipart/" in environ.get("CONTENT_TYPE", "")
            or be.any_fault() or be.stubs.has_graphql()):
        return None
    scheme, _, key = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    key = key.strip()
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)  # the general path reads it again
    if scheme.lower() != "bearer" or not key or not be.accepts_key(key):
        return None
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or payload.get("query") != SDK_FILE_FROM_OFFSET \
            or payload.get("operationName") not in (None, "GetExportFileFromOffsetPyApi"):
        return None
    variables = payload.get("variables")
    if not isinstance(variables, dict) or variables.keys() != {"where", "streamType", "offset"}:
        return None
    where, stream, offset = variables["where"], variables["streamType"], variables["offset"]
    if not (isinstance(where, dict) and where.keys() == {"id"} and isinstance(where["id"], str)
            and stream in ("RESULT", "ERRORS") and isinstance(offset, str)):
        return None
    number = small_number(offset, 20)  # as the UInt64 scalar reads it
    if number is None or number >= 2**64:
        return None
    try:
        task = be.task(key, where["id"])
        if be.task_progress(task)[0] != "COMPLETE":
            return None
        plan = be.plan(task, stream)
        found = None if plan is None else plan.file_at_offset(number)
    except (NotFound, BadInput):
        return None
    if found is None:
        return None
    environ["lbmock.operation"] = "GetExportFileFromOffsetPyApi"
    environ["lbmock.variables"] = _journalable(variables)
    # (the keys in the document's order, as graphql-core answers)
    return orjson.dumps({"data": {"task": {"exportFileFromOffset": {
        "offsets": {"start": found.offsets[0], "end": found.offsets[1]},
        "lines": {"start": found.lines[0], "end": found.lines[1]},
        "file": be.export_file_url(base, task.id, stream, found.index)}}}})
