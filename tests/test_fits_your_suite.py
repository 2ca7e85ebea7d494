"""Issue 24: lbmock fits the test suite a user already has.  One section per point of "Deliver"."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import labelbox
import pytest
import requests
import responses
from hypothesis import find, given, settings
from lbox.exceptions import InvalidQueryError, LabelboxError

from lbmock.mockserver import ThreadedMockServer, mock_labelbox
from lbmock.mockserver.gql.schema import labelbox_schema
from lbmock.mockserver.handlers.emulated import EMULATED, emulated_root_fields, markdown_table
from lbmock.mockserver.http.intercept import MockNotActiveError
from lbmock.strategies import worlds
from lbmock.world_spec import WorldSpec

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_network(monkeypatch):
    """Any real connection attempt fails the test (lbmock must never let one out)."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a real connection was attempted: {args[:1]}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# ---------------------------------------------------------------- 1. beside responses


def test_lbmock_inside_a_users_responses_mock(no_network):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, "https://example.org/weather", json={"sunny": True})
        rsps.add(responses.GET, "https://api.labelbox.com/never", json={})  # lbmock's hosts never reach it
        with mock_labelbox(rows=3) as lb:
            project = labelbox.Client(api_key=lb.api_key).get_project(lb.project_id)
            assert project.uid == lb.project_id
            assert requests.get("https://example.org/weather").json() == {"sunny": True}
            with pytest.raises(requests.ConnectionError, match="Connection refused by Responses"):
                requests.get("https://example.org/unstubbed")  # as the user's mock decides
            assert requests.get("https://api.labelbox.com/never").status_code == 404  # lbmock answered
        assert all("labelbox.com" not in call.request.url for call in rsps.calls)
        rsps.remove(responses.GET, "https://api.labelbox.com/never")


def test_responses_started_inside_lbmock_and_as_a_decorator(lb_mock, no_network):
    responses.start()
    try:
        responses.add(responses.POST, "https://hooks.example.org/notify", json={"ok": 1})
        client = labelbox.Client(**lb_mock.client_kwargs)
        assert client.get_project(lb_mock.project_id).uid == lb_mock.project_id
        assert requests.post("https://hooks.example.org/notify").json() == {"ok": 1}
    finally:
        responses.stop()
        responses.reset()

    @responses.activate
    def decorated() -> str:
        responses.add(responses.GET, "https://example.org/a", body="a")
        assert labelbox.Client(**lb_mock.client_kwargs).get_project(lb_mock.project_id).uid
        return requests.get("https://example.org/a").text

    assert decorated() == "a"
    assert lb_mock.journal.verify(2, operation="GetProjectPyApi")


# ---------------------------------------------------------------- 2. beside Hypothesis


@settings(max_examples=5, deadline=None, database=None)
@given(world=worlds(min_rows=1, max_rows=2, n_projects=1))
def test_given_with_the_session_fixture_passes_the_health_checks(lb_mock_session, world):
    with lb_mock_session.serving(world) as lb:  # this example's world, on a fresh backend
        client = labelbox.Client(api_key=lb.api_key)
        assert client.get_project(world.project.id).name == world.project.name
        assert lb.stubs.all() == [] and lb.journal.verify(1, operation="GetProjectPyApi")
    assert not lb_mock_session.active


def test_shrinking_reaches_a_minimal_served_world(lb_mock_session):
    def served_row_found(world) -> bool:
        with lb_mock_session.serving(world) as lb:
            client = labelbox.Client(api_key=lb.api_key)
            return any(client.get_data_row(row.id) is not None for row in world)

    smallest = find(worlds(max_rows=4, n_projects=1), served_row_found,
                    settings=settings(max_examples=40, database=None, deadline=None))
    assert len(smallest) == 1  # the minimal world that still holds a served row


# ---------------------------------------------------------------- 3. never the network


def test_objects_made_under_a_mock_never_reach_the_network_after_it(no_network):
    with mock_labelbox(rows=2) as lb:
        client = labelbox.Client(api_key=lb.api_key)
        late = labelbox.Client(api_key=lb.api_key)  # made under the mock, first used after it
        project = client.get_project(lb.project_id)
        task = project.export()
        task.wait_till_done()
        signed = next(iter(lb.world)).row_data if hasattr(next(iter(lb.world)), "row_data") else None
    with pytest.raises(LabelboxError, match=r"lbmock: POST https://api\.labelbox\.com/graphql was sent after"):
        client.get_project(lb.project_id)
    with pytest.raises(LabelboxError, match="had stopped"):
        late.get_user()
    with pytest.raises(MockNotActiveError):
        requests.get("https://api.labelbox.com/files/x?X-Lbmock-Expires=1&X-Lbmock-Signature=ab")  # a fresh session
    del signed, task


# ---------------------------------------------------------------- 4. honest refusals


def test_unsupported_sdk_calls_are_refused_by_name(lb_mock):
    client = labelbox.Client(**lb_mock.client_kwargs)
    with pytest.raises(InvalidQueryError, match=r"lbmock does not emulate `createDataset` \(client.create_dataset"):
        client.create_dataset(name="x")
    with pytest.raises(InvalidQueryError, match=r"does not emulate `users` \(client.get_users"):
        list(client.get_users())  # named from the SDK's X-SDK-Method header
    project = client.get_project(lb_mock.project_id)
    with pytest.raises(InvalidQueryError, match=r"does not emulate `\w+` \(project.create_batch"):
        project.create_batch("b", global_keys=["k"])
    refused = lb_mock.journal.entries(unmatched=True)
    assert [e.operation for e in refused] == ["CreateDatasetPyApi", "GetUsersPyApi",
                                              "CheckAllDataRowsHaveBeenProcessedPyApi"]
    # each refusal points at the page listing what is emulated, and that page exists
    assert all("docs/reference/sdk-calls.md" in e.unmatched for e in refused)
    assert (Path(__file__).parents[1] / "docs" / "reference" / "sdk-calls.md").is_file()


def test_an_sdk_call_wanting_a_field_lbmock_lacks_is_refused_by_name(lb_mock):
    """project.get_label_count() selects Project.labelCount (lbmock emulates `project`, not that field);
    project.batches() posts to the experimental /_gql endpoint: each is refused as an SDK call lbmock
    does not emulate, in GraphQL's shape the SDK raises word for word, not as a typo or a bare 404."""
    client = labelbox.Client(**lb_mock.client_kwargs)
    project = client.get_project(lb_mock.project_id)
    with pytest.raises(InvalidQueryError, match=r"^lbmock does not emulate `Project.labelCount` "
                                                r"\(project.get_label_count; operation LabelCountPyApi\)\. "
                                                r"Cannot query field 'labelCount' on type 'Project'"):
        project.get_label_count()
    with pytest.raises(InvalidQueryError, match=r"^lbmock does not emulate `Project.batches` \(project.batches; "):
        list(project.batches())
    refused = lb_mock.journal.entries(unmatched=True)
    assert [(e.operation, e.path) for e in refused] == [("LabelCountPyApi", "/graphql"),
                                                        ("GetProjectBatchesPyApi", "/_gql")]
    assert all("docs/reference/sdk-calls.md" in e.unmatched for e in refused)
    # the experimental endpoint is the same GraphQL endpoint: a stub answers there too
    no_batches = {"nodes": [], "pageInfo": {"endCursor": None}}
    lb_mock.stub(operation="GetProjectBatchesPyApi", response={"project": {"id": lb_mock.project_id,
                                                                           "batches": no_batches}})
    assert list(project.batches()) == []
    # and a misspelt field of a query lbmock emulates still names the closest real one
    with pytest.raises(InvalidQueryError, match=r"`Project.nmae`.*Did you mean 'name'\?"):
        client.execute('query P { project(where: {id: "x"}) { nmae } }')


def test_a_label_import_upload_is_refused_before_its_body_is_parsed(lb_mock):
    from labelbox.schema.annotation_import import LabelImport

    client = labelbox.Client(**lb_mock.client_kwargs)
    label = {"uuid": "9b1e1f7a-1b1b-4b1b-8b1b-1b1b1b1b1b1b", "dataRow": {"id": "x"}, "name": "Liver",
             "mask": {"instanceURI": "u", "colorRGB": [1, 2, 3]}}
    with pytest.raises(InvalidQueryError) as refused:
        LabelImport.create_from_objects(client, lb_mock.project_id, "import", [label])
    message = str(refused.value)
    assert "lbmock does not emulate `createLabelImport` (LabelImport.create_from_objects" in message
    assert "JSON" not in message and "digit" not in message


def test_unknown_rest_routes_are_refused_by_name(lb_mock):
    answer = requests.post("https://api.labelbox.com/api/v1/imports", headers={"Authorization": "Bearer k"})
    assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND"
    assert answer.json()["error"].startswith("lbmock does not emulate `POST /api/v1/imports`")


def test_the_table_is_the_schema_the_routes_and_the_docs():
    schema = labelbox_schema()
    roots = set(schema.query_type.fields) | set(schema.mutation_type.fields)
    assert roots == emulated_root_fields()  # a schema field without a table row (or back) is a lie
    from lbmock.mockserver.urls import ROUTES

    rules = {f"{m} {rule}" for family, routes in ROUTES.items() if family != "admin" for rule, _v, ms in routes
             for m in ms}
    for call in EMULATED:
        for route in call.routes:
            assert route.split(" (")[0] in rules, f"{call.sdk}: {route} is no route"
    # the docs' reference page is generated from the same table at every build (docs/reference_gen.py;
    # tests/test_docs.py builds it with --strict)
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import reference_gen
    finally:
        sys.path.remove(str(ROOT / "docs"))
    assert markdown_table() in reference_gen.sdk_calls()


# ---------------------------------------------------------------- 5. stubs


def test_a_stub_overrides_one_operation_and_answers_a_refused_one(lb_mock):
    client = labelbox.Client(**lb_mock.client_kwargs)
    query = "query GetProjectPyApi($id: ID!) { project(where: {id: $id}) { name } }"
    stub = lb_mock.stub(operation="GetProjectPyApi", variables={"id": lb_mock.project_id},
                        response={"project": {"name": "Stubbed"}}, times=1)
    assert client.execute(query, {"id": lb_mock.project_id}) == {"project": {"name": "Stubbed"}}
    assert client.execute(query, {"id": lb_mock.project_id})["project"]["name"] == lb_mock.world.project.name
    assert stub.hits == 1 and lb_mock.stubs.all() == []  # times=1: used up
    lb_mock.stub(operation="createDataset", response=lambda call: {"createDataset": {"id": "ds-" + call["variables"]
                                                                                     ["name"]}})
    made = client.execute("mutation M($name: String!) { createDataset(data: {name: $name}) { id } }", {"name": "x"})
    assert made == {"createDataset": {"id": "ds-x"}}
    entries = lb_mock.journal.entries(operation="M")
    assert entries[-1].stub and not entries[-1].unmatched  # journaled as the stub's answer
    lb_mock.stubs.clear()
    lb_mock.stub(operation="createDataset", variables={"name": "y"}, response={"createDataset": {"id": "y"}})
    with pytest.raises(InvalidQueryError, match="did not match: its variables differ"):  # a near miss
        client.create_dataset(name="x")


def test_rest_stubs_and_the_http_control_api():
    with ThreadedMockServer(rows=2) as srv:
        base = srv.base_url
        added = requests.post(f"{base}/_mock/stubs", json={"method": "GET", "path": "/api/v1/things/*",
                                                          "response": {"things": [1]}, "times": 2})
        assert added.status_code == 201, added.text
        assert requests.get(f"{base}/api/v1/things/7").json() == {"things": [1]}
        listed = requests.get(f"{base}/_mock/stubs").json()["stubs"]
        assert [(s["path"], s["hits"], s["times"]) for s in listed] == [("/api/v1/things/*", 1, 1)]
        assert "/api/v1/things/*" in requests.get(f"{base}/_mock/dashboard/faults").text  # on the dashboard
        assert requests.delete(f"{base}/_mock/stubs").json() == {"removed": 1, "stubs": []}
        assert requests.get(f"{base}/api/v1/things/7").status_code == 404
        bad = requests.post(f"{base}/_mock/stubs", json={"response": {}})
        assert bad.status_code == 400 and "either a GraphQL operation" in bad.json()["error"]
        assert srv.journal.entries(path="/api/v1/things/7")[0].stub


def test_stubs_never_leak_between_backends(lb_mock):
    lb_mock.stub(operation="GetUserPyApi", response={"user": {"id": "u"}})
    with mock_labelbox(rows=1) as other:
        assert other.stubs.all() == []
    with lb_mock.serving(WorldSpec(seed=1, rows=1)) as lb:
        assert lb.stubs.all() == []
    assert len(lb_mock.stubs.all()) == 1
    lb_mock.reset()
    assert lb_mock.stubs.all() == []


# ---------------------------------------------------------------- 6. one set of defaults


def test_every_entry_point_serves_worldspecs_default_world(lb_world, pytestconfig):
    default = WorldSpec()
    from lbmock.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for command in ("serve", "generate"):
        actions = {a.dest: a.default for a in sub.choices[command]._actions}
        assert (actions["seed"], actions["rows"]) == (default.seed, default.rows), command
    with mock_labelbox() as lb:
        assert (lb.world.seed, len(lb.world)) == (default.seed, default.rows)
    assert (lb_world.seed, len(lb_world)) == (default.seed, default.rows)
    assert (pytestconfig.getoption("--lb-seed"), pytestconfig.getoption("--lb-rows")) == (default.seed, default.rows)
    shown = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    shown = " ".join(shown.split())  # argparse wraps help lines
    assert f"(default: {default.seed}, WorldSpec's" in shown and f"(default: {default.rows}, WorldSpec's" in shown


# ---------------------------------------------------------------- 8. the sample user project


def test_the_sample_user_project_passes():
    project = ROOT / "examples" / "user_project"
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])  # this checkout's lbmock
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(project)], capture_output=True, text=True, cwd=project, timeout=600,
                          env={**os.environ, "PYTHONPATH": path})
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "skipped" not in summary and "4 passed" in summary, summary
