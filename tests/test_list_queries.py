"""``projects`` and ``datasets`` (``client.get_projects`` / ``get_datasets``) in-process: what the SDK
sends through labelbox 7.17.0, and the wire's edges (``skip``/``first`` at and past the end, every
``where`` shape lbmock refuses, each a 400 the SDK raises as ``InvalidQueryError``, never a 5xx).
tests/compat/test_compat_projects.py runs the SDK's own paging and filters through 3.40.1 to 7.17.0."""

from __future__ import annotations

import json

import labelbox
import pytest
import requests
from labelbox import Dataset, Project
from lbox.exceptions import InvalidQueryError  # labelbox 7.x raises it

pytestmark = pytest.mark.lb_world(seed=3, rows=6, projects=5)

PAGE = "query P($skip: Int, $first: Int) { projects(skip: $skip, first: $first) { id } }"


def _post(lb_mock, query: str, variables: dict | None = None) -> requests.Response:
    return requests.post("https://api.labelbox.com/graphql", json={"query": query, "variables": variables},
                         headers={"Authorization": f"Bearer {lb_mock.api_key}"}, timeout=30)


def test_get_projects_serves_every_project_and_filters(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    assert [p.uid for p in client.get_projects()] == [p.id for p in lb_world.projects]
    shared = next(p.name for p in lb_world.projects if sum(q.name == p.name for q in lb_world.projects) > 1)
    assert [p.uid for p in client.get_projects(where=Project.name == shared)] == [
        p.id for p in lb_world.projects if p.name == shared]
    last = lb_world.projects[-1]
    assert [p.uid for p in client.get_projects(where=(Project.uid == last.id) & (Project.name == last.name))] \
        == [last.id]
    assert [d.uid for d in client.get_datasets(where=Dataset.uid == lb_world.datasets[-1].id)] \
        == [lb_world.datasets[-1].id]
    entries = lb_mock.journal.entries(operation="GetProjectsPyApi")
    assert entries and not any(e.unmatched for e in entries)  # emulated, not refused


@pytest.mark.parametrize(("skip", "first", "expected"), [
    (0, 2, slice(0, 2)), (4, 2, slice(4, 5)), (5, 2, slice(5, 5)), (9, 100, slice(9, 9)), (0, 0, slice(0, 0)),
    (None, None, slice(0, 5)),  # explicit nulls: the defaults, skip 0 and first 100
])
def test_skip_and_first_page_at_and_past_the_end(lb_mock, lb_world, skip, first, expected):
    answer = _post(lb_mock, PAGE, {"skip": skip, "first": first})
    assert answer.status_code == 200, answer.text
    assert [p["id"] for p in answer.json()["data"]["projects"]] == [p.id for p in lb_world.projects][expected]


def test_a_negative_bound_is_refused(lb_mock):
    answer = _post(lb_mock, PAGE, {"skip": -1, "first": 2})
    assert answer.status_code == 400 and "must not be negative" in answer.text


def test_deleted_true_lists_nothing_and_a_where_variable_works(lb_mock, lb_world):
    query = "query Q($w: ListWhere) { projects(where: $w) { id } datasets(where: $w) { id } }"
    data = _post(lb_mock, query, {"w": {"deleted": True}}).json()["data"]
    assert data == {"projects": [], "datasets": []}  # nothing in a world is deleted
    first = lb_world.projects[0]
    nested = {"AND": [{"AND": [{"deleted": False}, {"name": first.name}]}, {"id": first.id}]}
    assert _post(lb_mock, query, {"w": nested}).json()["data"]["projects"] == [{"id": first.id}]
    deep = '{"AND": [' * 500 + json.dumps({"id": first.id}) + "]}" * 500  # about as deep as the JSON reader takes
    body = '{"query": ' + json.dumps(query) + ', "variables": {"w": ' + deep + '}}'
    answer = requests.post("https://api.labelbox.com/graphql", data=body, timeout=30, headers={
        "Authorization": f"Bearer {lb_mock.api_key}", "Content-Type": "application/json"})
    assert answer.json()["data"]["projects"] == [{"id": first.id}]


@pytest.mark.parametrize(("where", "says"), [
    ({"description": "x"}, "`description` is not supported"),
    ({"name_not": "x"}, "`name_not` is not supported"),
    ({"createdAt_gt": "2020-01-01"}, "`createdAt_gt` is not supported"),
    ({"OR": [{"name": "a"}, {"name": "b"}]}, "`OR` is not supported"),
    ({"AND": {"name": "a"}}, "AND must be a list"),
    ({"name": 5}, "`name` must be a str"),
    ({"deleted": "no"}, "`deleted` must be a bool"),
    ("name", "must be an object"),
    ({"AND": ["name"]}, "must be an object"),
])
def test_unsupported_where_is_a_clear_400(lb_mock, where, says):
    client = labelbox.Client(**lb_mock.client_kwargs)
    for field in ("projects", "datasets"):
        answer = _post(lb_mock, f"query Q($w: ListWhere) {{ {field}(where: $w) {{ id }} }}", {"w": where})
        assert answer.status_code == 400, answer.text
        (error,) = answer.json()["errors"]
        assert says in error["message"] and f"client.get_{field}(where=...) by name and id" in error["message"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    with pytest.raises(InvalidQueryError, match="`description` is not supported"):
        list(client.get_projects(where=Project.description == "x"))
