"""GraphQL resolvers: the root query and mutation fields and the views they build.

Resolvers are views: they read the backend and the world and build plain
values; graphql-core picks the fields a document selects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.world import Person
from mockserver.errors import BadInput, NotFound
from mockserver.filters import parse_legacy_filters, parse_search_query
from mockserver.models import MockBackend
from mockserver.spool import ExportFile
from mockserver.tasks import ERRORS, RESULT, ExportTask

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
        return self.public_base + self.backend.signer.sign(path)


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
                "file": ctx.signed(f"/files/{task.id}/{stream}/{export_file.index}")}

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
        "result": lambda info: ctx.signed(f"/files/{task.id}/{RESULT}/all") if complete else None,
        "errors": lambda info: (ctx.signed(f"/files/{task.id}/{ERRORS}/all")
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
        project = ctx.backend.world.project
        if where["id"] != project.id:
            raise NotFound(f"project {where['id']}")
        return {
            "id": project.id, "name": project.name, "description": project.description,
            "createdAt": project.created_at, "updatedAt": project.updated_at,
            "setupComplete": project.created_at, "lastActivityTime": project.updated_at,
            "queueMode": "BATCH", "autoAuditNumberOfLabels": 1, "autoAuditPercentage": 1.0,
            "allowedMediaType": "DICOM", "editorTaskType": None, "dataRowCount": len(ctx.backend.world),
            "modelSetupComplete": False, "uploadType": None, "isBenchmarkEnabled": False,
            "isConsensusEnabled": False,
            "organization": lambda info: Root.organization(info),
            "createdBy": lambda info: user_view(project.owner, ctx, ctx.backend.user_timezone),
            "labelingFrontend": _editor_frontend(project.id),
        }

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
        project = ctx.backend.world.project
        filters_in = input["filters"]
        if filters_in["projectId"] != project.id:
            raise NotFound(f"project {filters_in['projectId']}")
        raw = input["params"]
        params = ExportParams(**{name: bool(raw.get(flag)) for flag, name in PARAM_FLAGS.items()})
        filters = parse_search_query(filters_in["searchQuery"]["query"])
        task = ctx.backend.create_export(ctx.api_key, params, filters, ctx.urls, input.get("taskName"),
                                         bool(input.get("streamable")), int(time.time() * 1000))
        return {"taskId": task.id, "isStreamable": True}

    @staticmethod
    def exportLabels(info, data):
        ctx: RequestContext = info.context
        if data["projectId"] != ctx.backend.world.project.id:
            raise NotFound(f"project {data['projectId']}")
        window = parse_legacy_filters(data.get("filters"))  # legacy-never-ready: see MockBackend.legacy_ready
        export = ctx.backend.legacy_export(ctx.api_key, window, ctx.urls)
        if not ctx.backend.legacy_ready(export):
            return {"downloadUrl": None, "createdAt": None, "shouldPoll": True}
        return {"downloadUrl": ctx.signed(f"/files/legacy/{export.id}"), "createdAt": int(time.time() * 1000),
                "shouldPoll": False}


def _page(items: list, skip: int | None, first: int | None) -> list:
    """Offset pagination; an explicit ``null`` means the default, a negative bound is refused."""
    skip, first = (0 if skip is None else skip), (100 if first is None else first)
    if skip < 0 or first < 0:
        raise BadInput(f"skip and first must not be negative, got skip: {skip}, first: {first}")
    return items[skip:skip + first]


def _editor_frontend(project_id: str) -> dict:
    return {"id": "cjyq1g5arfz1b0704ttu9dzn5", "name": "Editor", "description": "Labelbox editor",
            "iframeUrlPath": "https://editor.labelbox.com"}
