"""The ontology queries through labelbox 7.17.0, in-process (issue 22, deliverable 1): ``project.ontology()``
with ``.tools()``, ``.classifications()`` and ``.normalized``, ``client.get_ontology``,
``client.get_feature_schema``, ``get_ontologies`` and ``get_feature_schemas``, for a drawn ontology and a
user's.  tests/compat/test_compat_ontology.py runs the same calls through 3.72.2 and 7.17.0."""

from __future__ import annotations

import time

import labelbox
import pytest
import requests
from lbox.exceptions import LabelboxError, ResourceNotFoundError  # labelbox 7.x raises these
from ontology_worlds import (
    ABDOMEN_FILE,
    abdomen_document,
    drawn_spec,
    expected_ontology,
    schema_ids,
    user_ontology_spec,
)

from lbmock.ontology import feature_schema, normalized

pytestmark = pytest.mark.lb_world(world=drawn_spec())  # lb_mock serves lb_world: this one unless marked

GRAPHQL = "https://api.labelbox.com/graphql"
LIST_ONTOLOGIES = """query getOntologiesPyApi($search: String, $filter: OntologyFilter, $from: String,
  $first: PageSize){ontologies(where: {filter: $filter, search: $search}, after: $from, first: $first){
  nodes {id name} nextCursor}}"""
LIST_SCHEMAS = """query rootSchemaNodesPyApi($search: String, $from: String, $first: PageSize){
  rootSchemaNodes(where: {search: $search}, after: $from, first: $first){nodes {id name} nextCursor}}"""


def sdk_summary(ontology) -> dict:
    return {"uid": ontology.uid, "name": ontology.name, "description": ontology.description,
            "created_at": ontology.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "updated_at": ontology.updated_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "object_schema_count": ontology.object_schema_count,
            "classification_schema_count": ontology.classification_schema_count,
            "normalized": ontology.normalized}


def graphql(lb, query: str, variables: dict) -> requests.Response:
    return requests.post(GRAPHQL, json={"query": query, "variables": variables},
                         headers={"Authorization": f"Bearer {lb.api_key}"}, timeout=10)


def test_drawn_ontology_through_the_sdk(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    for project in lb_world.projects:
        ontology = client.get_project(project.id).ontology()
        assert sdk_summary(ontology) == expected_ontology(project)
        assert ontology.media_type is labelbox.MediaType.Unsupported  # "DICOM", as allowedMediaType
        drawn = project.ontology
        assert [(t.tool.value, t.name, t.feature_schema_id, t.color) for t in ontology.tools()] \
            == [({"mask": "raster-segmentation", "polyline": "line"}[t.kind], t.name, t.schema_id, t.color)
                for t in drawn.tools]
        assert [[c.name for c in t.classifications] for t in ontology.tools()] \
            == [[c.name for c in t.classifications] for t in drawn.tools]
        assert [(c.class_type.value, c.name, c.feature_schema_id, [o.feature_schema_id for o in c.options])
                for c in ontology.classifications()] \
            == [(c.kind, c.name, c.schema_id, [o.schema_id for o in c.options]) for c in drawn.classifications]
        assert sdk_summary(client.get_ontology(drawn.id)) == expected_ontology(project)


def test_get_feature_schema_finds_a_tool_a_nested_question_and_an_option(lb_mock, lb_world):
    ids = schema_ids(lb_world.project.ontology)
    assert set(ids) == {"tool", "nested_question", "option", "top_question"}
    client = labelbox.Client(**lb_mock.client_kwargs)
    for schema_id in ids.values():
        schema = client.get_feature_schema(schema_id)
        node = feature_schema(lb_world.project.ontology, schema_id)
        assert (schema.uid, schema.normalized) == (schema_id, node)
        assert schema.name == node.get("name", node.get("label"))


def test_unknown_ids_raise_clear_errors_at_once(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    started = time.monotonic()
    with pytest.raises(ResourceNotFoundError, match="Ontology"):
        client.get_ontology("cl0no0such0ontology000001")
    # the SDK reads get_feature_schema's answer without a null check: RESOURCE_NOT_FOUND would end in a
    # TypeError, so this one error has its own code and surfaces as LabelboxError naming the id
    with pytest.raises(LabelboxError, match=r"cl0no0such0schema00000001.*FEATURE_SCHEMA"):
        client.get_feature_schema("cl0no0such0schema00000001")
    assert time.monotonic() - started < 5.0  # no retries
    answer = graphql(lb_mock, "query q($w: RootSchemaNodeWhere!){rootSchemaNode(where: $w){id}}",
                     {"w": {"featureSchemaId": "cnope"}})
    assert answer.status_code == 200
    assert answer.json()["data"] == {"rootSchemaNode": None}
    assert answer.json()["errors"][0]["extensions"]["code"] == "FEATURE_SCHEMA_NOT_FOUND"


@pytest.mark.lb_world(world=user_ontology_spec())
def test_user_ontology_is_served_verbatim(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    ontology = client.get_project(lb_world.project.id).ontology()
    assert ontology.uid == lb_world.project.ontology.id
    assert ontology.normalized == abdomen_document()
    assert [(t.tool.value, t.name) for t in ontology.tools()] == [
        ("raster-segmentation", "Liver"), ("raster-segmentation", "Left kidney"), ("line", "Vessel centreline")]
    liver = ontology.tools()[0]
    assert [(c.class_type.value, [o.label for o in c.options]) for c in liver.classifications] \
        == [("radio", ["Yes", "No"])]
    (quality,) = ontology.classifications()
    assert (quality.class_type.value, quality.required) == ("checklist", True)
    assert (ontology.object_schema_count, ontology.classification_schema_count) == (3, 1)
    # the second project keeps its drawn ontology
    other = lb_world.projects[1]
    assert client.get_project(other.id).ontology().normalized == normalized(other.ontology)
    option = abdomen_document()["tools"][0]["classifications"][0]["options"][1]
    schema = client.get_feature_schema(option["featureSchemaId"])
    assert (schema.name, schema.normalized) == ("No", option)


@pytest.mark.lb_world(world=user_ontology_spec())
def test_lists_search_names_and_page_by_cursor(lb_mock, lb_world):
    client = labelbox.Client(**lb_mock.client_kwargs)
    everyone = [(p.ontology.id, p.ontology.name) for p in lb_world.projects]
    assert [(o.uid, o.name) for o in client.get_ontologies("")] == everyone
    assert [o.uid for o in client.get_ontologies("ABDOMEN")] == [lb_world.project.ontology.id]
    assert [(f.uid, f.name) for f in client.get_feature_schemas("kidney")] \
        == [("clbm0lkid0000000000000000", "Left kidney")]
    roots = [(n.schema_id, n.name) for p in lb_world.projects
             for n in (*p.ontology.tools, *p.ontology.classifications)]
    assert [(f.uid, f.name) for f in client.get_feature_schemas("")] == list(dict(roots).items())

    for query, key, expected in ((LIST_ONTOLOGIES, "ontologies", [uid for uid, _ in everyone]),
                                 (LIST_SCHEMAS, "rootSchemaNodes", list(dict(roots)))):
        seen, cursor = [], None
        for _ in range(len(expected) + 1):  # one page per item, then no cursor
            page = graphql(lb_mock, query, {"search": "", "from": cursor, "first": 1}).json()["data"][key]
            seen += [node["id"] for node in page["nodes"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == expected
    refused = graphql(lb_mock, LIST_ONTOLOGIES, {"from": "bogus", "first": 1})
    assert refused.status_code == 400 and "cursor" in refused.json()["errors"][0]["message"]
    refused = graphql(lb_mock, LIST_ONTOLOGIES, {"first": 0})
    assert refused.status_code == 400 and "PageSize" in refused.json()["errors"][0]["message"]


def test_a_misspelt_ontology_field_names_the_right_one(lb_mock, lb_world):
    answer = graphql(lb_mock, "query q($id: ID!){project(where: {id: $id}){ontology{id normalised}}}",
                     {"id": lb_world.project.id})
    assert answer.status_code == 400
    assert "normalized" in answer.json()["errors"][0]["message"]


# WorldSpec(ontology=...) (--ontology FILE): labels are drawn from it, and the queries serve it verbatim
@pytest.mark.lb_world(seed=5, rows=4, ontology=ABDOMEN_FILE.read_text())
def test_the_ontology_world_option_is_served_by_the_same_queries(lb_mock):
    client = labelbox.Client(**lb_mock.client_kwargs)
    ontology = client.get_project(lb_mock.project_id).ontology()
    assert ontology.normalized == abdomen_document()
    assert [t.name for t in ontology.tools()] == ["Liver", "Left kidney", "Vessel centreline"]
    assert client.get_ontology(ontology.uid).normalized == abdomen_document()
    assert client.get_feature_schema("clbm0liver000000000000000").name == "Liver"
