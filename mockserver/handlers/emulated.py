"""The SDK calls lbmock emulates: one table, as data.

It drives three things: the refusal of anything else (``refusal``: the GraphQL handler and the
route-less 404 say "lbmock does not emulate `<operation>`", naming the SDK method when known and
pointing at its docs page), the docs' "Emulated SDK calls" reference page (``markdown_table``, built
by docs/reference_gen.py) and the refusal tests in tests/test_fits_your_suite.py.  Releases are
those tests/compat drives through each call.

A GraphQL request is emulated when every root field it selects is one a row below lists (the
schema, ``gql/schema.graphql``, holds exactly those); REST routes are ``urls.py``'s Labelbox
routes.  Add a row here when a new SDK call is emulated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REFERENCE = ("the docs' reference page docs/reference/sdk-calls.md "
             "(built from lbmock.mockserver.handlers.emulated.EMULATED)")
ALL = ("3.40.1", "3.72.2", "7.17.0")


@dataclass(frozen=True)
class Call:
    """One emulated SDK call: what it sends (GraphQL operations and their root fields, REST routes)."""

    sdk: str
    operations: tuple[str, ...] = ()  # GraphQL operation names as labelbox 7.17.0 sends them
    root_fields: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()  # "METHOD /rule"
    releases: tuple[str, ...] = ALL


EMULATED: tuple[Call, ...] = (
    Call("Client(api_key=...) / client.get_user()", ("GetUserPyApi",), ("user",)),
    Call("client.get_organization()", ("GetOrganizationPyApi",), ("organization",)),
    Call("client.get_project(id)", ("GetProjectPyApi",), ("project",)),
    Call("client.get_projects(where=...): every project; where: Project.name == x, Project.uid == x, joined with &",
         ("GetProjectsPyApi",), ("projects",)),
    Call("client.get_labeling_frontends()", (), ("labelingFrontends",)),
    Call("project.export(params, filters) / project.export_v2(...)", ("exportDataRowsInProjectPyApi",),
         ("exportDataRowsInProject",)),
    Call("dataset.export / data_row.export / client.get_catalog().export", ("exportDataRowsInCatalogPyApi",),
         ("exportDataRowsInCatalog",)),
    Call("client.get_catalog_slice(id).export(...)", ("exportDataRowsInSlicePyApi", "GetSavedQueryPyApi"),
         ("exportDataRowsInSlice", "getSavedQuery")),
    Call("client.get_catalog_slices()", ("GetCatalogSavedQueriesPyApi",), ("catalogSavedQueries",), (),
         ("7.17.0",)),
    Call("export task: wait_till_done, has_errors, get_buffered_stream / get_stream, get_total_file_size, "
         "client.get_task_by_id", ("GetUserCreatedTasksPyApi", "GetExportMetadataHeaderPyApi",
                                    "GetExportFileFromOffsetPyApi"), ("task", "user"),
         ("GET /files/<task_id>/<stream>/<index>", "GET /api/v1/export-results/<task_id>/<org_id>",
          "GET /api/v1/export-errors/<task_id>/<org_id>")),
    Call("project.export_labels(download=True)", ("exportLabels",), ("exportLabels",),
         ("GET /files/legacy/<export_id>", "GET /v1/frames/<label_id>", "GET /masks/feature/<feature_id>/<frame>"),
         ("3.40.1", "3.72.2")),
    Call("client.get_dataset(id)", ("GetDatasetPyApi",), ("dataset",)),
    Call("client.get_datasets(where=...): every dataset; where: Dataset.name == x, Dataset.uid == x, joined with &",
         ("GetDatasetsPyApi",), ("datasets",)),
    Call("client.get_data_row(id) (with its metadata)", ("GetDataRowPyApi", "GetMetadataOntologyBetaPyApi"),
         ("dataRow", "customMetadataOntology")),
    Call("project.ontology() / client.get_ontology(id)", ("GetProjectOntologyPyApi", "GetOntologyPyApi"),
         ("ontology",)),
    Call("client.get_ontologies(name)", ("getOntologiesPyApi",), ("ontologies",)),
    Call("client.get_feature_schema(id)", ("rootSchemaNodePyApi",), ("rootSchemaNode",)),
    Call("client.get_feature_schemas(name)", ("rootSchemaNodesPyApi",), ("rootSchemaNodes",)),
    Call("client.get_model_run(id): model runs do not exist (ResourceNotFoundError, as the SDK raises it)",
         ("GetModelRunPyApi",), ("modelRun",)),
    Call("mask.url / row_data (signed URLs in exports)", (), (),
         ("GET /api/v1/projects/<project_id>/annotations/<feature_id>/index/<frame>/mask",
          "GET /storage/<org_id>/<file_name> (storage.labelbox.com)")),
)

# What a refusal names for calls users try first (root field or operation name -> SDK method).
KNOWN_OTHERS: dict[str, str] = {
    "createDataset": "client.create_dataset", "CreateDatasetPyApi": "client.create_dataset",
    "queryAllDataRowsHaveBeenProcessed": "project.create_batch",
    "CheckAllDataRowsHaveBeenProcessedPyApi": "project.create_batch",
    "createBatchV2": "project.create_batch", "createBatch": "project.create_batch",
    "createProject": "client.create_project", "createDataRows": "dataset.create_data_rows",
    "appendRowsToDataset": "dataset.create_data_rows", "createLabelImport": "LabelImport.create_from_objects",
    "createLabelImportByFilePyApi": "LabelImport.create_from_objects (a label import upload)",
    "createLabelImportByUrlPyApi": "LabelImport.create_from_url",
    "createModelAssistedLabelingPredictionImport": "MALPredictionImport.create_from_objects",
    "createMALPredictionImportByFilePyApi": "MALPredictionImport.create_from_objects (an upload)",
    "uploadFile": "client.upload_file / upload_data",
    "deleteDatasets": "dataset.delete", "deleteProjects": "project.delete", "labels": "project.labels",
    # Project fields lbmock lacks, by the SDK's operation names (labelbox 7.x): the SDK's X-SDK-Method
    # header can name an earlier call (a paginated call that raised leaves its method set)
    "LabelCountPyApi": "project.get_label_count", "GetProjectLabelsPyApi": "project.labels",
    "GetProjectBatchesPyApi": "project.batches", "GetProjectTaskQueuesPyApi": "project.task_queues",
    "ProjectGetOverviewPyApi": "project.get_overview", "ProjectMemberOverviewPyApi": "project.members",
    "ProjectReviewMetricsPyApi": "project.review_metrics",
    "getDataRowsForGlobalKeysPyApi": "client.get_data_row_ids_for_global_keys",
}


def emulated_root_fields() -> frozenset[str]:
    return frozenset(f for call in EMULATED for f in call.root_fields)


def sdk_method_of(*names: str | None, header: str | None = None) -> str | None:
    """The SDK method a refused request came from: the table's, else the SDK's ``X-SDK-Method`` header
    (``Client:create_dataset``, sent by labelbox 4+)."""
    for name in names:
        if name and name in KNOWN_OTHERS:
            return KNOWN_OTHERS[name]
    if header and ":" in header and "Unknown" not in header:
        cls, _, method = header.partition(":")
        return f"{cls[0].lower() + cls[1:] if cls else ''}.{method}".lstrip(".")
    return None


def refusal(what: str, sdk_method: str | None = None, closest: str | None = None,
            operation: str | None = None) -> str:
    """The message of a refused operation or route."""
    parts = [f"lbmock does not emulate `{what}`"]
    said = "; ".join(x for x in (sdk_method, f"operation {operation}" if operation and operation != what else None)
                     if x)
    if said:
        parts[0] += f" ({said})"
    if closest:
        parts.append(closest[:1].upper() + closest[1:])
    parts.append(f"Stub it with lb_mock.stub(...) or POST /_mock/stubs; supported calls: {REFERENCE}")
    out = parts[0]
    for part in parts[1:]:  # "Did you mean X?" keeps its question mark
        out = out.rstrip(". ") if not out.endswith("?") else out
        out += (" " if out.endswith("?") else ". ") + part
    return out


# the query sits in a JSON string: its newlines are the two characters backslash and n
_MULTIPART_OPERATION = re.compile(rb"\b(mutation|query)\s+(\w+)[^{]*\{(?:\s|\\[nrt])*(\w+)")


def multipart_operation(head: bytes) -> tuple[str | None, str | None]:
    """(operation name, first root field) read from the start of a multipart upload (its
    ``operations`` part comes before any file) without parsing the body."""
    found = _MULTIPART_OPERATION.search(head)
    if found is None:
        return None, None
    return found.group(2).decode("ascii", "replace"), found.group(3).decode("ascii", "replace")


def markdown_table() -> str:
    """The "Emulated SDK calls" reference page's table."""
    lines = ["| SDK call | GraphQL operation (root fields) | REST routes | releases checked |",
             "| --- | --- | --- | --- |"]
    for call in EMULATED:
        ops = ", ".join(f"`{o}`" for o in call.operations)
        fields = ", ".join(f"`{f}`" for f in call.root_fields)
        graphql = f"{ops} ({fields})" if ops and fields else ops or (f"({fields})" if fields else "")
        routes = "<br>".join(f"`{r}`" for r in call.routes)
        lines.append(f"| `{call.sdk}` | {graphql} | {routes} | {', '.join(call.releases)} |")
    return "\n".join(lines)
