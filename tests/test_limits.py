"""GraphQL limits (depth, complexity, aliases, operations, size) and request-size limits.

Over-limit documents get the real API's answer: HTTP 400 with errors[0].message exactly
"Query complexity limit exceeded" and code GRAPHQL_VALIDATION_FAILED, which every SDK
release maps to ValidationFailedError.  Every document the three SDK releases send
stays well inside the limits.
"""

from __future__ import annotations

import time

import labelbox as lb
import mocks
import orjson
import pytest
from graphql import parse
from lbox import exceptions as lbx
from sdk_streams import exported

from lbmock.contract_tests.wire import FlaskTransport, WireClient, export_variables
from lbmock.mockserver.app import MAX_BODY_BYTES
from lbmock.mockserver.gql.limits import (
    COMPLEXITY_MESSAGE,
    MAX_ALIASES,
    MAX_COMPLEXITY,
    MAX_DEPTH,
    MAX_NESTING,
    MAX_OPERATIONS,
    within_limits,
)
from lbmock.strategies import seeded_world

SEED, ROWS = 13, 12
WORLD = seeded_world(SEED, ROWS)  # what lb_world serves here
pytestmark = pytest.mark.lb_world(seed=SEED, rows=ROWS)
KEY = {"Authorization": "Bearer limits-key"}

# Every document the SDK releases 3.40.1, 3.72.2 and 7.17.0 were seen sending (verbatim,
# as the released packages build them; tests/compat drives those releases), plus 7.17.0's own
# get_task_by_id string.
SDK_DOCUMENTS = [
    "query GetProjectPyApi($param_0: ID!){project(where: {id: $param_0}){autoAuditNumberOfLabels autoAuditPercentage "
    "createdAt description lastActivityTime allowedMediaType name queueMode setupComplete id updatedAt}}",
    "mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!){\n          "
    "exportDataRowsInProject(input: $input) {taskId} }\n          ",
    "query GetUserPyApi{user{createdAt email intercomHash isExternalUser isViewer nickname name picture id updatedAt}}",
    "query GetUserCreatedTasksPyApi($param_0: ID!, $param_1: ID!){user(where: {id: $param_1}){createdTasks(where: "
    "{id: $param_0} skip: 0 first: 100){completionPercentage createdAt errors name result status type id updatedAt}}}",
    "query GetProjectPyApi($param_0: ID!){project(where: {id: $param_0}){autoAuditNumberOfLabels autoAuditPercentage "
    "createdAt description editorTaskType lastActivityTime allowedMediaType name queueMode setupComplete id "
    "updatedAt}}",
    "mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!){exportDataRowsInProject(input: "
    "$input){taskId isStreamable}}",
    "query GetUserCreatedTasksPyApi($param_0: ID!, $param_1: ID!){user(where: {id: $param_1}){createdTasks(where: "
    "{id: $param_0} skip: 0 first: 100){completionPercentage createdAt errors metadata name result status type id "
    "updatedAt}}}",
    "query GetExportMetadataHeaderPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!){task(where: "
    "$where){exportMetadataHeader(streamType: $streamType){totalSize totalLines}}}",
    "query GetExportFileFromOffsetPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!, $offset: UInt64!)"
    "{task(where: $where){exportFileFromOffset(streamType: $streamType, offset: $offset){offsets {start end} lines "
    "{start end} file}}}",
    "query GetProjectPyApi($param_0: ID!){project(where: {id: $param_0}){autoAuditNumberOfLabels autoAuditPercentage "
    "createdAt dataRowCount description editorTaskType isBenchmarkEnabled isConsensusEnabled lastActivityTime "
    "allowedMediaType modelSetupComplete name setupComplete id updatedAt uploadType}}",
    "query GetUserPyApi{user{createdAt email isExternalUser isViewer lastLoginAt nickname name picture id updatedAt}}",
    "query GetUserCreatedTasksPyApi($param_0: ID!, $param_1: ID!){user(where: {id: $param_1}){createdTasks(where: "
    "{id: $param_0} skip: 0 first: 100){completionPercentage createdAt errors metadata name result status status "
    "type id updatedAt}}}",
    "query GetOrganizationPyApi{organization{createdAt name id updatedAt}}",
    "query GetLabelingFrontendsPyApi($param_0: Boolean!){labelingFrontends(where: {deleted: $param_0} skip: 0 "
    "first: 100){description iframeUrlPath name id}}",
    "query GetProjectLabelingFrontendPyApi($param_0: ID!){project(where: {id: $param_0}){labelingFrontend"
    "{description iframeUrlPath name id}}}",
    "query GetProjectOrganizationPyApi($param_0: ID!){project(where: {id: $param_0}){organization{createdAt name id "
    "updatedAt}}}",
    "query GetProjectCreatedByPyApi($param_0: ID!){project(where: {id: $param_0}){createdBy{createdAt email "
    "intercomHash isExternalUser isViewer nickname name picture id updatedAt}}}",
    "query GetProjectCreatedByPyApi($param_0: ID!){project(where: {id: $param_0}){createdBy{createdAt email "
    "isExternalUser isViewer lastLoginAt nickname name picture id updatedAt}}}",
    "query CurrentUserPyApi { user { timezone } }",
    "mutation GetLabelExportUrlPyApi($projectId: ID!)\n            {exportLabels(data:{projectId: $projectId}) "
    "{downloadUrl createdAt shouldPoll} }\n        ",
    "mutation GetLabelExportUrlPyApi($projectId: ID!)\n            {exportLabels(data:{projectId: $projectId, "
    'filters: {labelCreatedAt: {start: "2020-01-01",end: "2030-01-01 00:00:00"},lastActivityAt: {start: '
    '"2020-01-01"} }}) {downloadUrl createdAt shouldPoll} }\n        ',
    "mutation GetLabelExportUrlPyApi($projectId: ID!)\n            {exportLabels(data:{projectId: $projectId, "
    'filters: {labelCreatedAt: {start: "2020-01-01"} }}) {downloadUrl createdAt shouldPoll} }\n        ',
    "mutation GetLabelExportUrlPyApi($projectId: ID!)\n            {exportLabels(data:{projectId: $projectId, "
    'filters: {labelCreatedAt: {start: "2020-01-01",end: "2030-01-01 00:00:00"},lastActivityAt: {start: '
    '"2020-01-01",end: "2030-01-01"} }}) {downloadUrl createdAt shouldPoll} }\n        ',
    "query GetExportFileFromLinePyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!, $line: UInt64!)"
    "{task(where: $where){exportFileFromLine(streamType: $streamType, line: $line){offsets {start end} lines "
    "{start end} file}}}",
    """
            query GetUserCreatedTasksPyApi($userId: ID!, $taskId: ID!) {
            user(where: {id: $userId}) {
                createdTasks(where: {id: $taskId} skip: 0 first: 1) {
                    completionPercentage
                    createdAt
                    errors
                    metadata
                    name
                    result
                    status
                    type
                    id
                    updatedAt
                }
            }
        }
        """,
]


@pytest.fixture(scope="module")
def client():
    return mocks.flask_client(WORLD, file_bytes=4_000)


# Not a speed check (benchmarks measure speed): unbounded work on these documents takes years
# (2**40 fields), so a generous bound tells "refused early" from "hung" even on a loaded CI machine.
HANG_SECONDS = 30.0


def post(client, body: bytes | dict, headers=KEY):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    started = time.perf_counter()
    reply = WireClient(FlaskTransport(client), "limits-key").post_graphql(
        data, {**headers, "Content-Type": "application/json"})
    elapsed = time.perf_counter() - started
    assert reply.status < 500
    return reply.status, reply.json(), elapsed


def assert_over_limit(client, query: str, variables=None):
    status, body, elapsed = post(client, {"query": query, "variables": variables})
    assert status == 400, body
    assert body["errors"][0]["message"] == COMPLEXITY_MESSAGE
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "data" not in body
    assert elapsed < HANG_SECONDS, f"rejecting took {elapsed:.2f} s"


def nested(depth: int, leaf: str = "id") -> str:
    """``{a{a{...{id}}}}`` with ``depth`` field levels in all (the leaf included)."""
    return "{" + "user{" * (depth - 1) + leaf + "}" * (depth - 1) + "}"


# ------------------------------------------------------------------ the SDK's documents stay inside


def sdk_variables(document: str, task_id: str) -> dict:
    """The variables each SDK document is sent with, naming this world's objects."""
    project, user = WORLD.project.id, WORLD.project.owner.id
    name = document.split("(")[0].split("{")[0].split()[-1]
    if name == "GetUserCreatedTasksPyApi":
        return {"param_0": task_id, "param_1": user, "userId": user, "taskId": task_id}
    if name == "GetLabelingFrontendsPyApi":
        return {"param_0": False}
    if name == "exportDataRowsInProjectPyApi":
        return export_variables(project, {"label_details": True})
    if name.startswith("GetExport"):
        return {"where": {"id": task_id}, "streamType": "RESULT", "offset": "0", "line": 0}
    return {"param_0": project, "projectId": project}


@pytest.mark.parametrize("document", SDK_DOCUMENTS, ids=lambda d: d.split("(")[0].split("{")[0].strip()[:60])
def test_every_sdk_document_is_within_the_limits_and_answered(client, document):
    assert within_limits(parse(document))
    task_id = post(client, {"query": SDK_DOCUMENTS[5], "variables": sdk_variables(SDK_DOCUMENTS[5], "")})[1]
    task_id = task_id["data"]["exportDataRowsInProject"]["taskId"]
    status, body, _ = post(client, {"query": document, "variables": sdk_variables(document, task_id)})
    assert status == 200 and "errors" not in body, body
    assert all(value is not None for value in body["data"].values())


@pytest.mark.lb_server_options(file_bytes=4_000)
def test_the_sdk_export_flow_still_works_end_to_end(lb_mock):
    project = lb.Client(**lb_mock.client_kwargs).get_project(lb_mock.project_id)
    rows = exported(project, {"label_details": True})
    assert [r["data_row"]["id"] for r in rows] == [r.id for r in WORLD]


# ------------------------------------------------------------------ depth


def test_depth_at_the_limit_is_not_a_limit_error_but_one_more_is():
    assert within_limits(parse(nested(MAX_DEPTH)))
    assert not within_limits(parse(nested(MAX_DEPTH + 1)))


def test_deep_query(client):
    assert_over_limit(client, nested(MAX_DEPTH + 1))
    assert_over_limit(client, nested(200))


def test_deep_query_through_fragments(client):
    chain = " ".join(f"fragment F{i} on User {{ createdTasks {{ id ...F{i + 1} }} }}" for i in range(MAX_DEPTH))
    assert_over_limit(client, f"query Q {{ user {{ ...F0 }} }} {chain} fragment F{MAX_DEPTH} on User {{ id }}")


def test_bracket_nesting_never_reaches_the_recursive_parser(client):
    # far deeper than Python's recursion limit allows the parser to go
    assert_over_limit(client, "{" * 20_000 + "}" * 20_000)
    assert_over_limit(client, '{project(where: {id: "x", y: ' + "[" * 5_000 + "]" * 5_000 + "}){id}}")
    assert_over_limit(client, "{" * (MAX_NESTING + 1) + "id" + "}" * (MAX_NESTING + 1))


# ------------------------------------------------------------------ width


def test_wide_query_many_aliases(client):
    assert_over_limit(client, "{" + " ".join(f"a{i}: user {{ id }}" for i in range(MAX_ALIASES + 1)) + "}")


def test_wide_query_many_fields(client):
    assert_over_limit(client, "{user{" + " id" * (MAX_COMPLEXITY + 1) + "}}")
    assert_over_limit(client, "{user{" + " id" * 14_000 + "}}")  # close under the token cap


def test_complexity_boundary():
    at_limit = "{user{" + " id" * (MAX_COMPLEXITY - 1) + "}}"  # user + 499 ids
    assert within_limits(parse(at_limit))
    assert not within_limits(parse(at_limit.replace("{user{", "{user{ id")))


def test_too_many_operations(client):
    ops = " ".join(f"query Q{i} {{ user {{ id }} }}" for i in range(MAX_OPERATIONS + 1))
    assert_over_limit(client, ops)
    ok = " ".join(f"query Q{i} {{ user {{ id }} }}" for i in range(3))
    status, body, _ = post(client, {"query": ok, "operationName": "Q1"})
    assert status == 200 and body["data"]["user"]["id"] == WORLD.project.owner.id


def test_too_many_tokens_or_characters(client):
    assert_over_limit(client, "{user{id}}" + " " * 300_000)
    assert_over_limit(client, "{user{id}} " + "# comment\n" * 30_000)  # comments are skipped, the size is not
    assert_over_limit(client, '{project(where: {id: "x"}){id}} ' + "query Q { __typename } " * 2_000)


# ------------------------------------------------------------------ fragments


def test_fragment_bomb(client):
    # F{i} spreads F{i-1} twice: 2**40 fields once expanded; costed once per fragment
    levels = 40
    fragments = ["fragment F0 on User { id name }"] + [
        f"fragment F{i} on User {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels)]
    assert_over_limit(client, f"query Bomb {{ user {{ ...F{levels - 1} }} }} " + " ".join(fragments))


def test_fragment_cycles_are_a_validation_error_not_a_hang(client):
    query = ("query Q { user { ...A } } fragment A on User { id ...B } fragment B on User { name ...A }")
    status, body, elapsed = post(client, {"query": query})
    assert status == 400 and elapsed < HANG_SECONDS
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Cannot spread fragment" in body["errors"][0]["message"]
    self_cycle = "query Q { user { ...A } } fragment A on User { ...A }"
    status, body, _ = post(client, {"query": self_cycle})
    assert status == 400 and "Cannot spread fragment" in body["errors"][0]["message"]


def test_long_fragment_chains(client):
    chain = " ".join(f"fragment F{i} on User {{ ...F{i + 1} }}" for i in range(1_500))
    assert_over_limit(client, f"query Q {{ user {{ ...F0 }} }} {chain} fragment F1500 on User {{ id }}")


def test_unknown_fragments_are_validation_errors(client):
    status, body, _ = post(client, {"query": "query Q { user { ...Nope } }"})
    assert status == 400 and "Unknown fragment 'Nope'" in body["errors"][0]["message"]


# ------------------------------------------------------------------ bodies and filters


def test_oversized_request_body_is_a_json_413(client):
    big = b'{"query": "{user{id}}", "variables": {"x": "' + b"a" * MAX_BODY_BYTES + b'"}}'
    status, body, _ = post(client, big)
    assert status == 413
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE" and str(MAX_BODY_BYTES) in error["message"]
    # REST endpoints: the app's JSON error shape
    resp = client.post("/_mock/faults", data=big, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413 and orjson.loads(resp.data)["code"] == "REQUEST_ENTITY_TOO_LARGE"
    # just under the limit is served
    fits = b'{"query": "{user{id}}", "variables": {"x": "' + b"a" * (MAX_BODY_BYTES - 100) + b'"}}'
    status, body, _ = post(client, fits)
    assert status == 200 and body["data"]["user"]["id"]


def test_2001_ids_in_a_filter_is_a_clear_error(client):
    export = ("mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!)"
              "{exportDataRowsInProject(input: $input){taskId isStreamable}}")

    def variables(n: int, kind: str = "data_row_id") -> dict:
        query = [{"ids": [f"c{i:024d}" for i in range(n)], "operator": "is", "type": kind}]
        return export_variables(WORLD.project.id, filters=query)

    for kind in ("data_row_id", "global_key", "batch"):
        status, body, _ = post(client, {"query": export, "variables": variables(2001, kind)})
        assert status == 400
        assert body["errors"][0]["message"] == f"{kind} filter only supports a max of 2000 items"
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    status, body, _ = post(client, {"query": export, "variables": variables(2000)})
    assert status == 200 and body["data"]["exportDataRowsInProject"]["taskId"]


# ------------------------------------------------------------------ through the SDK


def test_sdk_raises_validation_failed_error_for_a_deep_query(lb_mock):
    client = lb.Client(**lb_mock.client_kwargs)
    with pytest.raises(lbx.ValidationFailedError):
        client.execute("query DeepPyApi " + nested(MAX_DEPTH + 5))
    with pytest.raises(lbx.ValidationFailedError):
        client.execute("query WidePyApi {" + " ".join(f"a{i}: user {{ id }}" for i in range(300)) + "}")
    # an ordinary invalid query is still InvalidQueryError, and the client still works after
    with pytest.raises(lbx.InvalidQueryError):
        client.execute("query NopePyApi { user { nope } }")
    assert client.execute("query MePyApi { user { id } }")["user"]["id"] == WORLD.project.owner.id
