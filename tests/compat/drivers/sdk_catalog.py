"""Drive one labelbox SDK release (3.72+) through the catalog-side export entry points; print one JSON document.

Run by an SDK virtualenv's interpreter (only labelbox is installed there):

    <venv>/bin/python sdk_catalog.py BASE_URL API_KEY PROJECT_ID < plan.json

against ``lbmock serve --quality consensus --projects 2`` (or any world).  The
plan names what to ask for: ``project_ids`` (every project of the world),
``dataset_id``, ``data_row_ids``, ``global_keys``, ``slice_ids``, ``params``
(export params) and ``filters`` (dataset filters).  The flows:
``get_project:<id>`` (GetProjectPyApi: consensus/benchmark flags),
``project_export:<id>`` (``project.export``), ``dataset_export`` /
``dataset_export_v2`` / ``dataset_export_filtered`` / ``dataset_export_all_projects`` /
``dataset_export_project_ids`` / ``dataset_export_model_run_ids`` (``Dataset.export`` /
``export_v2``), ``get_model_run_unknown``, ``data_row_export`` / ``data_row_export_keys`` /
``data_row_export_unknown`` (``DataRow.export``), ``get_data_row``,
``catalog_export`` / ``catalog_export_project_ids`` (``client.get_catalog().export``),
``slice:<id>`` (``client.get_catalog_slice(id).export``), ``slices`` (7.x
``get_catalog_slices``), ``attachment_types`` (each exported attachment type
through the release's ``AttachmentType``) and ``legacy:<id>`` (3.x
``project.export_labels``).
"""

from __future__ import annotations

import sys
import warnings

import driverlib as lib
import labelbox


def stream_rows(task) -> dict:
    """Wait for an ExportTask and read its RESULT stream the way the SDK documents."""
    from labelbox import StreamType

    task.wait_till_done()
    out: dict = {"task_type": lib.type_name(task), "status": task.status, "has_errors": task.has_errors(),
                 "total_lines": task.get_total_lines(StreamType.RESULT)}
    rows: list = []
    if out["total_lines"] is not None:
        task.get_buffered_stream().start(stream_handler=lambda output: rows.append(output.json))
    out["rows"] = rows
    out["ids"] = lib.row_ids(rows)
    return out


def main() -> dict:
    plan = lib.read_plan(sys.argv[1:])
    base, api_key = plan["base_url"], plan["api_key"]
    flows = lib.Flows()
    doc: dict = {"sdk_version": labelbox.__version__, "base_url": base, "flows": flows.results}
    warnings.simplefilter("ignore", DeprecationWarning)  # export_v2 / export_labels warn
    client = labelbox.Client(api_key=api_key, endpoint=f"{base}/graphql", rest_endpoint=f"{base}/api/v1")
    client.enable_experimental = True  # 3.72: Catalog.export is experimental
    params = plan.get("params") or {}

    for pid in plan.get("project_ids", [plan["project_id"]]):
        project = None
        with flows.flow(f"get_project:{pid}") as rec:
            project = client.get_project(pid)
            rec.update(uid=project.uid, name=project.name,
                       consensus=getattr(project, "is_consensus_enabled", None),
                       benchmark=getattr(project, "is_benchmark_enabled", None))
        if project is None:
            continue
        with flows.flow(f"project_export:{pid}") as rec:
            rec.update(stream_rows(project.export(params=params)))
        if hasattr(project, "export_labels"):
            with flows.flow(f"legacy:{pid}") as rec:
                rec["labels"] = project.export_labels(download=True)

    dataset = None
    with flows.flow("get_dataset") as rec:
        dataset = client.get_dataset(plan["dataset_id"])
        rec.update(uid=dataset.uid, name=dataset.name, row_count=dataset.row_count)
    if dataset is not None:
        with flows.flow("dataset_export") as rec:
            rec.update(stream_rows(dataset.export(params=params)))
        with flows.flow("dataset_export_all_projects") as rec:
            rec.update(stream_rows(dataset.export(params={**params, "all_projects": True})))
        with flows.flow("dataset_export_project_ids") as rec:
            rec.update(stream_rows(dataset.export(params={**params, "project_ids": plan["project_ids"][1:]})))
        with flows.flow("dataset_export_model_run_ids") as rec:
            try:
                dataset.export(params={**params, "model_run_ids": ["cl0no0such0run0000000001"]})
            except Exception as exc:
                rec["raised"] = lib.error_info(exc)
        with flows.flow("dataset_export_v2") as rec:
            task = dataset.export_v2(params=params)
            task.wait_till_done()
            rec["task_type"] = lib.type_name(task)
            rows = task.result
            rec["rows"] = rows
            rec["ids"] = lib.row_ids(rows or [])
        with flows.flow("dataset_export_filtered") as rec:
            rec.update(stream_rows(dataset.export(params=params, filters=plan.get("filters"))))

    from labelbox import DataRow

    with flows.flow("data_row_export") as rec:
        rec.update(stream_rows(DataRow.export(client, data_rows=plan["data_row_ids"], params=params)))
    with flows.flow("data_row_export_keys") as rec:
        rec.update(stream_rows(DataRow.export(client, global_keys=plan["global_keys"], params=params)))
    with flows.flow("data_row_export_unknown") as rec:
        rec.update(stream_rows(DataRow.export(client, data_rows=["cl0no0such0data0row000001"], params=params)))
    for row_id in plan["data_row_ids"]:
        with flows.flow(f"get_data_row:{row_id}") as rec:
            data_row = client.get_data_row(row_id)
            rec.update(uid=data_row.uid, external_id=data_row.external_id, global_key=data_row.global_key,
                       row_data=data_row.row_data, media_attributes=data_row.media_attributes)

    with flows.flow("get_model_run_unknown") as rec:
        try:
            client.get_model_run("nope")
        except Exception as exc:
            rec["raised"] = lib.error_info(exc)

    catalog = client.get_catalog()
    with flows.flow("catalog_export") as rec:
        rec.update(stream_rows(catalog.export(params=params)))
    with flows.flow("catalog_export_project_ids") as rec:
        rec.update(stream_rows(catalog.export(params={**params, "project_ids": plan["project_ids"][1:]})))

    for slice_id in plan.get("slice_ids", []):
        with flows.flow(f"slice:{slice_id}") as rec:
            saved = client.get_catalog_slice(slice_id)
            rec.update(uid=saved.uid, name=saved.name, filter=saved.filter)
            rec.update(stream_rows(saved.export(params=params)))
    if hasattr(client, "get_catalog_slices"):
        with flows.flow("slices") as rec:
            rec["slices"] = [{"uid": s.uid, "name": s.name} for s in client.get_catalog_slices()]

    from labelbox.schema.asset_attachment import AttachmentType

    with flows.flow("attachment_types") as rec:
        seen = sorted({a["type"] for r in flows.results["catalog_export"].get("rows", [])
                       for a in r.get("attachments", [])})
        rejected = []
        for value in seen:
            try:
                AttachmentType(value)
            except ValueError:
                rejected.append(value)
        rec.update(seen=seen, rejected=rejected)
    return doc


if __name__ == "__main__":
    lib.run_driver(main, getattr(labelbox, "__version__", None))
