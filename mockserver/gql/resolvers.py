"""GraphQL resolvers: the root query and mutation fields and the views they build.

Resolvers are views: they read the backend and the world and build plain
values; graphql-core picks the fields a document selects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lbmock.dicom.series import MIME_TYPE
from lbmock.export import ExportScope, catalog_scope, slice_filters
from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.backend.tasks import ERRORS, RESULT, ExportTask
from lbmock.mockserver.errors import BadInput, FeatureSchemaNotFound, NotAllowed, NotFound
from lbmock.mockserver.exports.spool import ExportFile
from lbmock.mockserver.gql.filters import parse_legacy_filters, parse_list_where, parse_search_query
from lbmock.mockserver.gql.schema import PAGE_SIZE_MAX
from lbmock.ontology import feature_schema, normalized
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams, metadata_value
from lbmock.replay import ReplayWorld
from lbmock.world import (
    CatalogSlice,
    DataRow,
    Dataset,
    Ontology,
    Person,
    Project,
    QualityMode,
    WorkflowStatus,
    World,
)

PARAM_FLAGS = {
    "includeAttachments": "attachments",
    "includeEmbeddings": "embeddings",
    "includeMetadata": "metadata_fields",
    "includeDataRowDetails": "data_row_details",
    "includeProjectDetails": "project_details",
    "includePerformanceDetails": "performance_details",
    "includeLabelDetails": "label_details",
    "includeInterpolatedFrames": "interpolated_frames",
}


@dataclass
class RequestContext:
    """What a resolver may know about the request it serves."""

    backend: MockBackend
    api_key: str
    urls: Urls  # where exported links point (the server's own base)
    public_base: str  # base of signed file URLs

    def signed(self, path: str) -> str:
        return self.public_base + self.backend.sign(path)


def user_view(person: Person, ctx: RequestContext, timezone_name: str) -> dict:
    project = ctx.backend.world.project

    def created_tasks(info, where=None, skip=0, first=100):
        tasks = ctx.backend.tasks_of(ctx.api_key)
        if where and where.get("id"):
            tasks = [t for t in tasks if t.id == where["id"]]
        page = _page(tasks, skip, first)
        for task in page:  # this is the SDK's refresh: slow tasks advance per poll
            ctx.backend.note_refresh(task)
        return [task_view(t, ctx) for t in page]

    return {
        "id": person.id, "email": person.email, "name": person.name, "nickname": person.name.split()[0],
        "createdAt": project.created_at, "updatedAt": project.updated_at, "lastLoginAt": project.updated_at,
        "intercomHash": None, "picture": None, "isViewer": False, "isExternalUser": False,
        "timezone": timezone_name, "createdTasks": created_tasks,
    }


def task_view(task: ExportTask, ctx: RequestContext) -> dict:
    backend = ctx.backend
    status, percent = backend.task_progress(task)
    complete = status == "COMPLETE"

    def file_info(export_file: ExportFile | None, stream: str) -> dict | None:
        if export_file is None:
            return None
        return {"offsets": {"start": export_file.offsets[0], "end": export_file.offsets[1]},
                "lines": {"start": export_file.lines[0], "end": export_file.lines[1]},
                "file": backend.export_file_url(ctx.public_base, task.id, stream, export_file.index)}

    def stream_plan(stream: str):
        if not complete:
            raise BadInput(f"task {task.id} is {status}: it has no streams to read")
        return backend.plan(task, stream)

    def header(info, streamType):
        plan = stream_plan(streamType)
        return None if plan is None else {"totalSize": plan.total_size, "totalLines": plan.total_lines}

    def from_offset(info, streamType, offset):
        plan = stream_plan(streamType)
        if plan is None:
            raise BadInput(f"the {streamType} stream of task {task.id} is empty")
        return file_info(plan.file_at_offset(offset), streamType)

    def from_line(info, streamType, line):
        plan = stream_plan(streamType)
        if plan is None:
            raise BadInput(f"the {streamType} stream of task {task.id} is empty")
        return file_info(plan.file_at_line(line), streamType)

    return {
        "id": task.id, "name": task.name, "createdAt": task.created_at,
        "updatedAt": task.updated_at(complete),
        "status": status, "completionPercentage": percent, "type": "export-data-rows",
        # lazy: only a selected field pays (errors needs the ERRORS stream planned)
        "result": lambda info: backend.export_file_url(ctx.public_base, task.id, RESULT, "all") if complete else None,
        "errors": lambda info: (backend.export_file_url(ctx.public_base, task.id, ERRORS, "all")
                                if status in ("COMPLETE", "FAILED") and backend.plan(task, ERRORS) else None),
        "metadata": None,
        "exportMetadataHeader": header, "exportFileFromOffset": from_offset, "exportFileFromLine": from_line,
    }


class Root:
    """Root query and mutation fields."""

    # -- queries

    @staticmethod
    def user(info, where=None):
        ctx: RequestContext = info.context
        owner = ctx.backend.world.project.owner
        if where and where.get("id") not in (None, owner.id):
            raise NotFound(f"user {where.get('id')}")
        return user_view(owner, ctx, ctx.backend.user_timezone)

    @staticmethod
    def organization(info):
        org = info.context.backend.world.project.organization
        return {"id": org.id, "name": org.name, "createdAt": org.created_at, "updatedAt": org.created_at}

    @staticmethod
    def project(info, where):
        ctx: RequestContext = info.context
        return project_view(ctx, _project(ctx.backend.world, where["id"]))

    @staticmethod
    def projects(info, where=None, skip=0, first=100):
        """client.get_projects: the SDK pages with skip/first (100 a page) until a page is short."""
        ctx: RequestContext = info.context
        wanted = parse_list_where(where, "projects")
        found = [p for p in ctx.backend.world.projects if wanted.matches(p.id, p.name)]
        return [project_view(ctx, p) for p in _page(found, skip, first)]

    @staticmethod
    def dataset(info, where):
        world = info.context.backend.world
        dataset = world.dataset_by_id(where["id"])
        if dataset is None:
            raise NotFound(f"dataset {where['id']}")
        return dataset_view(world, dataset)

    @staticmethod
    def datasets(info, where=None, skip=0, first=100):
        """client.get_datasets, paged as projects are."""
        world = info.context.backend.world
        wanted = parse_list_where(where, "datasets")
        found = [d for d in world.datasets if wanted.matches(d.id, d.name)]
        return [dataset_view(world, d) for d in _page(found, skip, first)]

    @staticmethod
    def dataRow(info, where):
        row = info.context.backend.row_for_id(where["id"])
        if row.id != where["id"]:  # the id of a label or feature of the row, not the row's
            raise NotFound(f"data row {where['id']}")
        ctx = info.context  # rowData: signed as of now (no task to sign it as of)
        return data_row_view(row, ctx.backend.signed_urls(ctx.urls, int(time.time() * 1000)),
                             ctx.backend.world.project.organization.id)

    @staticmethod
    def customMetadataOntology(info):
        return [{"id": m.schema_id, "name": m.name, "kind": METADATA_KINDS[m.kind],
                 "reserved": m.name in RESERVED_METADATA,
                 "options": [{"id": o.schema_id, "kind": "CustomMetadataEnumOption", "name": o.name,
                              "reserved": False} for o in m.options] or None}
                for m in info.context.backend.world.project.metadata_schemas]

    @staticmethod
    def getSavedQuery(info, id):
        saved = info.context.backend.world.slice_by_id(id)
        if saved is None:
            raise NotFound(f"slice {id}")
        return slice_view(saved)

    @staticmethod
    def catalogSavedQueries(info):
        return [slice_view(saved) for saved in info.context.backend.world.slices]

    @staticmethod
    def ontology(info, where):
        found = _ontologies(info.context.backend.world).get(where["id"])
        if found is None:
            raise NotFound(f"ontology {where['id']}")
        return ontology_view(*found)

    @staticmethod
    def ontologies(info, where=None, after=None, first=None):
        search, archived = _list_where(where)
        found = [] if archived else [ontology_view(ontology, project) for ontology, project
                                     in _ontologies(info.context.backend.world).values()
                                     if search in ontology.name.casefold()]
        return _cursor_page(found, after, first)

    @staticmethod
    def rootSchemaNode(info, where):
        schema_id = where["featureSchemaId"]
        for ontology, _project in _ontologies(info.context.backend.world).values():
            node = feature_schema(ontology, schema_id)
            if node is not None:
                return schema_node_view(node)
        raise FeatureSchemaNotFound(f"feature schema {schema_id}: no ontology has a tool, question or option "
                                    "with this featureSchemaId")

    @staticmethod
    def rootSchemaNodes(info, where=None, after=None, first=None):
        # Top-level tools and questions only, as the SDK documents get_feature_schemas.
        search, archived = _list_where(where)
        nodes: dict[str, dict] = {}
        for ontology, _project in [] if archived else _ontologies(info.context.backend.world).values():
            document = normalized(ontology)
            for node in (*document["tools"], *document["classifications"]):
                view = schema_node_view(node)
                if search in view["name"].casefold():
                    nodes.setdefault(view["id"], view)
        return _cursor_page(list(nodes.values()), after, first)

    @staticmethod
    def modelRun(info, where):
        # RESOURCE_NOT_FOUND: the SDK's _get_single turns it into ResourceNotFoundError(ModelRun, ...)
        raise NotFound(f"model run {where['id']}: a DICOM world has no model runs "
                       "(model-run export is 'Not supported yet' for DICOM)")

    @staticmethod
    def task(info, where=None):
        ctx: RequestContext = info.context
        if not where:
            raise BadInput("task needs where: {id}")
        return task_view(ctx.backend.task(ctx.api_key, where["id"]), ctx)

    @staticmethod
    def labelingFrontends(info, where=None, skip=0, first=100):
        return _page([_editor_frontend(info.context.backend.world.project.id)], skip, first)

    # -- mutations

    @staticmethod
    def exportDataRowsInProject(info, input):
        ctx: RequestContext = info.context
        filters_in = input["filters"]
        project = _project(ctx.backend.world, filters_in["projectId"])
        filters = parse_search_query(filters_in["searchQuery"]["query"])
        return _create_export(ctx, input, filters, ExportScope(project_id=project.id))

    @staticmethod
    def exportDataRowsInCatalog(info, input):
        ctx: RequestContext = info.context
        filters = parse_search_query(input["filters"]["searchQuery"]["query"])
        return _create_export(ctx, input, filters, _catalog_scope(ctx.backend.world, input["params"]))

    @staticmethod
    def exportDataRowsInSlice(info, input):
        ctx: RequestContext = info.context
        world = ctx.backend.world
        saved = world.slice_by_id(input["filters"]["sliceId"])
        if saved is None:
            raise NotFound(f"slice {input['filters']['sliceId']}")
        return _create_export(ctx, input, slice_filters(saved), _catalog_scope(world, input["params"]))

    @staticmethod
    def exportLabels(info, data):
        ctx: RequestContext = info.context
        project = _project(ctx.backend.world, data["projectId"])
        if isinstance(ctx.backend.world, ReplayWorld):  # legacy rows need what export v2 rows do not carry
            raise BadInput("export_labels (the legacy export) is not served for replayed rows (--replay): "
                           "use project.export() or export_v2()")
        window = parse_legacy_filters(data.get("filters"))  # legacy-never-ready: see MockBackend.legacy_ready
        export = ctx.backend.legacy_export(ctx.api_key, window, ctx.urls, project.id)
        if not ctx.backend.legacy_ready(export):
            return {"downloadUrl": None, "createdAt": None, "shouldPoll": True}
        return {"downloadUrl": ctx.signed(f"/files/legacy/{export.id}"), "createdAt": int(time.time() * 1000),
                "shouldPoll": False}


def _project(world: World, project_id: str) -> Project:
    project = world.project_by_id(project_id)
    if project is None:
        raise NotFound(f"project {project_id}")
    return project


def project_view(ctx: RequestContext, project: Project) -> dict:
    """A project as client.get_project and client.get_projects receive it."""
    world = ctx.backend.world
    return {
        "id": project.id, "name": project.name, "description": project.description,
        "createdAt": project.created_at, "updatedAt": project.updated_at,
        "setupComplete": project.created_at, "lastActivityTime": project.updated_at,
        "queueMode": "BATCH", "autoAuditNumberOfLabels": 1, "autoAuditPercentage": 1.0,
        "allowedMediaType": "DICOM", "editorTaskType": None,
        "dataRowCount": lambda info: world.row_count(project.id),
        "modelSetupComplete": False, "uploadType": None,
        "isBenchmarkEnabled": project.quality is QualityMode.BENCHMARK,
        "isConsensusEnabled": project.quality is QualityMode.CONSENSUS,
        "organization": lambda info: Root.organization(info),
        "createdBy": lambda info: user_view(project.owner, ctx, ctx.backend.user_timezone),
        "labelingFrontend": _editor_frontend(project.id),
        "ontology": lambda info: ontology_view(*_ontologies(world)[project.ontology.id]),
    }


def _ontologies(world: World) -> dict[str, tuple[Ontology, Project]]:
    """Every project's ontology by id, with the first project that uses it (which dates it)."""
    found: dict[str, tuple[Ontology, Project]] = {}
    for project in world.projects:
        found.setdefault(project.ontology.id, (project.ontology, project))
    return found


def ontology_view(ontology: Ontology, project: Project) -> dict:
    """An ontology as the API gives it: ``normalized`` from lbmock.ontology (verbatim or rendered)."""
    return {"id": ontology.id, "name": ontology.name, "description": None,
            "createdAt": project.created_at, "updatedAt": project.updated_at, "mediaType": "DICOM",
            "normalized": lambda info: normalized(ontology),
            "objectSchemaCount": len(ontology.tools), "classificationSchemaCount": len(ontology.classifications)}


def schema_node_view(node: dict) -> dict:
    """A feature schema: a node of an ontology's normalized JSON, named as lbmock.ontology reads it
    (a question without a name by its instructions, an option by its label, else its value)."""
    name = next((node[key] for key in ("name", "instructions", "label", "value") if node.get(key) is not None), "")
    return {"id": node["featureSchemaId"], "name": name, "normalized": node}


def _list_where(where: dict | None) -> tuple[str, bool]:
    """A list's name search (casefolded) and whether it asks for archived items only."""
    where = where or {}
    return (where.get("search") or "").casefold(), (where.get("filter") or {}).get("status") == "ARCHIVED"


def _cursor_page(items: list, after: str | None, first: int | None) -> dict:
    """Cursor pagination: a cursor is the position after a page's last item, opaque to clients."""
    start = 0
    if after:
        if not (after.isascii() and after.isdigit()) or int(after) > len(items):
            raise BadInput(f"unknown cursor {after!r}: pass the nextCursor of the previous page")
        start = int(after)
    end = start + (first or PAGE_SIZE_MAX)
    return {"nodes": items[start:end], "nextCursor": str(end) if end < len(items) else None}


def _create_export(ctx: RequestContext, input: dict, filters, scope: ExportScope) -> dict:
    raw = input["params"]
    params = ExportParams(**{name: bool(raw.get(flag)) for flag, name in PARAM_FLAGS.items()})
    task = ctx.backend.create_export(ctx.api_key, params, filters, ctx.urls, input.get("taskName"),
                                     bool(input.get("streamable")), int(time.time() * 1000), scope)
    return {"taskId": task.id, "isStreamable": True}


def _catalog_scope(world: World, params: dict) -> ExportScope:
    """Which projects a catalog-side export shows: ``allProjects`` every one the row is in,
    ``projectIds`` those, neither none (see lbmock.export.ExportScope for the sources).
    ``allModelRuns`` asks for nothing more: the world has no model runs."""
    runs = params.get("modelRunIds") or []
    if runs:
        # Not RESOURCE_NOT_FOUND: the SDK's export code reads that answer (None) without a check and
        # fails with a bare TypeError.  OPERATION_NOT_ALLOWED raises OperationNotAllowedException.
        raise NotAllowed(f"model run {runs[0]}: model-run exports are not supported for DICOM "
                         "('Not supported yet', Labelbox's DICOM export page), and this world has no model runs")
    wanted = params.get("projectIds")
    if params.get("allProjects"):
        return catalog_scope(all_projects=True)
    return catalog_scope(_project(world, pid).id for pid in wanted or ())


METADATA_KINDS = {"string": "CustomMetadataString", "number": "CustomMetadataNumber",
                  "datetime": "CustomMetadataDateTime", "enum": "CustomMetadataEnum"}
RESERVED_METADATA = frozenset({"tag", "captureDateTime"})  # Labelbox's reserved fields


def dataset_view(world: World, dataset: Dataset) -> dict:
    project = world.project
    return {"id": dataset.id, "name": dataset.name, "description": f"DICOM series: {dataset.name}",
            "createdAt": project.created_at, "updatedAt": project.updated_at,
            "rowCount": lambda info: world.row_count(dataset.id)}


def data_row_view(row: DataRow, urls: Urls, org_id: str) -> dict:
    return {
        "id": row.id, "externalId": row.external_id, "globalKey": row.global_key,
        "rowData": urls.row_data(org_id, row),
        "createdAt": row.created_at, "updatedAt": row.updated_at,
        "mediaAttributes": {"mimeType": MIME_TYPE},
        "customMetadata": [{"schemaId": m.schema.schema_id, "value": metadata_value(m)} for m in row.metadata],
        "metadataFields": [{"schemaId": m.schema.schema_id, "name": m.schema.name, "value": metadata_value(m),
                            "kind": METADATA_KINDS[m.schema.kind]} for m in row.metadata],
    }


def slice_view(saved: CatalogSlice) -> dict:
    """A slice as the API lists it; ``filter`` holds its conditions as search-query items."""
    conditions: list[dict] = []
    if saved.dataset_ids is not None:
        conditions.append({"type": "dataset", "operator": "is", "ids": sorted(saved.dataset_ids)})
    for status in sorted(saved.statuses or (), key=lambda s: s.value):
        conditions.append(_status_condition(status))
    return {"id": saved.id, "name": saved.name, "description": saved.description, "filter": conditions,
            "createdAt": saved.created_at, "updatedAt": saved.created_at}


def _status_condition(status: WorkflowStatus) -> dict:
    if status is WorkflowStatus.TO_LABEL:
        return {"type": "task_queue_not_exist"}
    return {"type": "task_queue_status", "status": status.value}


def _page(items: list, skip: int | None, first: int | None) -> list:
    """Offset pagination; an explicit ``null`` means the default, a negative bound is refused."""
    skip, first = (0 if skip is None else skip), (100 if first is None else first)
    if skip < 0 or first < 0:
        raise BadInput(f"skip and first must not be negative, got skip: {skip}, first: {first}")
    return items[skip:skip + first]


def _editor_frontend(project_id: str) -> dict:
    return {"id": "cjyq1g5arfz1b0704ttu9dzn5", "name": "Editor", "description": "Labelbox editor",
            "iframeUrlPath": "https://editor.labelbox.com"}
