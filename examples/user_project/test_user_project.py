"""What a user's suite looks like with lbmock beside responses and Hypothesis (issue 24's "Done when")."""

from __future__ import annotations

import labelbox
import pytest
from hypothesis import given, settings
from lbox.exceptions import InvalidQueryError
from pipeline import project_report

from lbmock.strategies import worlds


def test_responses_for_another_host_beside_lb_mock(lb_mock, weather_api):
    client = labelbox.Client(**lb_mock.client_kwargs)
    assert project_report(client, lb_mock.project_id) == {"project": lb_mock.world.project.name, "sky": "clear"}
    assert len(weather_api.calls) == 1  # the user's mock saw its host only


@settings(max_examples=5, deadline=None, database=None)
@given(world=worlds(min_rows=1, max_rows=3, n_projects=1))
def test_given_over_served_worlds(lb_mock_session, world):
    # lb_mock_session is session-scoped (no health-check complaint); serving() gives each example its world
    with lb_mock_session.serving(world) as lb:
        project = labelbox.Client(api_key=lb.api_key).get_project(world.project.id)
        assert project.name == world.project.name


def test_a_stub_overrides_one_operation(lb_mock):
    lb_mock.stub(operation="GetProjectPyApi", response=lambda call: {"project": {"name": "From my stub"}}, times=1)
    client = labelbox.Client(**lb_mock.client_kwargs)
    answer = client.execute("query GetProjectPyApi($id: ID!) { project(where: {id: $id}) { name } }",
                            {"id": lb_mock.project_id})
    assert answer == {"project": {"name": "From my stub"}}


def test_an_unsupported_call_says_so(lb_mock):
    client = labelbox.Client(**lb_mock.client_kwargs)
    with pytest.raises(InvalidQueryError, match="lbmock does not emulate `createDataset`"):
        client.create_dataset(name="x")
