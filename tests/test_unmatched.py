"""Unmatched requests, reported as WireMock reports near misses: a GraphQL document the schema
refuses, or a route that does not exist, is answered in the API's error shape naming the closest
thing the mock knows, journaled as unmatched (``GET /_mock/journal?unmatched=1``) and announced
once on ``lbmock serve``'s stderr."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import labelbox as lb
import pytest
import requests
from lbox.exceptions import InvalidQueryError

from lbmock.contract_tests.wire import start_serve
from lbmock.mockserver.handlers.emulated import refusal

pytestmark = pytest.mark.lb_world(seed=3, rows=5)
MISSPELT_EXPORT = """mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!) {
  exportDataRowsInProjectPyApii(input: $input) { taskId isStreamable } }"""


def unmatched(base: str) -> list[dict]:
    answer = requests.get(f"{base}/_mock/journal", params={"unmatched": "1"}, timeout=10)
    assert answer.status_code == 200
    return answer.json()["entries"]


def test_sdk_unknown_field_names_the_closest_real_field_and_is_journaled_unmatched(lb_server):
    client = lb.Client(**lb_server.client_kwargs)
    client.get_project(lb_server.project_id)  # a matched request: not listed as unmatched
    with pytest.raises(InvalidQueryError) as raised:
        client.execute(MISSPELT_EXPORT, {"input": {}})
    message = str(raised.value)
    assert "Cannot query field 'exportDataRowsInProjectPyApii' on type 'Mutation'" in message
    assert "Did you mean 'exportDataRowsInProject'" in message  # the closest real field comes first
    # an argument, a type and an enum value: each named, closest first
    with pytest.raises(InvalidQueryError, match="Did you mean 'where'"):
        client.execute('query P { project(wher: {id: "x"}) { id } }')
    with pytest.raises(InvalidQueryError, match="Did you mean 'WhereUniqueIdInput'"):
        client.execute("query P($w: WhereUniqueIdInputt!) { project(where: $w) { id } }", {"w": {"id": "x"}})
    with pytest.raises(InvalidQueryError, match="Did you mean 'RESULT'"):
        client.execute("query H($t: TaskStreamType!) { task(where: {id: \"x\"}) "
                       "{ exportMetadataHeader(streamType: $t) { totalSize } } }", {"t": "RESULTS"})
    # nothing close: the message says where it looked and what is there
    with pytest.raises(InvalidQueryError) as raised:
        client.execute("mutation Z { zzz { taskId } }")
    assert "No field of 'Mutation' is close to 'zzz'; there are: exportDataRowsInCatalog" in str(raised.value)

    entries = unmatched(lb_server.base_url)
    assert [e["operation"] for e in entries] == ["exportDataRowsInProjectPyApi", "P", "P", "H", "Z"]
    assert entries[0]["unmatched"] in message and entries[0]["status"] == 400 and entries[0]["path"] == "/graphql"
    assert all(e["unmatched"] for e in entries)
    every = lb_server.journal.entries()
    assert len(every) > len(entries) and lb_server.journal.entries(unmatched=False)  # matched ones are not listed


def test_unknown_route_names_the_closest_route_pattern_aware(lb_server):
    base, auth = lb_server.base_url, {"Authorization": "Bearer any-key"}
    wrong = requests.get(f"{base}/api/v1/export-result/ctask0000000000000000000/corg", headers=auth, timeout=10)
    assert wrong.status_code == 404
    assert wrong.json() == {"code": "NOT_FOUND", "error": refusal(  # issue 24: honest, with the near miss
        "GET /api/v1/export-result/ctask0000000000000000000/corg",
        closest="No such route. Did you mean GET /api/v1/export-results/<task_id>/<org_id>?")}
    short = requests.get(f"{base}/v1/frame/cl0label", headers=auth, timeout=10)
    assert "Did you mean GET /v1/frames/<label_id>?" in short.json()["error"]
    method = requests.get(f"{base}/graphql", headers=auth, timeout=10)  # the SDK POSTs
    assert method.status_code == 405 and "POST" in method.headers["Allow"]
    assert method.json()["error"].startswith("lbmock does not emulate `GET /graphql`. Method not allowed; "
                                             "/graphql answers POST")
    far = requests.get(f"{base}/nothing-like-it", timeout=10)
    assert far.status_code == 404 and "nor one like it (routes: /, /_gql, /api/v1/export-errors" in far.json()["error"]
    admin = requests.post(f"{base}/_mock/fault", json={"name": "rate-limit"}, timeout=10)
    assert admin.status_code == 404 and "Did you mean POST /_mock/faults?" in admin.json()["error"]
    # a known route with an unknown id is matched: a plain 404, not a near miss
    task = requests.get(f"{base}/api/v1/export-results/cnotask/corg", headers=auth, timeout=10)
    assert task.status_code == 404

    entries = unmatched(base)
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/api/v1/export-result/ctask0000000000000000000/corg", 404), ("GET", "/v1/frame/cl0label", 404),
        ("GET", "/graphql", 405), ("GET", "/nothing-like-it", 404), ("POST", "/_mock/fault", 404)]
    assert entries[0]["unmatched"] == wrong.json()["error"]


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
def test_serve_announces_each_unmatched_reason_once_on_stderr(tmp_path, workers):
    with start_serve("--seed", "3", "--rows", "5", "--workers", str(workers), log_dir=tmp_path) as server:
        base = server.base_url
        close = {"Connection": "close"}  # a fresh connection each time: any worker may answer

        def bad_pair(_: int) -> set[str]:
            route = requests.get(f"{base}/api/v1/export-result/t/o", headers=close, timeout=10)
            query = requests.post(f"{base}/graphql", json={"query": "query Q { projectt(where: {id: \"x\"}) { id } }"},
                                  headers={**close, "Authorization": "Bearer k"}, timeout=10)
            assert (route.status_code, query.status_code) == (404, 400)
            return {route.headers["X-Lbmock-Worker"], query.headers["X-Lbmock-Worker"]}

        seen: set[str] = set()
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(20):  # concurrent rounds until several workers have answered (one round when 1)
                for workers_of_pair in pool.map(bad_pair, range(8)):
                    seen |= workers_of_pair
                sent += 8
                if len(seen) >= workers:
                    break
        assert len(seen) == workers, f"requests never spread across the workers: {seen}"
        assert len(unmatched(base)) == 2 * sent
        server.stop()
        lines = [line for line in server.stderr.read_text().splitlines() if "unmatched request" in line]
    assert sorted(lines) == [  # each reason once, whichever worker met it first
        "lbmock: unmatched request: POST /graphql: " + refusal(
            "projectt", closest="Cannot query field 'projectt' on type 'Query'. Did you mean 'project' or 'projects'?",
            operation="Q"),
        "lbmock: unmatched request: " + refusal(
            "GET /api/v1/export-result/t/o",
            closest="No such route. Did you mean GET /api/v1/export-results/<task_id>/<org_id>?"),
    ]


@pytest.mark.parametrize(("query", "variables", "operation", "hint"), [
    ('query Q { project(where: {id: "x"}) { id @skipp(if: true) } }', None, None, "Did you mean '@skip'?"),
    ('query Q { project(where: {idd: "x"}) { id } }', None, None, "Did you mean 'id'?"),
    ("query Q($w: WhereUniqueIdInput!) { project(where: $w) { id } }", {"w": {"idd": "x"}}, None,
     "Did you mean 'id'?"),  # refused while coercing variables, not by validation
    ('query GetProject { project(where: {id: "x"}) { id } }', None, "GetProjct", "Did you mean 'GetProject'?"),
    ('query Q { project(where: {id: "x"}) { id } }', None, "Zzz",
     "No operation in the document is close to 'Zzz'; there are: Q."),
])
def test_each_kind_of_refusal_names_the_closest_name(lb_server, query, variables, operation, hint):
    answer = requests.post(f"{lb_server.base_url}/graphql", timeout=10, headers={"Authorization": "Bearer k"},
                           json={"query": query, "variables": variables, "operationName": operation})
    assert answer.status_code == 400
    error = answer.json()["errors"][-1]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and hint in error["message"]
    assert [e["unmatched"] for e in unmatched(lb_server.base_url)] == ["; ".join(
        e["message"] for e in answer.json()["errors"])]
