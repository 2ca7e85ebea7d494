"""Drive one labelbox SDK release through the DICOM export flows; print one JSON document.

Run by an SDK virtualenv's interpreter (only labelbox is installed there):

    <venv>/bin/python sdk_flows.py BASE_URL API_KEY PROJECT_ID [< plan.json]

Without a plan it runs the reference page (the export code block of
``../reference/labelbox-dicom-export-doc.txt``, unmodified) and follows its
links.  The plan (stdin, JSON) adds the cases the test process computed from
the seeded world: ``v2_cases`` (``project.export_v2``), ``stream_cases``
(``project.export``, 3.72+), ``legacy_cases`` (``project.export_labels``, 3.x)
and ``with_line`` (3.72 ``get_stream().with_line``); ``reference_doc``
overrides the page's path.
"""

from __future__ import annotations

import json
import sys
import warnings

import driverlib as lib
import labelbox


def export_v2_case(project, case: dict) -> dict:
    task = project.export_v2(params=case.get("params"), filters=case.get("filters"))
    task.wait_till_done()
    out: dict = {"task_type": lib.type_name(task), "status": task.status}
    errors = task.errors
    out["errors"] = errors
    rows = task.result
    out["result_type"] = lib.type_name(rows)
    out["ids"] = lib.row_ids(rows or [])
    if case.get("full"):
        out["rows"] = rows
    return out


def export_stream_case(project, case: dict, stream_type) -> tuple[dict, object]:
    task = project.export(params=case.get("params"), filters=case.get("filters"))
    task.wait_till_done()
    out: dict = {"task_type": lib.type_name(task), "status": task.status,
                 "total_lines": task.get_total_lines(stream_type.RESULT),
                 "total_size": task.get_total_file_size(stream_type.RESULT),
                 "has_errors": task.has_errors(), "has_result": task.has_result()}
    if out["total_lines"] is None:  # an empty stream has no metadata header, hence no buffered stream
        try:
            task.get_buffered_stream()
        except ValueError as exc:
            out["buffered_stream_error"] = str(exc)
        out["ids"] = []
        return out, task
    rows: list = []
    task.get_buffered_stream().start(stream_handler=lambda output: rows.append(output.json))
    out["ids"] = lib.row_ids(rows)
    if case.get("full"):
        out["rows"] = rows
    return out, task


def main() -> dict:
    plan = lib.read_plan(sys.argv[1:])
    base, api_key = plan["base_url"], plan["api_key"]
    flows = lib.Flows()
    doc: dict = {"sdk_version": labelbox.__version__, "base_url": base, "flows": flows.results}
    warnings.simplefilter("ignore", DeprecationWarning)  # export_v2 / export_labels / JsonConverter warn

    client = labelbox.Client(api_key=api_key, endpoint=f"{base}/graphql", rest_endpoint=f"{base}/api/v1")
    project = None
    with flows.flow("get_project") as rec:
        project = client.get_project(plan["project_id"])
        rec.update(uid=project.uid, name=project.name, type=lib.type_name(project))
    if project is None:
        return doc

    # ---- the reference page, unmodified
    with open(plan["reference_doc"], encoding="utf-8") as fh:
        page_code = lib.extract_page_code(fh.read())
    with flows.flow("page") as rec:
        page = lib.run_page(page_code, {"project": project})
        bound = page.pop("bindings")
        rec.update(page)
        names = [name for name, _ in bound]
        rec["bound"] = names
        values = dict(bound)
        task = values.get("export_task")
        rec["export_task_type"] = lib.type_name(task) if task is not None else None
        if task is not None and "export_json" in values:
            rec["export_task_errors"] = task.errors
        rec["export_json"] = values.get("export_json")
        rec["export_json_type"] = lib.type_name(values["export_json"]) if "export_json" in values else None
        label_values = [value for name, value in bound if name == "labels"]
        rec["labels_all"] = label_values[0] if label_values else None
        rec["labels_window"] = label_values[1] if len(label_values) > 1 else None
    page_rows = flows.results["page"].get("export_json") or []
    page_labels = flows.results["page"].get("labels_all") or []

    with flows.flow("page_v2_masks") as rec:
        rec["masks"] = lib.fetch_masks(lib.v2_mask_urls(page_rows), api_key)

    if hasattr(project, "export_labels"):
        with flows.flow("legacy_frames") as rec:
            rec["frames"], rec["masks"] = lib.fetch_frames_and_masks(page_labels, api_key)
        with flows.flow("legacy_url") as rec:
            url = project.export_labels(download=False)
            rec["url"] = url
            rec["ids"] = [label["ID"] for label in lib.get(url, None).json()]  # signed: no bearer needed
        for case in plan.get("legacy_cases", []):
            with flows.flow(f"legacy:{case['name']}") as rec:
                labels = project.export_labels(download=True, **case["kwargs"])
                rec["ids"] = [label["ID"] for label in labels]

    for case in plan.get("v2_cases", []):
        with flows.flow(f"v2:{case['name']}") as rec:
            rec.update(export_v2_case(project, case))

    if hasattr(project, "export"):
        from labelbox import StreamType

        tasks = {}
        for case in plan.get("stream_cases", []):
            with flows.flow(f"stream:{case['name']}") as rec:
                out, tasks[case["name"]] = export_stream_case(project, case, StreamType)
                rec.update(out)
        page_task = tasks.get("page")
        if page_task is not None and hasattr(page_task, "get_stream"):  # 3.72 only: removed in 7.x
            from labelbox import JsonConverter

            with flows.flow("get_stream") as rec:
                outputs = list(page_task.get_stream(converter=JsonConverter(), stream_type=StreamType.RESULT))
                rec["ids"] = [json.loads(o.json_str)["data_row"]["id"] for o in outputs]
                rec["lines"] = [o.current_line for o in outputs]
            with flows.flow("get_stream_with_line") as rec:
                n = plan.get("with_line", 1)
                stream = page_task.get_stream(converter=JsonConverter(), stream_type=StreamType.RESULT)
                outputs = list(stream.with_line(n))
                rec["line"] = n
                rec["ids"] = [json.loads(o.json_str)["data_row"]["id"] for o in outputs]
                rec["lines"] = [o.current_line for o in outputs]
    return doc


if __name__ == "__main__":
    lib.run_driver(main, getattr(labelbox, "__version__", None))
