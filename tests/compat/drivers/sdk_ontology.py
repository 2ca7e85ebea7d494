"""Drive one labelbox SDK release (3.72+) through the ontology queries; print one JSON document.

Run by an SDK virtualenv's interpreter (only labelbox is installed there):

    <venv>/bin/python sdk_ontology.py BASE_URL API_KEY PROJECT_ID < plan.json

The plan names ``project_ids`` (default: PROJECT_ID), ``feature_schema_ids``, an
``unknown_ontology_id``, an ``unknown_feature_schema_id`` and ``searches`` (name parts).
The flows: ``project_ontology:<id>`` (``project.ontology()`` with ``.tools()``,
``.classifications()`` and ``.normalized``), ``get_ontology:<id>``,
``feature_schema:<id>`` (``client.get_feature_schema``), ``unknown_ontology`` /
``unknown_feature_schema`` (what each raises, and how fast), ``ontologies:<search>`` and
``feature_schemas:<search>`` (``client.get_ontologies`` / ``get_feature_schemas``), and
``export_features:<id>`` (every object's and answer's schema id and name in the project's export).
"""

from __future__ import annotations

import sys
import time

import driverlib as lib
import labelbox


def iso(value) -> str | None:
    """A parsed DateTime back as the wire's ISO form (milliseconds, Z)."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def enum_value(value):
    return getattr(value, "value", value)


def question(c) -> dict:
    return {"type": enum_value(c.class_type), "name": c.name, "feature_schema_id": c.feature_schema_id,
            "schema_node_id": c.schema_id, "required": c.required, "scope": enum_value(getattr(c, "scope", None)),
            "options": [{"value": o.value, "label": o.label, "feature_schema_id": o.feature_schema_id,
                         "options": [question(n) for n in o.options]} for o in c.options]}


def ontology_record(ontology) -> dict:
    return {
        "uid": ontology.uid, "name": ontology.name, "description": ontology.description,
        "created_at": iso(ontology.created_at), "updated_at": iso(ontology.updated_at),
        "object_schema_count": ontology.object_schema_count,
        "classification_schema_count": ontology.classification_schema_count,
        "normalized": ontology.normalized,
        "tools": [{"tool": enum_value(t.tool), "name": t.name, "feature_schema_id": t.feature_schema_id,
                   "schema_node_id": t.schema_id, "color": t.color, "required": t.required,
                   "classifications": [question(c) for c in t.classifications]} for t in ontology.tools()],
        "classifications": [question(c) for c in ontology.classifications()],
    }


def raised(call) -> dict:
    started = time.monotonic()
    try:
        out = {"returned": repr(call())}
    except Exception as exc:
        out = {"raised": lib.error_info(exc)}
    out["seconds"] = round(time.monotonic() - started, 3)
    return out


def main() -> dict:
    plan, flows, doc, client = lib.begin(sys.argv[1:])

    for pid in plan.get("project_ids", [plan["project_id"]]):
        with flows.flow(f"project_ontology:{pid}") as rec:
            ontology = client.get_project(pid).ontology()
            rec.update(ontology_record(ontology))
        with flows.flow(f"get_ontology:{pid}") as rec:
            rec.update(ontology_record(client.get_ontology(ontology.uid)))
    for schema_id in plan.get("feature_schema_ids", []):
        with flows.flow(f"feature_schema:{schema_id}") as rec:
            schema = client.get_feature_schema(schema_id)
            rec.update(uid=schema.uid, name=schema.name, normalized=schema.normalized)
    with flows.flow("unknown_ontology") as rec:
        rec.update(raised(lambda: client.get_ontology(plan["unknown_ontology_id"])))
    with flows.flow("unknown_feature_schema") as rec:
        rec.update(raised(lambda: client.get_feature_schema(plan["unknown_feature_schema_id"])))
    for pid in plan.get("project_ids", [plan["project_id"]]):
        with flows.flow(f"export_features:{pid}") as rec:
            task = client.get_project(pid).export(params={"label_details": True})
            task.wait_till_done()
            rows = [output.json for output in task.get_buffered_stream()]
            labels = [label for row in rows for label in row["projects"][pid]["labels"]]
            objects = {(o["feature_schema_id"], o["name"], o["annotation_kind"]) for label in labels
                       for group in label["annotations"]["groups"].values() for frame in group["frames"].values()
                       for o in frame["objects"].values()}
            answers = {(c["feature_schema_id"], c["name"], a["feature_schema_id"], a["name"]) for label in labels
                       for c in label["annotations"]["classifications"]
                       for a in ([c["radio_answer"]] if "radio_answer" in c else c.get("checklist_answers", []))}
            rec.update(labels=len(labels), objects=sorted(map(list, objects)), answers=sorted(map(list, answers)),
                       answered_per_label=[len(label["annotations"]["classifications"]) for label in labels])
    for search in plan.get("searches", []):
        with flows.flow(f"ontologies:{search}") as rec:
            rec["found"] = [[o.uid, o.name] for o in client.get_ontologies(search)]
        with flows.flow(f"feature_schemas:{search}") as rec:
            rec["found"] = [[f.uid, f.name] for f in client.get_feature_schemas(search)]
    return doc


if __name__ == "__main__":
    lib.run_driver(main, getattr(labelbox, "__version__", None))
