"""The dashboard's HTML pages and slice images: each view gathers facts from the backend and the
world, and hands them to a template (autoescaped) or to a renderer (:mod:`lbmock.render`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from flask import Response, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest, Conflict, HTTPException, NotFound, UnprocessableEntity

from lbmock.dicom.user_files import UserFileChanged
from lbmock.labelmap import choose_label
from lbmock.mockserver.backend.journal import JournalEntry
from lbmock.mockserver.dashboard.row_index import RowFilter, RowPage, index_of
from lbmock.mockserver.handlers.common import backend, json_error, request_urls, small_number
from lbmock.render import slices
from lbmock.render.legacy import render_legacy_row
from lbmock.render.v2 import ExportParams, render_export_v2_row
from lbmock.world import PLANES, DataRow, Feature, Label, Project, WorkflowStatus, World

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
JOURNAL_TAIL = 15
DEFAULT_OPACITY = 60  # percent: the slice shows through the masks
PNG = "image/png"


def world_facts(world: World) -> dict[str, object]:
    """What names the served world: seed, rows, projects, quality mode, datasets, slices, DICOM variants."""
    variants = getattr(world.rows, "dicom_variants", ()) or ()
    return {"seed": world.seed, "rows": len(world), "quality": world.quality.value,
            "projects": world.projects, "datasets": world.datasets, "slices": world.slices,
            "dicom_variants": sorted(variants)}


# ---------------------------------------------------------------- overview


def overview() -> str:
    """``GET /_mock/dashboard/``: the world, counts by workflow status, live tasks, faults, the journal's tail."""
    be = backend()
    world = be.world
    index = index_of(be, world)
    counts = [{"project": project, "statuses": index.status_counts(p), "labelled": index.labelled_count(p),
               "members": world.row_count(project.id)} for p, project in enumerate(world.projects)]
    tail = [JournalEntry(seq=seq, **fields) for seq, fields in be.journal.newest(JOURNAL_TAIL)]  # reads 15 rows
    return render_template("dashboard/overview.html", title="Overview", facts=world_facts(world),
                           counts=counts, statuses=[s.value for s in WorkflowStatus], index=index,
                           tasks=live_tasks(be), faults=be.faults.active(),
                           journal=tail, journal_size=be.journal.size())


def live_tasks(be) -> list[dict[str, object]]:
    """Export tasks not finished yet (reading their status here is not a client's poll)."""
    out = []
    for task in be.recent_tasks():
        status, percent = task.progress()
        if status == "IN_PROGRESS":
            out.append({"id": task.id, "name": task.name, "percent": percent, "created_at": task.created_at,
                        "transition": task.transition.to_json(), "reads": task.reads})
    return out


# ---------------------------------------------------------------- data rows


@dataclass(frozen=True, slots=True)
class RowQuery:
    """The data-rows page's query string, checked: what to show and the links that keep it."""

    filter: RowFilter
    project: Project
    page: int
    size: int

    def args(self, **changes: object) -> dict[str, object]:
        """Query arguments for a link to this listing with ``changes`` (page, filters)."""
        f = self.filter
        out = {"project": self.project.id if f.project else None,
               "status": f.status.value if f.status else None,
               "labels": None if f.labelled is None else ("yes" if f.labelled else "no"), "plane": f.plane,
               "tool": None if f.tool is None else self.project.ontology.tools[f.tool].name,
               "size": self.size if self.size != PAGE_SIZE else None, "page": self.page}
        out.update(changes)
        return {k: v for k, v in out.items() if v is not None and v != ""}


def _choice(name: str, allowed: list[str]) -> str | None:
    value = request.args.get(name, "")
    if value == "":
        return None
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)} (or empty for any), not {value!r}")
    return value


def _whole(name: str, default: int, high: int, low: int = 1) -> int:
    text = request.args.get(name, "")
    if text == "":
        return default
    value = small_number(text)
    if value is None or not low <= value <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return value


def row_query(world: World) -> RowQuery:
    """The checked filters and page of ``/rows?project=&status=&labels=&plane=&tool=&page=&size=`` (400 if bad)."""
    ids = [p.id for p in world.projects]
    chosen = _choice("project", ids)
    p = ids.index(chosen) if chosen is not None else 0
    project = world.projects[p]
    status = _choice("status", [s.value for s in WorkflowStatus])
    labels = _choice("labels", ["yes", "no"])
    tool_names = [t.name for t in project.ontology.tools]
    tool = _choice("tool", tool_names)
    row_filter = RowFilter(project=p, status=WorkflowStatus(status) if status else None,
                           labelled=None if labels is None else labels == "yes", plane=_choice("plane", list(PLANES)),
                           tool=tool_names.index(tool) if tool is not None else None)
    size = _whole("size", PAGE_SIZE, MAX_PAGE_SIZE)
    return RowQuery(row_filter, project, _whole("page", 1, 10**9), size)


def _plain_page(world: World, query: RowQuery) -> RowPage:
    """A page without row-level filters: rows of the project, found without drawing any row."""
    offset, size = (query.page - 1) * query.size, query.size
    project_id = query.project.id
    total = world.row_count(project_id)
    if project_id == world.project.id:  # every row
        return RowPage(list(range(offset, min(offset + size, total))), total, True, total, offset + size < total)
    found: list[int] = []
    seen = 0
    for index in range(len(world)):
        if world.in_project_at(project_id, index):
            if seen >= offset:
                found.append(index)
                if len(found) == size:
                    break
            seen += 1
    return RowPage(found, total, True, len(world), offset + size < total)


def row_features(row: DataRow, project: Project) -> list[dict[str, object]]:
    """The (tool, plane) pairs of the row's labels in ``project``, in ontology and plane order."""
    membership = row.in_project(project.id)
    pairs = {(f.tool.schema_id, f.plane) for lb in (membership.labels if membership else ()) for f in lb.features}
    return [{"tool": tool, "plane": plane} for tool in project.ontology.tools for plane in PLANES
            if (tool.schema_id, plane) in pairs]


def rows() -> str:
    """``GET /_mock/dashboard/rows``: one page of data rows, filtered; only the rows shown are drawn."""
    be = backend()
    world = be.world
    query = row_query(world)
    started = time.perf_counter()
    if query.filter.needs_index:
        found = index_of(be, world).page(query.filter, (query.page - 1) * query.size, query.size)
    else:
        found = _plain_page(world, query)
    shown = []
    for index in found.indices:
        row = world.row(index)
        membership = row.in_project(query.project.id)
        shown.append({"row": row, "membership": membership, "features": row_features(row, query.project)})
    return render_template("dashboard/rows.html", title="Data rows", query=query, found=found, shown=shown,
                           world=world, statuses=[s.value for s in WorkflowStatus], planes=PLANES,
                           first_shown=(query.page - 1) * query.size + 1,
                           elapsed_ms=round((time.perf_counter() - started) * 1000, 1))


def go_to_row() -> Response:
    """``GET /_mock/dashboard/rows/go?id=``: the row view of a data row id (or of any id a row owns)."""
    wanted = request.args.get("id", "").strip()
    row = _row_or_404(wanted, any_id=True)
    return redirect(url_for("dashboard.row_view", row_id=row.id))


# ---------------------------------------------------------------- one data row


def _row_or_404(row_id: str, any_id: bool = False) -> DataRow:
    world = backend().world
    index = world.index_of(row_id)
    if index is None:
        raise NotFound(f"no data row {row_id!r} in this world ({len(world):,} rows)")
    row = world.row(index)
    if row.id != row_id and not (any_id and (row.label(row_id) is not None or _owns_feature(row, row_id))):
        raise NotFound(f"no data row {row_id!r} in this world")
    if row.recorded is not None:  # its pages draw the volume and labels, which a recording does not hold
        raise NotFound(f"data row {row.id} is replayed (--replay): the dashboard draws only drawn rows; "
                       f"exports serve its recorded row")
    return row


def _owns_feature(row: DataRow, entity_id: str) -> bool:
    return any(lb.feature(entity_id) is not None for lb in row.all_labels)


def _plane(name: str) -> str:
    for plane in PLANES:
        if plane.lower() == name.lower():
            return plane
    raise NotFound(f"no plane {name!r}: planes are {', '.join(PLANES)}")


def _label(row: DataRow) -> Label | None:
    """The label ``?label=`` names (any project's), else the row's first label."""
    try:
        return choose_label(row, request.args.get("label") or None)
    except KeyError as exc:
        raise NotFound(exc.args[0]) from None


def _frame(row: DataRow, plane: str, frame: int) -> int:
    count = slices.plane_frame_count(row, plane)
    if not 1 <= frame <= count:
        raise NotFound(f"{plane} of data row {row.id} has frames 1 to {count}, not {frame}")
    return frame


def _label_project(row: DataRow, label: Label | None, world: World) -> Project:
    for membership in row.memberships:
        if label is not None and any(lb.id == label.id for lb in membership.labels):
            return world.project_by_id(membership.project_id) or world.project
    return world.project


@dataclass(frozen=True, slots=True)
class PlaneView:
    """One plane of the row view: its slider, the keyframes and segments marked on its track."""

    name: str
    width: int
    height: int
    frames: int
    frame: int  # the slice shown first
    keyframes: list[int]
    marks: list[dict[str, object]]  # per feature: tool, colour, kind, keyframes and segments (as % of the track)


def _track_percent(frame: int, frames: int) -> float:
    return round((frame - 1) / max(frames - 1, 1) * 100, 3)


def plane_view(row: DataRow, label: Label | None, plane: str) -> PlaneView:
    view = row.volume.plane(plane)
    features: tuple[Feature, ...] = slices.features_on(label, plane)
    keyframes = sorted({kf.frame for f in features for kf in f.keyframes})
    marks = [{"feature": f, "tool": f.tool, "keyframes": [(kf.frame, _track_percent(kf.frame, view.frame_count))
                                                          for kf in f.keyframes],
              "segments": [(a, b, _track_percent(a, view.frame_count),
                            _track_percent(b, view.frame_count) - _track_percent(a, view.frame_count))
                           for a, b in f.segment_ranges()]} for f in features]
    asked = request.args.get(plane.lower(), "")
    number = small_number(asked) if asked else None
    if number is not None and 1 <= number <= view.frame_count:
        first = number
    else:
        first = keyframes[0] if keyframes else (view.frame_count + 1) // 2
    return PlaneView(plane, view.width, view.height, view.frame_count, first, keyframes, marks)


def _json_text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def row_view(row_id: str) -> str:
    """``GET /_mock/dashboard/rows/<row_id>``: three planes with sliders, overlays, and the row's JSON."""
    be = backend()
    world = be.world
    row = _row_or_404(row_id)
    label = _label(row)
    window = request.args.get("window") or slices.default_window(row)
    if window not in slices.WINDOWS:
        raise BadRequest(f"window must be one of {', '.join(slices.WINDOWS)}, not {window!r}")
    opacity = _whole("opacity", DEFAULT_OPACITY, 100, low=0)
    urls = be.signed_urls(request_urls(), int(time.time() * 1000))
    project = _label_project(row, label, world)
    membership = row.in_project(project.id)
    v2 = render_export_v2_row(world.projects, row, ExportParams.all(), urls)
    legacy = [render_legacy_row(project, row, lb, urls) for lb in (membership.labels if membership else ())]
    labels = [{"label": lb, "project": world.project_by_id(m.project_id) or world.project}
              for m in row.memberships for lb in m.labels]
    tools = {f.tool.schema_id: f.tool for f in (label.features if label else ())}
    return render_template(
        "dashboard/row.html", title=f"Data row {row.id}", section="dashboard.rows", row=row, label=label,
        labels=labels, project=project, planes=[plane_view(row, label, p) for p in PLANES], window=window,
        windows=slices.WINDOWS.values(), opacity=opacity, tools=list(tools.values()), world=world,
        v2_json=_json_text(v2), legacy_json=_json_text(legacy))


# ---------------------------------------------------------------- slice images


def _png(body: bytes) -> Response:
    response = Response(body, mimetype=PNG)
    response.headers["Cache-Control"] = "no-cache"  # another world may be served at the same URL
    return response


def slice_image(row_id: str, plane: str, frame: int) -> Response:
    """``.../rows/<row_id>/<plane>/<frame>/image.png?window=``: plane frame ``frame`` (1-based) of the
    row's DICOM volume, through a window preset (grey, 8-bit)."""
    row = _row_or_404(row_id)
    plane = _plane(plane)
    window = request.args.get("window") or slices.default_window(row)
    if window not in slices.WINDOWS:
        raise BadRequest(f"window must be one of {', '.join(slices.WINDOWS)}, not {window!r}")
    try:
        return _png(slices.slice_png(row, plane, _frame(row, plane, frame), window))
    except UserFileChanged as exc:  # --dicom-dir: never show other pixels than the file served
        raise Conflict(str(exc)) from exc
    except slices.PreviewUnavailable as exc:
        raise UnprocessableEntity(str(exc)) from exc  # the request is fine; the file cannot be shown here


def overlay_image(row_id: str, plane: str, frame: int) -> Response:
    """``.../rows/<row_id>/<plane>/<frame>/overlay.png?label=``: the label's masks on that slice in their
    tools' colours, polylines on top; transparent elsewhere (RGBA)."""
    row = _row_or_404(row_id)
    plane = _plane(plane)
    return _png(slices.overlay_png(row, _label(row), plane, _frame(row, plane, frame)))


# ---------------------------------------------------------------- errors


def page_error(exc: HTTPException) -> Response | tuple[str, int]:
    """A dashboard error: a short HTML page (a JSON error for images), never a traceback."""
    status = exc.code or 400
    status = 400 if status >= 500 else status
    message = exc.description or exc.name
    if request.path.endswith(".png"):
        return json_error(status, message, exc.name.upper().replace(" ", "_"))
    return render_template("dashboard/error.html", title=exc.name, status=status, message=message), status
