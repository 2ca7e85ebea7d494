"""The SDK's GraphQL documents and variable shapes, verbatim.

The ones labelbox 7.17.0 sends (3.72.2 for the two flows 7.17 removed: ``exportFileFromLine``
and the legacy ``exportLabels``), as read off the released SDK packages (``tests/compat`` runs
those releases against the mock and checks them).  One way to build an export's input:
:func:`export_variables`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SDK_VERSION = "7.17.0"
LEGACY_SDK_VERSION = "3.72.2"  # exportLabels and exportFileFromLine: gone from 7.17
TASK_STATUSES = frozenset({"IN_PROGRESS", "COMPLETE", "FAILED"})

GET_PROJECT = ("query GetProjectPyApi($param_0: ID!){project(where: {id: $param_0}){autoAuditNumberOfLabels "
               "autoAuditPercentage createdAt dataRowCount description editorTaskType isBenchmarkEnabled "
               "isConsensusEnabled lastActivityTime allowedMediaType modelSetupComplete name setupComplete id "
               "updatedAt uploadType}}")
GET_USER = ("query GetUserPyApi{user{createdAt email isExternalUser isViewer lastLoginAt nickname name picture id "
            "updatedAt}}")
CURRENT_USER = "query CurrentUserPyApi { user { timezone } }"
EXPORT = ("mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!)"
          "{exportDataRowsInProject(input: $input){taskId isStreamable}}")
# Dataset.export, DataRow.export and Catalog.export (7.17's documents; Slice.export sends
# exportDataRowsInSlice with filters {sliceId}).
CATALOG_EXPORT = ("mutation exportDataRowsInCatalogPyApi($input: ExportDataRowsInCatalogInput!)"
                  "{exportDataRowsInCatalog(input: $input){taskId isStreamable}}")
CREATED_TASKS = ("query GetUserCreatedTasksPyApi($param_0: ID!, $param_1: ID!){user(where: {id: $param_1})"
                 "{createdTasks(where: {id: $param_0} skip: 0 first: 100){completionPercentage createdAt errors "
                 "metadata name result status status type id updatedAt}}}")
HEADER = ("query GetExportMetadataHeaderPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!)"
          "{task(where: $where){exportMetadataHeader(streamType: $streamType){totalSize totalLines}}}")
FROM_OFFSET = ("query GetExportFileFromOffsetPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!, "
               "$offset: UInt64!){task(where: $where){exportFileFromOffset(streamType: $streamType, "
               "offset: $offset){offsets {start end} lines {start end} file}}}")
FROM_LINE = ("query GetExportFileFromLinePyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!, "
             "$line: UInt64!){task(where: $where){exportFileFromLine(streamType: $streamType, line: $line)"
             "{offsets {start end} lines {start end} file}}}")
LEGACY_EXPORT = ("mutation GetLabelExportUrlPyApi($projectId: ID!)\n            {exportLabels(data:{projectId: "
                 "$projectId%s}) {downloadUrl createdAt shouldPoll} }\n        ")

# SDK param name -> GraphQL flag, in the order 7.17 sends them.
PARAM_FLAGS: dict[str, str] = {
    "attachments": "includeAttachments",
    "embeddings": "includeEmbeddings",
    "metadata_fields": "includeMetadata",
    "data_row_details": "includeDataRowDetails",
    "project_details": "includeProjectDetails",
    "performance_details": "includePerformanceDetails",
    "label_details": "includeLabelDetails",
    "interpolated_frames": "includeInterpolatedFrames",
}
WORKFLOW_STATUSES = ("ToLabel", "InReview", "InRework", "Done")



def export_variables(project_id: str, params: Mapping[str, bool] | None = None,
                     filters: Iterable[Mapping] = (), streamable: bool = True,
                     task_name: str | None = None, *, flags: Mapping[str, object] | None = None) -> dict:
    """The ``exportDataRowsInProject`` variables of 7.17's ``project.export()`` (``export_v2``: streamable False).

    ``params`` by the SDK's names (``label_details``...); ``flags`` instead sends GraphQL flags
    verbatim, any values (for tests of what the server does with them).
    """
    params = dict(params or {})
    unknown = set(params) - set(PARAM_FLAGS)
    if unknown:
        raise ValueError(f"unknown export params {sorted(unknown)}; known: {', '.join(PARAM_FLAGS)}")
    if flags is None:
        flags = {flag: params.get(name, False) for name, flag in PARAM_FLAGS.items()}
    return {"input": {"taskName": task_name, "isStreamableReady": True,
                      "filters": {"projectId": project_id, "searchQuery": {"scope": None, "query": list(filters)}},
                      "params": {"mediaTypeOverride": None, **flags},
                      "streamable": streamable}}


def catalog_export_variables(params: Mapping[str, bool] | None = None, filters: Iterable[Mapping] = (),
                             project_ids: list[str] | None = None, task_name: str | None = None) -> dict:
    """The ``exportDataRowsInCatalog`` variables of 7.17's ``Dataset.export()`` / ``Catalog.export()``
    (a dataset export adds ``dataset_item(id)`` to ``filters``)."""
    params = dict(params or {})
    flags = {flag: params.get(name, False) for name, flag in PARAM_FLAGS.items()}
    return {"input": {"taskName": task_name, "isStreamableReady": True,
                      "filters": {"searchQuery": {"scope": None, "query": list(filters)}},
                      "params": {"mediaTypeOverride": None, **flags, "includePredictions": False,
                                 "projectIds": project_ids, "modelRunIds": None, "allProjects": False,
                                 "allModelRuns": False},
                      "streamable": True}}


def dataset_item(dataset_id: str) -> dict:
    """The filter item ``Dataset.export`` appends: the dataset's rows only."""
    return {"ids": [dataset_id], "operator": "is", "type": "dataset"}


def date_item(kind: str, start: str | None, end: str | None, timezone: str) -> dict:
    """A date filter item as 3.72/7.17 build it; ``kind`` is last_activity_at or label_created_at."""
    types = {"last_activity_at": "data_row_last_activity_at", "label_created_at": "labeled_at"}
    if start and end:
        value: dict = {"operator": "BETWEEN", "timezone": timezone, "value": {"min": start, "max": end}}
    elif start:
        value = {"operator": "GREATER_THAN_OR_EQUAL", "timezone": timezone, "value": start}
    elif end:
        value = {"operator": "LESS_THAN_OR_EQUAL", "timezone": timezone, "value": end}
    else:
        raise ValueError("a date filter needs a start or an end")
    return {"type": types[kind], "value": value}


def ids_item(kind: str, ids: list[str]) -> dict:
    """``data_row_ids`` / ``global_keys`` / ``batch_ids`` items (at most 2000 ids, as the SDK checks)."""
    types = {"data_row_ids": "data_row_id", "global_keys": "global_key", "batch_ids": "batch"}
    if not ids or len(ids) > 2000:
        raise ValueError(f"{kind} takes 1 to 2000 ids")
    return {"ids": list(ids), "operator": "is", "type": types[kind]}


def workflow_item(status: str) -> dict:
    if status not in WORKFLOW_STATUSES:
        raise ValueError(f"workflow_status must be one of {WORKFLOW_STATUSES}")
    return {"type": "task_queue_not_exist"} if status == "ToLabel" else {"type": "task_queue_status", "status": status}
