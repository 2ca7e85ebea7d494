"""GraphQL execution: Labelbox's schema subset, resolved against a MockBackend.

Documents are parsed, validated and executed by graphql-core against
``schema.graphql``; nothing looks at query text any other way.  Resolvers
are views: they read the backend and the world and build plain values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    Lexer,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    StringValueNode,
    TokenKind,
    build_schema,
    execute,
    parse,
    validate,
)

from lbmock.render.common import Urls, iso_z_millis
from lbmock.render.v2 import ExportParams
from lbmock.world import Person
from mockserver.filters import parse_legacy_filters, parse_search_query
from mockserver.models import ERRORS, RESULT, BadInput, ExportFile, ExportTask, MockBackend, NotFound

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


# ---------------------------------------------------------------- scalars


def _serialize_datetime(value: Any) -> str:
    return iso_z_millis(value) if isinstance(value, int) else str(value)


def _parse_uint64(value: Any) -> int:
    if isinstance(value, bool):
        raise GraphQLError("UInt64 cannot represent a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        number = int(value)  # ASCII digits only: str.isdigit() also passes '²', which int() refuses
    else:
        raise GraphQLError(f"UInt64 cannot represent {value!r}: expected a non-negative integer")
    if not 0 <= number < 2**64:
        raise GraphQLError(f"UInt64 cannot represent {value!r}: out of range")
    return number


def _parse_uint64_literal(node: Any, _variables: Any = None) -> int:
    if isinstance(node, IntValueNode | StringValueNode):
        return _parse_uint64(int(node.value) if isinstance(node, IntValueNode) else node.value)
    raise GraphQLError("UInt64 literal must be an integer or a decimal string")


def _configure_scalar(scalar: Any, output: Any, input_value: Any = None, input_literal: Any = None) -> None:
    """Set a built scalar's coercers under both graphql-core 3.2 and 3.3 attribute names."""
    scalar.serialize = scalar.coerce_output_value = output
    if input_value is not None:
        scalar.parse_value = scalar.coerce_input_value = input_value
        scalar.parse_literal = input_literal


@lru_cache(maxsize=1)
def labelbox_schema() -> GraphQLSchema:
    schema = build_schema(files("mockserver").joinpath("schema.graphql").read_text())
    _configure_scalar(schema.type_map["DateTime"], _serialize_datetime)
    _configure_scalar(schema.type_map["UInt64"], int, _parse_uint64, _parse_uint64_literal)
    return schema


# ---------------------------------------------------------------- views


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
        "updatedAt": task.created_at + (int(backend.task_delay * 1000) if complete else 0),
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


# ---------------------------------------------------------------- limits

# The real API's answer to an over-limit document; the SDK maps exactly this message
# (with GRAPHQL_VALIDATION_FAILED) to ValidationFailedError.
COMPLEXITY_MESSAGE = "Query complexity limit exceeded"
MAX_DEPTH = 15  # nested field selections (the SDK's deepest documents nest 4)
MAX_COMPLEXITY = 500  # field selections, fragment spreads expanded (the SDK's largest: 16)
MAX_ALIASES = 100  # aliased selections, fragment spreads expanded (the SDK sends none)
MAX_OPERATIONS = 10  # operation definitions in one document (the SDK sends one)
MAX_FRAGMENT_NESTING = 32  # fragment spreads inside fragment spreads
MAX_QUERY_CHARS = 256 * 1024
MAX_TOKENS = 15_000
MAX_NESTING = 64  # lexical { and [ nesting: keeps the recursive parser (and all after it) shallow


class _OverLimit(Exception):
    pass


def _lexically_bounded(query: str) -> bool:
    """Size, token count and bracket nesting, checked on tokens before anything recursive runs."""
    if len(query) > MAX_QUERY_CHARS:
        return False
    lexer = Lexer(Source(query))
    tokens = nesting = 0
    try:
        token = lexer.advance()
        while token.kind is not TokenKind.EOF:
            tokens += 1
            if tokens > MAX_TOKENS:
                return False
            if token.kind in (TokenKind.BRACE_L, TokenKind.BRACKET_L):
                nesting += 1
                if nesting > MAX_NESTING:
                    return False
            elif token.kind in (TokenKind.BRACE_R, TokenKind.BRACKET_R):
                nesting -= 1
            token = lexer.advance()
    except GraphQLError:
        pass  # a syntax error: parse() reports it
    return True


def _within_limits(document: DocumentNode) -> bool:
    """Depth, complexity, aliases and operations of a parsed document.

    Runs before validation (which is super-linear in the fields of a selection
    and recursive over fragment spreads), so it tolerates what validation
    rejects: an unknown fragment counts nothing and a fragment cycle is cut where
    it closes.  Each fragment is costed once: fragment bombs cost linear time.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    costs: dict[str, tuple[int, int, int]] = {}  # fragment -> (fields, aliases, depth)
    active: list[str] = []

    def selection_set(node: SelectionSetNode | None) -> tuple[int, int, int]:
        fields = aliases = depth = 0
        for sel in node.selections if node is not None else ():
            if isinstance(sel, FieldNode):
                f, a, d = selection_set(sel.selection_set)
                f, a, d = f + 1, a + (sel.alias is not None), d + 1
            elif isinstance(sel, InlineFragmentNode):
                f, a, d = selection_set(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                f, a, d = spread(sel.name.value)
            else:
                continue
            fields, aliases, depth = fields + f, aliases + a, max(depth, d)
            if fields > MAX_COMPLEXITY or aliases > MAX_ALIASES or depth > MAX_DEPTH:
                raise _OverLimit
        return fields, aliases, depth

    def spread(name: str) -> tuple[int, int, int]:
        if name in costs:
            return costs[name]
        if name in active or name not in fragments:
            return 0, 0, 0  # a cycle or an unknown fragment: validation reports it
        if len(active) >= MAX_FRAGMENT_NESTING:
            raise _OverLimit
        active.append(name)
        costs[name] = selection_set(fragments[name].selection_set)
        active.pop()
        return costs[name]

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) > MAX_OPERATIONS:
        return False
    total_fields = total_aliases = 0
    try:
        for op in operations:
            fields, aliases, _depth = selection_set(op.selection_set)
            total_fields, total_aliases = total_fields + fields, total_aliases + aliases
            if total_fields > MAX_COMPLEXITY or total_aliases > MAX_ALIASES:
                return False
    except _OverLimit:
        return False
    return True


# ---------------------------------------------------------------- execution


@dataclass
class GraphQLOutcome:
    status: int
    body: dict
    operation: str | None


def _error(message: str, code: str, **extra: Any) -> dict:
    return {"message": message, "extensions": {"code": code, **extra}}


@lru_cache(maxsize=256)
def _checked_document(query: str) -> tuple[Any, str | None] | GraphQLOutcome:
    """Parse, bound and validate a document once: clients send the same few
    documents over and over (the SDK's poll and stream queries)."""
    over_limit = {"errors": [_error(COMPLEXITY_MESSAGE, "GRAPHQL_VALIDATION_FAILED")]}
    if not _lexically_bounded(query):
        return GraphQLOutcome(400, over_limit, None)
    try:
        document = parse(query)
    except GraphQLError as exc:
        return GraphQLOutcome(400, {"errors": [_error(exc.message, "GRAPHQL_PARSE_FAILED")]}, None)
    operation = next((d.name.value for d in document.definitions
                      if isinstance(d, OperationDefinitionNode) and d.name), None)
    if not _within_limits(document):
        return GraphQLOutcome(400, over_limit, operation)
    problems = validate(labelbox_schema(), document)
    if problems:
        return GraphQLOutcome(400, {"errors": [_error(p.message, "GRAPHQL_VALIDATION_FAILED") for p in problems]},
                              operation)
    return document, operation


def run_graphql(ctx: RequestContext, query: Any, variables: Any, operation_name: Any) -> GraphQLOutcome:
    """Parse, validate and execute one request, mapping failures to the API's error shapes."""
    if not isinstance(query, str) or not query.strip():
        return GraphQLOutcome(400, {"errors": [_error("request body must carry a 'query' string",
                                                      "GRAPHQL_PARSE_FAILED")]}, None)
    if variables is not None and not isinstance(variables, dict):
        return GraphQLOutcome(400, {"errors": [_error("'variables' must be an object or null",
                                                      "GRAPHQL_VALIDATION_FAILED")]}, None)
    if operation_name is not None and not isinstance(operation_name, str):
        operation_name = None
    # only ordinary-sized documents are cached, so hostile ones cannot fill memory
    checked = _checked_document(query) if len(query) <= 16_384 else _checked_document.__wrapped__(query)
    if isinstance(checked, GraphQLOutcome):
        return checked
    document, operation = checked
    schema = labelbox_schema()
    result = execute(schema, document, root_value=Root, context_value=ctx, variable_values=variables or {},
                     operation_name=operation_name)
    if not result.errors:
        return GraphQLOutcome(200, {"data": result.data}, operation)
    errors, status = [], 200
    for err in result.errors:
        original = err.original_error
        if isinstance(original, NotFound):
            errors.append(_error(f"Resource not found: {original}", "RESOURCE_NOT_FOUND"))
        elif isinstance(original, BadInput):
            errors.append(_error(str(original), "GRAPHQL_VALIDATION_FAILED"))
            status = 400
        elif original is None or isinstance(original, GraphQLError):  # variable coercion and the like
            errors.append(_error(err.message, "GRAPHQL_VALIDATION_FAILED"))
            status = 400
        else:  # a bug in lbmock: say so plainly, and not as a 5xx the SDK would retry for minutes
            errors.append(_error(f"lbmock internal error: {type(original).__name__}: {original}",
                                 "LBMOCK_INTERNAL_ERROR"))
            status = 400
    body: dict = {"errors": errors}
    if result.data is not None or status == 200:
        body["data"] = result.data
    return GraphQLOutcome(status, body, operation)
