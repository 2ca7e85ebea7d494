"""The state manager (moto_api style): how export tasks and legacy exports progress, set over HTTP,
from Python and on the command line, driven through the real labelbox 7.17.0 SDK."""

from __future__ import annotations

import time

import labelbox as lb
import mocks
import pytest
import requests
from sdk_streams import buffered

from lbmock.cli import build_parser
from lbmock.contract_tests.wire import FlaskTransport, WireClient
from lbmock.mockserver.backend.state_manager import Transition, TransitionError
from lbmock.mockserver.cli import _server_config

pytestmark = pytest.mark.lb_world(seed=21, rows=12)
PARAMS = {"label_details": True}
MANUAL_3 = {"progression": "manual", "times": 3}


def status_reads(client, task) -> list[str]:
    """The status of every read of the task: the SDK's own read when export() returns it, then
    one client.get_task_by_id (the SDK's refresh) at a time until it leaves IN_PROGRESS."""
    seen = [task.status]
    while seen[-1] == "IN_PROGRESS" and len(seen) < 20:
        seen.append(client.get_task_by_id(task.uid).status)
    return seen


def test_manual_three_reads_in_progress_then_complete_over_http(lb_server, lb_world):
    base = lb_server.base_url
    answer = requests.post(f"{base}/_mock/state-manager/set-transition",
                           json={"model_name": "export-task", "transition": MANUAL_3})
    assert answer.status_code == 200 and answer.json()["transition"] == MANUAL_3
    assert requests.get(f"{base}/_mock/state-manager/get-transition",
                        params={"model_name": "export-task"}).json()["transition"] == MANUAL_3
    client = lb.Client(**lb_server.client_kwargs)
    task = client.get_project(lb_server.project_id).export(params=PARAMS)
    assert status_reads(client, task) == ["IN_PROGRESS"] * 3 + ["COMPLETE"]
    task.wait_till_done()  # complete already: no sleeping poll
    assert len(buffered(task)) == len(lb_world)
    # unset: back to the server's default, immediate
    unset = requests.post(f"{base}/_mock/state-manager/unset-transition", json={"model_name": "export-task"})
    assert unset.json()["transition"] == {"progression": "immediate"}
    assert status_reads(client, client.get_project(lb_server.project_id).export(params=PARAMS)) == ["COMPLETE"]


def test_python_api_and_rising_completion(lb_mock):
    lb_mock.state_manager.set_transition("export-task", {"progression": "manual", "times": 4})
    assert lb_mock.state_manager.get_transition("export-task") == Transition.manual(4)
    client = lb.Client(**lb_mock.client_kwargs)
    task = client.get_project(lb_mock.project_id).export(params=PARAMS)
    percents = [client.get_task_by_id(task.uid).completion_percentage for _ in range(4)]
    assert percents == sorted(percents) and percents[-1] == 100.0 and percents[0] < 100.0
    lb_mock.reset()  # clears transitions with the rest
    assert lb_mock.state_manager.get_transition("export-task") == Transition.immediate()


def test_a_task_advanced_over_http_completes_and_another_fails(lb_server, lb_world):
    base = lb_server.base_url
    requests.post(f"{base}/_mock/state-manager/set-transition",
                  json={"model_name": "export-task", "transition": {"progression": "manual", "times": 10**6}})
    client = lb.Client(**lb_server.client_kwargs)
    project = client.get_project(lb_server.project_id)
    task = project.export(params=PARAMS)
    assert client.get_task_by_id(task.uid).status == "IN_PROGRESS"
    moved = requests.post(f"{base}/_mock/tasks/{task.uid}/advance")
    assert moved.status_code == 200 and moved.json()["status"] == "COMPLETE"
    task.wait_till_done()
    assert task.status == "COMPLETE" and len(buffered(task)) == len(lb_world)

    doomed = project.export(params=PARAMS)
    failed = requests.post(f"{base}/_mock/tasks/{doomed.uid}/advance", json={"fail": True})
    assert failed.json()["status"] == "FAILED"
    doomed.wait_till_done()
    assert doomed.status == "FAILED"
    assert requests.post(f"{base}/_mock/tasks/cnosuchtask/advance").status_code == 404


def test_time_progression(lb_mock):
    lb_mock.state_manager.set_transition("export-task", {"progression": "time", "seconds": 0.6})
    client = lb.Client(**lb_mock.client_kwargs)
    task = client.get_project(lb_mock.project_id).export(params=PARAMS)
    assert task.status == "IN_PROGRESS" and task.completion_percentage < 100
    time.sleep(0.7)
    assert client.get_task_by_id(task.uid).status == "COMPLETE"


def test_bad_transitions_get_a_400(lb_world):
    client = mocks.flask_client(lb_world)
    for body in ({"model_name": "nope", "transition": {"progression": "immediate"}},
                 {"model_name": "export-task", "transition": {"progression": "manual"}},
                 {"model_name": "export-task", "transition": {"progression": "time", "seconds": -1}},
                 {"model_name": "export-task", "transition": {"progression": "sometimes"}},
                 {"model_name": "export-task"}, [1, 2]):
        answer = client.post("/_mock/state-manager/set-transition", json=body)
        assert answer.status_code == 400 and answer.json["code"] == "BAD_REQUEST", body
    assert client.get("/_mock/state-manager/get-transition", query_string={"model_name": "nope"}).status_code == 400
    assert client.get("/_mock/state-manager/get-transition").json == {"transitions": {  # every model's
        "export-task": {"progression": "immediate"}, "legacy-export": {"progression": "manual", "times": 1}}}
    assert client.post("/_mock/state-manager/unset-transition", json={"model_name": 3}).status_code == 400
    assert client.post("/_mock/tasks/x/advance", json={"fail": "yes"}).status_code == 400


def test_command_line_spellings():
    def transitions(*argv: str) -> dict:
        args = build_parser().parse_args(["serve", *argv])
        return dict(_server_config(args, b"k" * 32, None).transitions)

    assert transitions() == {"legacy-export": Transition.manual(1)}  # the built-in defaults, spelled out
    assert transitions("--transition", "export-task=manual:3")["export-task"] == Transition.manual(3)
    assert transitions("--task-delay", "2.5", "--legacy-polls", "4") == {
        "export-task": Transition.after(2.5), "legacy-export": Transition.manual(4)}
    assert transitions("--task-delay", "2", "--transition", "export-task=immediate")["export-task"] == (
        Transition.immediate())
    for bad in ("export-task", "nope=immediate", "export-task=manual", "export-task=time:x", "legacy-export=soon"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--transition", bad])
    with pytest.raises(TransitionError):
        Transition.parse("manual:-1")


def test_server_default_transitions_and_legacy_polls():
    # --legacy-polls 3 == legacy-export manual 3: shouldPoll three times, then the URL
    _, app = mocks.serve_app("--seed", "21", "--rows", "12", "--legacy-polls", "3")
    wire = WireClient(FlaskTransport(app.test_client()), "k", app.extensions["lbmock"].world.project.id,
                      poll_interval=0)
    export = wire.legacy_export(timeout=5)
    assert [a["shouldPoll"] for a in export.answers] == [True, True, True, False] and len(export.rows) > 0
