"""A user's ontology in (lbmock.ontology.parse_ontology) and out (normalized), checked against the
SDK's own parser (labelbox.schema.ontology), and refused with the JSON path of the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labelbox.schema.ontology import OntologyBuilder

from lbmock.ontology import OntologyError, feature_schema, normalized, parse_ontology
from lbmock.strategies import seeded_world

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "world" / "abdomen-ontology.json"


def test_a_user_ontology_becomes_the_worlds_tools_and_questions():
    document = json.loads(EXAMPLE.read_text())
    ontology = parse_ontology(document, "contology", "Abdomen")
    assert [(t.name, t.kind, t.color, t.schema_id) for t in ontology.tools] == [
        ("Liver", "mask", "#A52A2A", "clbm0liver000000000000000"),
        ("Left kidney", "mask", "#1E90FF", "clbm0lkid0000000000000000"),
        ("Vessel centreline", "polyline", "#FFD700", "clbm0vess0000000000000000")]
    (nested,) = ontology.tools[0].classifications
    assert (nested.kind, nested.scope, [o.name for o in nested.options]) == ("radio", "object", ["Yes", "No"])
    (question,) = ontology.classifications
    assert (question.kind, question.scope, question.required) == ("checklist", "global", True)
    assert normalized(ontology) == document  # served verbatim
    assert feature_schema(ontology, "clbm0liv0nn00000000000000")["label"] == "No"
    assert feature_schema(ontology, "nope") is None


def test_the_sdk_parses_both_a_user_and_a_drawn_ontology():
    drawn = seeded_world(3, 1).project.ontology
    for ontology in (parse_ontology(EXAMPLE.read_text(), "o", "n"), drawn):
        served = normalized(ontology)
        parsed = OntologyBuilder.from_dict(served)
        assert [t.name for t in parsed.tools] == [t.name for t in ontology.tools]
        assert [t.feature_schema_id for t in parsed.tools] == [t.schema_id for t in ontology.tools]
        assert [c.name for c in parsed.classifications] == [c.name for c in ontology.classifications]
        assert _shape(parse_ontology(served, "o", "n")) == _shape(ontology)  # what is served reads back the same


def _shape(ontology):
    def question(q):
        return q.schema_id, q.name, q.kind, q.scope, q.required, [(o.schema_id, o.name, o.value) for o in q.options]

    return ([(t.schema_id, t.name, t.kind, t.color, [question(q) for q in t.classifications]) for t in ontology.tools],
            [question(q) for q in ontology.classifications])


def test_an_sdk_built_ontology_without_ids_gets_stable_ids_that_are_served():
    from labelbox import Classification, Option, Tool

    built = OntologyBuilder(tools=[Tool(Tool.Type.RASTER_SEGMENTATION, "Spleen")],
                            classifications=[Classification(Classification.Type.RADIO, "Contrast",
                                                            options=[Option("arterial"), Option("venous")])]).asdict()
    one, two = parse_ontology(built, "o", "n"), parse_ontology(json.loads(json.dumps(built)), "o", "n")
    assert one == two and one.tools[0].schema_id.startswith("c") and len(one.tools[0].schema_id) == 25
    assert normalized(one)["tools"][0]["featureSchemaId"] == one.tools[0].schema_id
    assert normalized(one)["classifications"][0]["scope"] == "global"


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda d: d["tools"][1].update(tool="polygon"), "$.tools[1].tool", "allowed: raster-segmentation, line"),
    (lambda d: d["tools"][0]["classifications"][0].update(type="dropdown"), "$.tools[0].classifications[0].type",
     "allowed: radio, checklist, text"),
    (lambda d: d["classifications"][0].pop("options"), "$.classifications[0].options", "missing"),
    (lambda d: d["tools"][2].update(name=7), "$.tools[2].name", "must be a string"),
    (lambda d: d["tools"][2].update(name="Liver"), "$.tools[2].name", "also $.tools[0]"),
    (lambda d: d.pop("tools"), "$.tools", "missing"),
    (lambda d: d["classifications"][0].update(scope="frame"), "$.classifications[0].scope", "global, index"),
])
def test_a_malformed_ontology_names_the_json_path(change, path, words):
    document = json.loads(EXAMPLE.read_text())
    change(document)
    with pytest.raises(OntologyError) as caught:
        parse_ontology(document, "o", "n")
    assert str(caught.value).startswith(path + ":") and words in str(caught.value), str(caught.value)
    assert caught.value.path == path
