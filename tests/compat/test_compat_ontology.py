"""The ontology queries through labelbox 3.72.2 and 7.17.0 (issue 22, deliverable 1).

The driver (``drivers/sdk_ontology.py``) runs ``project.ontology()`` with ``.tools()``,
``.classifications()`` and ``.normalized``, ``client.get_ontology``, ``client.get_feature_schema``,
``get_ontologies`` and ``get_feature_schemas`` against a world whose first project carries the
user ontology of examples/world/abdomen-ontology.json and whose second keeps its drawn one.
"""

from __future__ import annotations

import pytest
from ontology_worlds import abdomen_document, expected_ontology
from support import flow, releases

from lbmock.ontology import feature_schema

BOTH = releases("3.72.2", "7.17.0")
QUICK_SECONDS = 5.0
SUMMARY = ("uid", "name", "description", "created_at", "updated_at", "object_schema_count",
           "classification_schema_count", "normalized")


@BOTH
def test_project_ontology_and_get_ontology(ontology_doc, ontology_world, release):
    for project in ontology_world.projects:
        expected = expected_ontology(project)
        for name in (f"project_ontology:{project.id}", f"get_ontology:{project.id}"):
            record = flow(ontology_doc["flows"], name)
            assert {k: record[k] for k in SUMMARY} == expected
            served = expected["normalized"]["tools"]
            assert [(t["tool"], t["name"], t["feature_schema_id"], t["schema_node_id"], t["color"], t["required"])
                    for t in record["tools"]] == [(d["tool"], d["name"], d["featureSchemaId"], d["schemaNodeId"],
                                                   d["color"], d.get("required", False)) for d in served]
            assert [t["name"] for t in record["tools"]] == [t.name for t in project.ontology.tools]
            assert [(c["name"], c["feature_schema_id"]) for c in record["classifications"]] \
                == [(c.name, c.schema_id) for c in project.ontology.classifications]


@BOTH
def test_user_ontology_is_served_verbatim(ontology_doc, ontology_world, release):
    record = flow(ontology_doc["flows"], f"project_ontology:{ontology_world.project.id}")
    assert record["normalized"] == abdomen_document()
    assert [t["name"] for t in record["tools"]] == ["Liver", "Left kidney", "Vessel centreline"]
    assert [t["tool"] for t in record["tools"]] == ["raster-segmentation", "raster-segmentation", "line"]
    liver = record["tools"][0]
    assert [(q["type"], [o["label"] for o in q["options"]]) for q in liver["classifications"]] \
        == [("radio", ["Yes", "No"])]
    (quality,) = record["classifications"]
    assert (quality["type"], quality["required"]) == ("checklist", True)


@BOTH
def test_get_feature_schema_finds_tools_questions_and_options(ontology_doc, ontology_world, release):
    for schema_id in ontology_doc["plan"]["feature_schema_ids"]:
        record = flow(ontology_doc["flows"], f"feature_schema:{schema_id}")
        node = next(n for n in (feature_schema(p.ontology, schema_id) for p in ontology_world.projects) if n)
        assert record["uid"] == schema_id
        assert record["normalized"] == node
        assert record["name"] == node.get("name", node.get("label"))


@BOTH
def test_unknown_ids_raise_at_once(ontology_doc, release):
    module = "lbox.exceptions" if release.startswith("7.") else "labelbox.exceptions"
    ontology = flow(ontology_doc["flows"], "unknown_ontology")
    assert (ontology["raised"]["module"], ontology["raised"]["type"]) == (module, "ResourceNotFoundError")
    schema = flow(ontology_doc["flows"], "unknown_feature_schema")
    assert (schema["raised"]["module"], schema["raised"]["type"]) == (module, "LabelboxError")
    assert ontology_doc["plan"]["unknown_feature_schema_id"] in schema["raised"]["message"]
    assert "FEATURE_SCHEMA_NOT_FOUND" in schema["raised"]["message"]
    assert max(ontology["seconds"], schema["seconds"]) < QUICK_SECONDS


@BOTH
def test_list_calls_search_names(ontology_doc, ontology_world, release):
    flows = ontology_doc["flows"]
    everyone = [[p.ontology.id, p.ontology.name] for p in ontology_world.projects]
    assert flow(flows, "ontologies:")["found"] == everyone
    assert flow(flows, "ontologies:ONTOLOGY")["found"] == everyone  # every name says "ontology"; any case
    assert flow(flows, "ontologies:no such name")["found"] == []
    roots = [[n.schema_id, n.name] for p in ontology_world.projects
             for n in (*p.ontology.tools, *p.ontology.classifications)]
    assert flow(flows, "feature_schemas:")["found"] == list({uid: [uid, name] for uid, name in roots}.values())
    assert flow(flows, "feature_schemas:liver")["found"] == [["clbm0liver000000000000000", "Liver"]]


def test_both_releases_see_the_same(ontology_factory):
    old, new = ontology_factory("3.72.2")["flows"], ontology_factory("7.17.0")["flows"]
    assert sorted(old) == sorted(new)

    def comparable(record: dict) -> dict:
        # timings differ; exceptions live in different modules (lbox.exceptions in 7.x)
        return {k: v for k, v in record.items() if k not in ("seconds", "raised")}

    for name in old:
        if "error" in old[name] or "error" in new[name]:
            pytest.fail(f"flow {name} raised: {old[name].get('error') or new[name].get('error')}")
        assert comparable(old[name]) == comparable(new[name]), name


@BOTH
def test_exports_use_only_the_user_ontology(ontology_doc, ontology_world, release):
    """A world file's ontology decides the exported objects and answers (issue 22's done-when)."""
    document = abdomen_document()
    record = flow(ontology_doc["flows"], f"export_features:{ontology_world.project.id}")
    assert record["labels"] > 0
    kinds = {"raster-segmentation": "DICOMSegmentationMask", "line": "DICOMPolyline"}
    allowed = {(t["featureSchemaId"], t["name"], kinds[t["tool"]]) for t in document["tools"]}
    assert {tuple(o) for o in record["objects"]} <= allowed and record["objects"]
    (quality,) = document["classifications"]
    options = {(o["featureSchemaId"], o["label"]) for o in quality["options"]}
    assert {(a[0], a[1]) for a in record["answers"]} == {(quality["featureSchemaId"], quality["name"])}
    assert {(a[2], a[3]) for a in record["answers"]} <= options
    assert record["answered_per_label"] == [1] * record["labels"]  # the required checklist, on every label
