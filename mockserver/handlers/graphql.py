"""POST /graphql: the Labelbox GraphQL endpoint."""

from __future__ import annotations

import orjson
from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from lbmock.mockserver.backend.faults import Fault
from lbmock.mockserver.gql import RequestContext, run_graphql
from lbmock.mockserver.handlers.common import JSON, backend, base_url, bearer_key, request_urls


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
    ctx = RequestContext(backend(), key, request_urls(), base_url())
    outcome = run_graphql(ctx, payload.get("query"), payload.get("variables"), payload.get("operationName"))
    request.environ["lbmock.operation"] = outcome.operation
    request.environ["lbmock.variables"] = _journalable(payload.get("variables"))
    if outcome.unmatched:
        request.environ["lbmock.unmatched"] = outcome.unmatched
    return _reply(outcome.status, outcome.body)


MAX_JOURNALED_VARIABLES = 64 * 1024


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
