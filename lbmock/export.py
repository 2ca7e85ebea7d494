"""Which rows an export holds, and the export as a stream of bytes.

Shared by ``lbmock generate`` and the server, so both select and encode
identically.  Nothing here holds more than one row at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

import orjson

from lbmock.render.common import Urls, file_name_of
from lbmock.render.legacy import render_legacy_row
from lbmock.render.v2 import ExportParams, render_export_v2_row, render_recorded_v2
from lbmock.replay import ReplayIndex, ReplayRows
from lbmock.world import CatalogSlice, DataRow, Label, Project, ProjectRow, WorkflowStatus, World


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Inclusive bounds in epoch ms; ``None`` leaves a side open."""

    start: int | None = None
    end: int | None = None

    def __contains__(self, ms: int) -> bool:
        return (self.start is None or ms >= self.start) and (self.end is None or ms <= self.end)


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """Export v2 filters; every one given must hold (they are ANDed).

    Project-side filters (workflow status, batch, label creation) look at the
    exported project's view of a row; in a catalog export, where no project is
    given, at any project's.
    """

    last_activity_at: TimeRange | None = None
    labeled_at: TimeRange | None = None  # selects rows having a label created in the range
    statuses: frozenset[WorkflowStatus] | None = None
    data_row_ids: frozenset[str] | None = None
    global_keys: frozenset[str] | None = None
    batch_ids: frozenset[str] | None = None
    dataset_ids: frozenset[str] | None = None  # dataset exports and dataset slices

    def matches(self, row: DataRow, project_id: str | None = None) -> bool:
        views: tuple[ProjectRow, ...] = row.memberships
        if project_id is not None:
            views = tuple(m for m in views if m.project_id == project_id)
            if not views:  # not in the project's batches
                return False
        if self.data_row_ids is not None and row.id not in self.data_row_ids:
            return False
        if self.global_keys is not None and row.global_key not in self.global_keys:
            return False
        if self.dataset_ids is not None and row.dataset.id not in self.dataset_ids:
            return False
        if self.batch_ids is not None and not any(m.batch.id in self.batch_ids for m in views):
            return False
        if self.statuses is not None and not any(m.status in self.statuses for m in views):
            return False
        if self.last_activity_at is not None and row.last_activity_at not in self.last_activity_at:
            return False
        return self.labeled_at is None or any(lb.created_at in self.labeled_at for m in views for lb in m.labels)


@dataclass(frozen=True, slots=True)
class ExportScope:
    """Where an export is taken from, and which projects its rows show.

    A project export (``project_id``) holds that project's rows and shows only
    that project.  A catalog-side export (dataset, catalog, data rows, slice:
    ``project_id`` is ``None``) holds any row and shows the projects named in
    ``project_ids`` the row belongs to: ``None`` is every project (the SDK's
    ``all_projects=True``), an empty set none (neither ``all_projects`` nor
    ``project_ids``: the SDK sends ``allProjects: false, projectIds: null``, and
    the exports notebook includes project labels only "if provided").
    """

    project_id: str | None = None
    project_ids: frozenset[str] | None = None

    def shown(self, world: World) -> tuple[Project, ...]:
        if self.project_id is not None:
            project = world.project_by_id(self.project_id)
            return (project,) if project is not None else ()
        return tuple(p for p in world.projects if self.project_ids is None or p.id in self.project_ids)


NO_PROJECTS = frozenset[str]()  # a catalog-side export asked for no project's labels


def catalog_scope(project_ids: Iterable[str] | None = None, all_projects: bool = False) -> ExportScope:
    """The scope of a catalog-side export with the SDK's ``project_ids`` / ``all_projects`` params."""
    if all_projects:
        return ExportScope()
    return ExportScope(project_ids=frozenset(project_ids or NO_PROJECTS))


def slice_filters(saved: CatalogSlice) -> ExportFilters:
    """The rows a saved Catalog slice holds, as export filters."""
    return ExportFilters(dataset_ids=saved.dataset_ids, statuses=saved.statuses)


def project_scope(world: World) -> ExportScope:
    """The scope of an export of the world's first project."""
    return ExportScope(project_id=world.project.id)


def selected_rows(world: World, filters: ExportFilters, scope: ExportScope | None = None,
                  indices: range | None = None) -> Iterator[DataRow]:
    """The world's rows an export with ``filters`` holds, in world order (default: the first project's export);
    ``indices``: only among those world indices (a part of the export, rendered apart)."""
    project_id = (scope or project_scope(world)).project_id
    for index in _candidate_indices(world, filters, indices):
        # rows outside the project or the datasets asked for are skipped without being drawn
        if project_id is not None and not world.in_project_at(project_id, index):
            continue
        if filters.dataset_ids is not None and world.dataset_at(index).id not in filters.dataset_ids:
            continue
        row = world.row_in_pass(index)
        if filters.matches(row, project_id):
            yield row


def _candidate_indices(world: World, filters: ExportFilters, indices: range | None) -> Iterable[int]:
    """The world indices that may hold a selected row, in order.  Every id names the row that owns
    it (:mod:`lbmock.ids`), so an export of a few named data rows draws those rows, not the world."""
    every = range(len(world)) if indices is None else indices
    if filters.data_row_ids is None:
        return every
    named = (world.index_of(data_row_id) for data_row_id in filters.data_row_ids)
    return sorted({index for index in named if index is not None and index in every})


def export_v2_lines(world: World, filters: ExportFilters, params: ExportParams, urls: Urls,
                    scope: ExportScope | None = None, indices: range | None = None,
                    skip: AbstractSet[int] = frozenset()) -> Iterator[bytes]:
    """:func:`v2_lines` of :func:`selected_rows` (``skip``: world indices left out).  The rows of a
    replayed file, when no filter but datasets looks inside them, are rendered from their recorded
    lines alone: the same bytes, without making a :class:`DataRow` of each (most of the work)."""
    if isinstance(world.rows, ReplayRows) and replace(filters, dataset_ids=None) == ExportFilters():
        return _recorded_v2_lines(world, world.rows.index, filters.dataset_ids, params, urls,
                                  scope or project_scope(world), indices, skip)
    return v2_lines(world, (row for row in selected_rows(world, filters, scope, indices) if row.index not in skip),
                    params, urls, scope)


def _recorded_v2_lines(world: World, index: ReplayIndex, dataset_ids: frozenset[str] | None, params: ExportParams,
                       urls: Urls, scope: ExportScope, indices: range | None,
                       skip: AbstractSet[int]) -> Iterator[bytes]:
    shown_ids = {p.id for p in scope.shown(world)}
    org_id = world.project.organization.id  # render_export_v2_row's home, as v2_lines passes it
    members = index.members.get(scope.project_id, b"") if scope.project_id is not None else None
    datasets = None if dataset_ids is None else {k for k, d in enumerate(world.datasets) if d.id in dataset_ids}
    wanted = (i for i in (range(len(index)) if indices is None else indices)
              if (members is None or (i < len(members) and members[i])) and i not in skip
              and (datasets is None or index.dataset_of[i] in datasets))
    for _i, line in index.lines(wanted):
        recorded = orjson.loads(line)
        data_row = recorded["data_row"]
        row_data = urls.storage_file(org_id, file_name_of(data_row["id"], data_row.get("external_id")))
        yield orjson.dumps(render_recorded_v2(recorded, shown_ids, row_data, params, urls),
                           option=orjson.OPT_APPEND_NEWLINE)


def v2_lines(world: World, rows: Iterable[DataRow], params: ExportParams, urls: Urls,
             scope: ExportScope | None = None) -> Iterator[bytes]:
    """Export v2 NDJSON, one ``\\n``-terminated line per data row."""
    shown = (scope or project_scope(world)).shown(world)
    for row in rows:
        yield orjson.dumps(render_export_v2_row(shown, row, params, urls, home=world.project),
                           option=orjson.OPT_APPEND_NEWLINE)


@dataclass(frozen=True, slots=True)
class LegacyWindow:
    """``export_labels`` selection: label created in ``created``, row active in ``last_activity``."""

    created: TimeRange | None = None
    last_activity: TimeRange | None = None

    def labels(self, row: DataRow, project_id: str | None = None) -> Iterator[Label]:
        """The labels of ``row`` in the project (default: the row's first) the window selects."""
        if self.last_activity is not None and row.last_activity_at not in self.last_activity:
            return
        membership = row.primary if project_id is None else row.in_project(project_id)
        for label in membership.labels if membership is not None else ():
            if self.created is None or label.created_at in self.created:
                yield label


def legacy_array_chunks(project: Project, rows: Iterable[DataRow], window: LegacyWindow,
                        urls: Urls) -> Iterator[bytes]:
    """The legacy export as a JSON array, streamed one label object at a time."""
    yield b"["
    first = True
    for row in rows:
        for label in window.labels(row, project.id):
            yield (b"" if first else b",") + orjson.dumps(render_legacy_row(project, row, label, urls))
            first = False
    yield b"]"
