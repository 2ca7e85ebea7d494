"""The wire client: the SDK's GraphQL documents (``documents``), a client typed on a small
transport protocol (``client``, ``transport``), recording with secrets stripped
(``recording``), and the one helper that starts ``lbmock serve`` (``serve``)."""

from lbmock.contract_tests.wire.client import (
    ContractViolation,
    DicomHeader,
    GraphQLFailure,
    LegacyExport,
    Stream,
    StreamFile,
    TaskWait,
    WireClient,
)
from lbmock.contract_tests.wire.documents import (
    CATALOG_EXPORT,
    CREATED_TASKS,
    CURRENT_USER,
    EXPORT,
    FROM_LINE,
    FROM_OFFSET,
    GET_PROJECT,
    GET_USER,
    HEADER,
    LEGACY_EXPORT,
    LEGACY_SDK_VERSION,
    PARAM_FLAGS,
    SDK_VERSION,
    TASK_STATUSES,
    WORKFLOW_STATUSES,
    catalog_export_variables,
    dataset_item,
    date_item,
    export_variables,
    ids_item,
    workflow_item,
)
from lbmock.contract_tests.wire.recording import Recorder, placeholder_sign, scrub, secret_param, strip_url, unsigned
from lbmock.contract_tests.wire.serve import ServedProcess, start_serve
from lbmock.contract_tests.wire.transport import FlaskTransport, HttpTransport, Reply, Transport

__all__ = [
    "CATALOG_EXPORT", "CREATED_TASKS", "CURRENT_USER", "EXPORT", "FROM_LINE", "FROM_OFFSET", "GET_PROJECT",
    "GET_USER", "HEADER",
    "LEGACY_EXPORT", "LEGACY_SDK_VERSION", "PARAM_FLAGS", "SDK_VERSION", "TASK_STATUSES", "WORKFLOW_STATUSES",
    "ContractViolation", "DicomHeader", "FlaskTransport", "GraphQLFailure", "HttpTransport", "LegacyExport",
    "Recorder", "Reply", "ServedProcess", "Stream", "StreamFile", "TaskWait", "Transport", "WireClient",
    "catalog_export_variables", "dataset_item", "date_item", "export_variables", "ids_item", "placeholder_sign",
    "scrub", "secret_param", "start_serve", "strip_url", "unsigned", "workflow_item",
]
