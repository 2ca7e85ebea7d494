"""Strategies for a data row's workflow: its history of moves, rejections,
reworks and approval, and the reviews that history implies."""

from __future__ import annotations

from hypothesis import strategies as st

from lbmock import ids
from lbmock.strategies.choices import Choices
from lbmock.strategies.vocabulary import DAY
from lbmock.world import Project, Review, WorkflowEvent, WorkflowStatus

GAP = 2 * DAY  # longest wait between two workflow events


def draw_workflow_history(c: Choices, project: Project, status: WorkflowStatus,
                          start: int) -> tuple[WorkflowEvent, ...]:
    wf = project.workflow
    cycles = 0 if status == WorkflowStatus.TO_LABEL else c.integer(0, 2)
    t = start + c.integer(1, GAP)
    events = [WorkflowEvent("MOVE", t, c.pick(project.people), None, wf.labeling)]
    if status == WorkflowStatus.TO_LABEL:
        return tuple(events)
    t += c.integer(1, GAP)
    events.append(WorkflowEvent("MOVE", t, c.pick(project.people), wf.labeling, wf.review))
    for i in range(cycles + (1 if status == WorkflowStatus.IN_REWORK else 0)):
        t += c.integer(1, GAP)
        events.append(WorkflowEvent("REJECT", t, c.pick(project.people), wf.review, wf.rework))
        if status == WorkflowStatus.IN_REWORK and i == cycles:
            return tuple(events)
        t += c.integer(1, GAP)
        events.append(WorkflowEvent("REWORK", t, c.pick(project.people), wf.rework, wf.review))
    if status == WorkflowStatus.DONE:
        t += c.integer(1, GAP)
        events.append(WorkflowEvent("APPROVE", t, c.pick(project.people), wf.review, None))
    return tuple(events)


@st.composite
def workflow_histories(draw: st.DrawFn, project: Project, status: WorkflowStatus,
                       start: int) -> tuple[WorkflowEvent, ...]:
    """A chronological workflow history that ends in ``status``.

    ToLabel: moved into labeling.  InReview: labelled and moved to review,
    possibly after rework cycles.  InRework: last rejected.  Done: approved.
    """
    return draw_workflow_history(Choices(draw), project, status, start)


def reviews_of(minter: ids.IdMinter, history: tuple[WorkflowEvent, ...]) -> tuple[Review, ...]:
    return tuple(Review(minter.mint(e.created_at), "Approve" if e.action == "APPROVE" else "Reject",
                        e.created_at, e.created_by)
                 for e in history if e.action in ("APPROVE", "REJECT"))
