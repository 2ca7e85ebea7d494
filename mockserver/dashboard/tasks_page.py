"""The Tasks page: every client's export tasks, newest first, and one task in full: status,
params, filters, scope, the faults and transition it carries, and its files with line and
byte ranges and the signed links the SDK gets (``MockBackend.export_file_url``).

Reading this page is not a client's poll: it never counts as a status read, and it never
renders a stream (that is the SDK's first header read's job, or the "plan files" button's).
"""

from __future__ import annotations

import datetime as dt

from flask import abort, render_template, request
from werkzeug.wrappers import Response

from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.backend.tasks import ERRORS, RESULT, ExportTask
from lbmock.mockserver.dashboard.forms import done, field, refuse_cross_site
from lbmock.mockserver.errors import NotFound
from lbmock.mockserver.exports.progress import ProgressView
from lbmock.mockserver.handlers.common import backend, base_url

SHOWN_TASKS = 100  # newest first; the state keeps up to MAX_TASKS


def utc_text(ms: float | None) -> str:
    """Epoch milliseconds as ``2026-11-28 20:51:07 UTC``."""
    if ms is None:
        return "open"
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _filter_text(name: str, value: object) -> str:
    if name in ("last_activity_at", "labeled_at") and isinstance(value, list):
        return f"{utc_text(value[0])} – {utc_text(value[1])}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return str(value)


def _scope_text(be: MockBackend, scope: dict | None) -> str:
    if scope is None:
        return f"project {be.world.project.id}"
    if scope["project_id"]:
        return f"project {scope['project_id']}"
    if scope["project_ids"]:
        return f"catalog side, showing projects {', '.join(scope['project_ids'])}"
    if scope["project_ids"] is not None:
        return "catalog side, showing no project (neither project_ids nor all_projects)"
    return "catalog side, showing every project of each row"


def _streams(be: MockBackend, task: ExportTask, base: str) -> list[dict[str, object]]:
    found = []
    for stream in (RESULT, ERRORS):
        plan = be.planned(task, stream)
        facts: dict[str, object] = {"name": stream, "planned": plan is not None}
        if plan is not None:
            facts.update(
                total_lines=plan.total_lines, total_size=plan.total_size,
                all_url=be.export_file_url(base, task.id, stream, "all") if plan.total_lines else None,
                files=[{"index": f.index, "lines": f.lines, "offsets": f.offsets,
                        "size": f.offsets[1] - f.offsets[0] + 1,
                        "url": be.export_file_url(base, task.id, stream, f.index)} for f in plan.files])
        found.append(facts)
    return found


def render_facts(view: ProgressView | None) -> dict[str, object] | None:
    """A render's counts and the line the pages show of them: "rendering N of M rows (R rows/s)"."""
    if view is None or view.rows_total is None:
        return None
    rate = f" ({view.rows_per_second:,.0f} rows/s)" if view.rows_per_second else ""
    verb = "rendered" if view.finished else "rendering"
    return {**view.to_json(), "text": f"{verb} {view.rows_done:,} of {view.rows_total:,} rows{rate}"}


def task_facts(be: MockBackend, task: ExportTask, base: str, with_files: bool) -> dict[str, object]:
    """What the pages show of one task (from its spec: the one description of a task)."""
    status, percent = be.task_progress(task)
    spec = task.spec()
    facts: dict[str, object] = {
        "id": task.id, "name": task.name, "status": status, "percent": percent, "client": task.owner_key,
        "created": utc_text(task.created_at), "reads": task.reads, "advanced": task.advanced,
        "streamable": task.streamable, "transition": spec["transition"],
        "params": [name for name, on in spec["params"].items() if on],
        "params_off": [name for name, on in spec["params"].items() if not on],
        "filters": [(name, _filter_text(name, value)) for name, value in spec["filters"].items() if value is not None],
        "scope": _scope_text(be, spec["scope"]),
        "render": render_facts(be.render_progress(task)),
        "faults": [text for text in (
            "export-fails: every selected row fails" if task.failed else None,
            f"export-errors: one row in {task.error_every} fails" if task.error_every else None) if text],
    }
    streams = _streams(be, task, base)
    facts["file_count"] = sum(len(s.get("files", ())) for s in streams)
    facts["planned"] = all(s["planned"] for s in streams)
    if with_files:
        facts["streams"] = streams
    return facts


def _listed() -> list[dict[str, object]]:
    be = backend()
    base = base_url()
    return [task_facts(be, task, base, with_files=False) for task in be.recent_tasks(SHOWN_TASKS)]


def tasks() -> str:
    """``GET /_mock/dashboard/tasks``: the newest export tasks of every client."""
    return render_template("dashboard/tasks.html", title="Export tasks", tasks=_listed(), shown_max=SHOWN_TASKS,
                           notice=request.args.get("notice"))


def task_rows() -> str:
    """``GET /_mock/dashboard/tasks/rows``: the tasks table's rows alone (the page's auto-refresh)."""
    return render_template("dashboard/_task_rows.html", tasks=_listed())


def _task_or_404(task_id: str) -> ExportTask:
    try:
        return backend().task_by_id(task_id)
    except NotFound:
        abort(404, f"no export task {task_id} (tasks are forgotten on reset, on loading a world, "
                   f"and past the newest 1000)")


def task(task_id: str) -> str:
    """``GET /_mock/dashboard/tasks/<id>``: one task in full, files and links included."""
    be = backend()
    facts = task_facts(be, _task_or_404(task_id), base_url(), with_files=True)
    return render_template("dashboard/task.html", title=f"Export task {task_id}", section="dashboard.tasks",
                           task=facts, notice=request.args.get("notice"))


def task_plan(task_id: str) -> Response:
    """``POST tasks/<id>/plan``: render the task's streams now (as the SDK's first header read does)."""
    refuse_cross_site()
    be = backend()
    found = _task_or_404(task_id)
    status, _ = be.task_progress(found)
    if status not in ("COMPLETE", "FAILED"):
        abort(409, f"task {task_id} is {status}: it has files once it is COMPLETE (or FAILED: its errors)")
    for stream in (RESULT, ERRORS):
        be.plan(found, stream)
    return done("dashboard.task", "Files planned.", task_id=task_id)


def task_advance(task_id: str) -> Response:
    """``POST tasks/<id>/advance`` (outcome COMPLETE or FAILED), as ``POST /_mock/tasks/<id>/advance``."""
    refuse_cross_site()
    outcome = field("outcome")
    if outcome not in ("COMPLETE", "FAILED"):
        abort(400, f"outcome must be COMPLETE or FAILED, got {outcome!r}")
    try:
        backend().advance_task(task_id, fail=outcome == "FAILED")
    except NotFound:
        _task_or_404(task_id)
    return done("dashboard.task", f"Task moved on to {outcome}.", task_id=task_id)
