"""Labelbox's running-export limits through labelbox 7.17.0, in-process (issue 25, point 5).

The limits page allows at most 10 running exports in a project and 20 in an organization; the next
export is refused.  Labelbox's error shape is not public: the mock answers OPERATION_NOT_ALLOWED,
which the SDK raises as ``OperationNotAllowedException``.  "Running" is the state manager's
IN_PROGRESS: the ``stuck-task`` fault keeps a task running until it is advanced by hand.  The limits
are server options (``running_exports_per_project`` / ``_per_organization``, ``lbmock serve
--running-exports-per-project N``), and fault ``export-limit[:N]`` applies limit N (default 0) to the
creations it matches, so one or two exports reach them.
"""

from __future__ import annotations

import threading

import labelbox
import mocks
import pytest
from lbox.exceptions import OperationNotAllowedException  # labelbox 7.x raises it
from sdk_streams import buffered

from lbmock.mockserver import Fault
from lbmock.mockserver.backend.state_manager import EXPORT_TASK, Transition

pytestmark = pytest.mark.lb_world(seed=5, rows=12, projects=2)


def _stuck(lb, project):
    """An export that stays running (fault stuck-task), not waited for."""
    lb.fault(Fault.STUCK_TASK, times=1)
    return project.export(params={})


@pytest.mark.lb_server_options(running_exports_per_project=1)
def test_the_next_export_of_a_full_project_is_refused_until_one_finishes(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    first, second = (client.get_project(p.id) for p in lb_world.projects)
    running = _stuck(lb_mock, first)
    with pytest.raises(OperationNotAllowedException, match=f"project {first.uid} has 1 running exports"):
        first.export(params={})
    other = second.export(params={})  # another project: its own count
    other.wait_till_done()
    assert other.status == "COMPLETE"
    lb_mock.advance_task(running.uid)  # COMPLETE: no longer running
    again = first.export(params={})
    again.wait_till_done()
    assert again.status == "COMPLETE" and buffered(again)


@pytest.mark.lb_server_options(running_exports_per_organization=2)
def test_the_organization_limit_counts_every_project_and_catalog_exports(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    first, second = (client.get_project(p.id) for p in lb_world.projects)
    _stuck(lb_mock, first)
    _stuck(lb_mock, second)
    with pytest.raises(OperationNotAllowedException, match="the organization has 2 running exports"):
        client.get_dataset(lb_world.datasets[0].id).export(params={"all_projects": True})
    with pytest.raises(OperationNotAllowedException, match="the organization has 2 running exports"):
        first.export(params={})


@pytest.mark.lb_server_options(running_exports_per_project=1)
def test_a_refused_export_uses_no_fault_it_would_have_carried(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    project = client.get_project(lb_world.project.id)
    running = _stuck(lb_mock, project)
    lb_mock.fault(Fault.EXPORT_FAILS, times=1)
    with pytest.raises(OperationNotAllowedException, match="has 1 running exports"):
        project.export(params={})
    assert [f["name"] for f in lb_mock.faults.active()] == [Fault.EXPORT_FAILS.value]  # still there
    lb_mock.advance_task(running.uid)
    failing = project.export(params={})  # the next admitted export carries it
    failing.wait_till_done()
    assert failing.status == "FAILED" and lb_mock.faults.active() == []


def test_default_limits_are_labelboxs_and_finished_exports_do_not_count(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    project = client.get_project(lb_world.project.id)
    for _ in range(12):  # immediate tasks: finished, never running
        project.export(params={})
    stuck = [_stuck(lb_mock, project) for _ in range(10)]
    with pytest.raises(OperationNotAllowedException, match="at most 10 may run at once"):
        project.export(params={})
    lb_mock.advance_task(stuck[0].uid, fail=True)  # FAILED: no longer running either
    project.export(params={}).wait_till_done()


def test_fault_export_limit_reaches_the_limit_with_one_or_two_exports(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    project = client.get_project(lb_world.project.id)
    lb_mock.fault(Fault.EXPORT_LIMIT, times=1)  # limit 0: refused at once
    with pytest.raises(OperationNotAllowedException, match="at most 0 may run at once"):
        project.export(params={})
    project.export(params={}).wait_till_done()  # the fault's one use is spent
    lb_mock.fault(Fault.EXPORT_LIMIT, arg=1)  # limit 1 until cleared: a second running export is refused
    _stuck(lb_mock, project)
    with pytest.raises(OperationNotAllowedException, match="has 1 running exports, at most 1"):
        project.export(params={})
    lb_mock.faults.clear()
    project.export(params={})  # back to Labelbox's 10


def test_both_state_engines_list_the_tasks_that_may_still_run(state_location):
    """The limit's count reads ``unfinished_tasks`` (SQLite and PostgreSQL alike): tasks moved on by
    hand and tasks on the immediate transition are left out before their spec is parsed."""
    from lbmock.mockserver.backend.state import open_state

    s = open_state(state_location)
    s.put_task("t1", "alice", {"transition": {"progression": "immediate"}})
    s.put_task("t2", "bob", {"transition": {"progression": "never"}})
    s.put_task("t3", "bob", {"transition": {"progression": "manual", "times": 2}})
    s.bump_refresh("t3")
    s.advance_task("t2", "COMPLETE")
    assert s.unfinished_tasks() == [("t3", "bob", {"transition": {"progression": "manual", "times": 2}}, 1, None)]


CREATORS = 12  # clients exporting at once, released together


def _race(clients: list, project_id: str) -> list[str]:
    """Every client exports ``project_id`` at the same moment (a barrier; each from its own thread
    and connection); what each got: "created", or the message of the refusal the SDK raised."""
    projects = [client.get_project(project_id) for client in clients]
    start, outcomes = threading.Barrier(len(projects)), [""] * len(projects)

    def export(i: int) -> None:
        start.wait()
        try:
            projects[i].export(params={})
            outcomes[i] = "created"
        except OperationNotAllowedException as exc:
            outcomes[i] = str(exc)

    threads = [threading.Thread(target=export, args=(i,)) for i in range(len(projects))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes


def _exactly_one_created(outcomes: list[str], project_id: str) -> None:
    assert outcomes.count("created") == 1, outcomes
    refused = [o for o in outcomes if o != "created"]
    assert len(refused) == CREATORS - 1
    assert all(f"project {project_id} has 1 running exports, at most 1 may run at once" in o for o in refused), refused


@pytest.mark.lb_server_options(running_exports_per_project=1, transitions={EXPORT_TASK: Transition.never()})
def test_concurrent_exports_never_pass_the_limit_together_in_memory(lb_mock, lb_world):
    """The count of running exports and the creation are one transaction of the in-memory store,
    taken under its lock: of twelve exports racing for a limit of one, exactly one is created."""
    clients = [labelbox.Client(**lb_mock.client_kwargs) for _ in range(CREATORS)]
    _exactly_one_created(_race(clients, lb_world.project.id), lb_world.project.id)
    assert len(lb_mock.backend.running_exports()) == 1


def test_concurrent_exports_through_two_hosts_sharing_postgresql_never_pass_the_limit(postgres, lb_world):
    """Two servers (two hosts) on one PostgreSQL database: the creation transaction's row lock queues
    creations across hosts, so of twelve exports racing through both, exactly one is created."""
    url = postgres.database()
    options = {"state_path": url, "running_exports_per_project": 1, "transitions": {EXPORT_TASK: Transition.never()}}
    with mocks.serving(lb_world, **options) as first, mocks.serving(lb_world, **options) as second:
        clients = [labelbox.Client(**(first if i % 2 else second).client_kwargs) for i in range(CREATORS)]
        _exactly_one_created(_race(clients, lb_world.project.id), lb_world.project.id)
        assert len(first.backend.running_exports()) == len(second.backend.running_exports()) == 1
