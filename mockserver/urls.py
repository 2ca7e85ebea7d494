"""Every route of the mock, by endpoint family (one blueprint each).

Find any endpoint here in one hop; its handler lives in
``mockserver/handlers/<family>.py``.  The dashboard (HTML pages under
``/_mock/dashboard/``) keeps its own table: ``lbmock.mockserver.dashboard.ROUTES``.
"""

from __future__ import annotations

from lbmock.mockserver.handlers import admin, files, frames, graphql, landing, masks, storage

ROUTES: dict[str, list[tuple[str, object, list[str]]]] = {
    "graphql": [
        ("/graphql", graphql.handle_graphql, ["POST"]),
        ("/_gql", graphql.handle_graphql, ["POST"]),  # the experimental endpoint: the same schema
    ],
    "files": [
        ("/files/<task_id>/<stream>/<index>", files.export_file, ["GET"]),
        ("/files/legacy/<export_id>", files.legacy_file, ["GET"]),
        ("/api/v1/export-results/<task_id>/<org_id>", files.export_results, ["GET"]),
        ("/api/v1/export-errors/<task_id>/<org_id>", files.export_errors, ["GET"]),
    ],
    "storage": [  # row_data: /storage is STORAGE_PREFIX (lbmock.render.common)
        ("/storage/<org_id>/<file_name>", storage.dicom_file, ["GET", "HEAD"]),
    ],
    "frames": [
        ("/v1/frames/<label_id>", frames.label_frames, ["GET"]),
    ],
    "masks": [
        ("/api/v1/projects/<project_id>/annotations/<feature_id>/index/<frame>/mask", masks.v2_mask, ["GET"]),
        ("/masks/feature/<feature_id>/<frame>", masks.legacy_mask, ["GET"]),
    ],
    "landing": [
        ("/", landing.landing_page, ["GET"]),  # for a browser; not a Labelbox path
    ],
    "admin": [
        ("/_mock/health", admin.health, ["GET"]),
        ("/_mock/reset", admin.reset, ["POST"]),
        ("/_mock/world", admin.load_world, ["POST"]),
        ("/_mock/faults", admin.faults, ["GET", "POST", "DELETE"]),
        ("/_mock/journal", admin.journal, ["GET", "DELETE"]),
        ("/_mock/stubs", admin.stubs, ["GET", "POST", "DELETE"]),
        ("/_mock/state-manager/set-transition", admin.set_transition, ["POST"]),
        ("/_mock/state-manager/get-transition", admin.get_transition, ["GET"]),
        ("/_mock/state-manager/unset-transition", admin.unset_transition, ["POST"]),
        ("/_mock/tasks/<task_id>", admin.task, ["GET"]),
        ("/_mock/tasks/<task_id>/advance", admin.advance_task, ["POST"]),
    ],
}
