"""A project's ontology as Labelbox gives it, in and out.

In: :func:`parse_ontology` reads what ``project.ontology().normalized`` returns (``tools`` with
``tool``, ``name``, ``color``, ``featureSchemaId``, ``schemaNodeId``, ``required`` and nested
``classifications``; top-level ``classifications`` with ``options``) and gives the world's
:class:`~lbmock.world.Ontology`.  A DICOM project holds two tool kinds (``raster-segmentation``:
masks, ``line``: polylines) and three question kinds (``radio``, ``checklist``, ``text``); anything
else is refused with the JSON path of the problem.

Out: :func:`normalized` gives the JSON the API serves for an ontology: the user's document
verbatim (kept in ``Ontology.source``), or, for a drawn ontology, one rendered from its objects.

Ids are used as given.  A document without ids (``OntologyBuilder().asdict()``) gets ids derived
from the path of each node, and those are added to what is served, so exports and the served
ontology always agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from lbmock.ids import base36
from lbmock.medical import value_of
from lbmock.world import ClassificationSchema, Ontology, Option, Tool

# Labelbox's default tool palette (the sample's "#1CE6FF", "#FF34FF" lead it).
PALETTE = ("#1CE6FF", "#FF34FF", "#FF4A46", "#008941", "#006FA6", "#A30059", "#FFDBE5",
           "#7A4900", "#0000A6", "#63FFAC", "#B79762", "#004D43", "#8FB0FF", "#997D87")

# Labelbox tool type -> the world's tool kind; the only two a DICOM project holds (reference page:
# DICOM exports carry DICOMSegmentationMask and DICOMPolyline objects).
TOOL_KINDS = {"raster-segmentation": "mask", "line": "polyline"}
TOOL_TYPES = {kind: tool for tool, kind in TOOL_KINDS.items()}
QUESTION_KINDS = ("radio", "checklist", "text")
# Top-level questions: "global" (the whole data row) or "index" (one frame); nested: the object.
SCOPES = {"global": "global", "index": "frame"}
SCOPE_NAMES = {"global": "global", "frame": "index"}


class OntologyError(ValueError):
    """An ontology document lbmock cannot serve; the message starts with the JSON path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def derived_id(*parts: str) -> str:
    """A Labelbox-shaped id (``c`` + 24 base-36 digits) that is a pure function of ``parts``."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=16).digest()
    return "c" + base36(int.from_bytes(digest, "big") % 36**24, 24)


def _field(node: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...], required: bool = True) -> Any:
    if key not in node or node[key] is None:
        if required:
            raise OntologyError(f"{path}.{key}", "missing")
        return None
    value = node[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise OntologyError(f"{path}.{key}", f"must be {_JSON_NAMES.get(names, names)}, got {json.dumps(value)}")
    return value


_JSON_NAMES = {"str": "a string", "list": "a list", "dict": "an object", "bool": "true or false"}


def _ids(node: dict[str, Any], path: str) -> tuple[str, str]:
    """The node's featureSchemaId and schemaNodeId, derived from its path (and filled in) if absent."""
    schema_id = _field(node, "featureSchemaId", path, str, required=False) or derived_id("feature-schema", path)
    node_id = _field(node, "schemaNodeId", path, str, required=False) or derived_id("schema-node", path)
    node["featureSchemaId"], node["schemaNodeId"] = schema_id, node_id  # given keys keep their place
    return schema_id, node_id


def _options(node: dict[str, Any], path: str) -> tuple[Option, ...]:
    options = []
    for i, raw in enumerate(_field(node, "options", path, list)):
        where = f"{path}.options[{i}]"
        if not isinstance(raw, dict):
            raise OntologyError(where, "must be an object")
        label = _field(raw, "label", where, str, required=False)
        value = _field(raw, "value", where, str, required=label is None)
        label = label if label is not None else value
        schema_id, node_id = _ids(raw, where)
        # an answer names the option's feature id in exports: one per option, from its schema id
        options.append(Option(schema_id, derived_id("answer", schema_id), label, value or value_of(label),
                              schema_node_id=node_id))
    return tuple(options)


def _question(node: Any, path: str, scope: str) -> ClassificationSchema:
    if not isinstance(node, dict):
        raise OntologyError(path, "must be an object")
    kind = _field(node, "type", path, str)
    if kind not in QUESTION_KINDS:
        raise OntologyError(f"{path}.type", f"{kind!r} is not a question a DICOM project can hold "
                                            f"(allowed: {', '.join(QUESTION_KINDS)})")
    name = _field(node, "name", path, str, required=False) or _field(node, "instructions", path, str)
    if scope != "object":
        given = _field(node, "scope", path, str, required=False) or "global"
        if given not in SCOPES:
            raise OntologyError(f"{path}.scope", f"must be one of {', '.join(SCOPES)}, got {given!r}")
        scope = SCOPES[given]
    options = _options(node, path) if kind != "text" else ()
    if kind != "text" and not options:
        raise OntologyError(f"{path}.options", f"a {kind} question needs at least one option")
    schema_id, node_id = _ids(node, path)
    return ClassificationSchema(schema_id, name, value_of(name), kind, scope, options,  # type: ignore[arg-type]
                                required=bool(_field(node, "required", path, bool, required=False)),
                                schema_node_id=node_id)


def _tool(node: Any, path: str, index: int) -> Tool:
    if not isinstance(node, dict):
        raise OntologyError(path, "must be an object")
    kind = _field(node, "tool", path, str)
    if kind not in TOOL_KINDS:
        raise OntologyError(f"{path}.tool", f"{kind!r} ({node.get('name', '?')}) is not a tool a DICOM project "
                                            f"can hold (allowed: {', '.join(TOOL_KINDS)})")
    name = _field(node, "name", path, str)
    color = _field(node, "color", path, str, required=False) or PALETTE[index % len(PALETTE)]
    nested = tuple(_question(q, f"{path}.classifications[{i}]", "object")
                   for i, q in enumerate(_field(node, "classifications", path, list, required=False) or ()))
    schema_id, node_id = _ids(node, path)
    return Tool(schema_id, name, value_of(name), color, TOOL_KINDS[kind], nested,  # type: ignore[arg-type]
                required=bool(_field(node, "required", path, bool, required=False)), schema_node_id=node_id)


def parse_ontology(document: Any, ontology_id: str, name: str) -> Ontology:
    """The world's ontology for a Labelbox ontology document: ``normalized`` itself, or an object
    holding it under ``"normalized"`` (with its own ``id`` and ``name``, as ``client.get_ontology``
    gives them).  Raises :class:`OntologyError` naming the JSON path of the first problem."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise OntologyError("$", f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OntologyError("$", "an ontology is a JSON object with \"tools\" and \"classifications\"")
    root = "$"
    if "normalized" in document:
        ontology_id = _field(document, "id", root, str, required=False) or ontology_id
        name = _field(document, "name", root, str, required=False) or name
        document, root = document["normalized"], "$.normalized"
        if not isinstance(document, dict):
            raise OntologyError(root, "must be an object")
    document = json.loads(json.dumps(document))  # a private copy: ids may be filled in
    tools_raw = _field(document, "tools", root, list)
    questions_raw = _field(document, "classifications", root, list)
    tools = tuple(_tool(t, f"{root}.tools[{i}]", i) for i, t in enumerate(tools_raw))
    if not tools:
        raise OntologyError(f"{root}.tools", "a DICOM project needs at least one raster-segmentation or line tool")
    first: dict[str, int] = {}
    for i, tool in enumerate(tools):  # exports name features by tool: two tools of one name are ambiguous
        if tool.name in first:
            raise OntologyError(f"{root}.tools[{i}].name", f"{tool.name!r} is also $.tools[{first[tool.name]}]")
        first[tool.name] = i
    questions = tuple(_question(q, f"{root}.classifications[{i}]", "global") for i, q in enumerate(questions_raw))
    source = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return Ontology(ontology_id, name, tools, questions, source=source)


def _option_json(option: Option) -> dict[str, Any]:
    return {"schemaNodeId": option.schema_node_id or derived_id("schema-node", option.schema_id),
            "featureSchemaId": option.schema_id, "label": option.name, "value": option.value, "options": []}


def _question_json(question: ClassificationSchema) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": question.kind, "instructions": question.name, "name": question.name, "required": question.required,
        "options": [_option_json(o) for o in question.options],
        "schemaNodeId": question.schema_node_id or derived_id("schema-node", question.schema_id),
        "featureSchemaId": question.schema_id,
    }
    if question.scope != "object":
        out["scope"] = SCOPE_NAMES[question.scope]
    return out


def normalized(ontology: Ontology) -> dict[str, Any]:
    """The ontology's ``normalized`` JSON, as the API serves it: the user's document verbatim when
    the ontology came from one, else rendered from the world's objects."""
    if ontology.source is not None:
        return json.loads(ontology.source)
    return {
        "tools": [{"tool": TOOL_TYPES[t.kind], "name": t.name, "required": t.required, "color": t.color,
                   "classifications": [_question_json(q) for q in t.classifications],
                   "schemaNodeId": t.schema_node_id or derived_id("schema-node", t.schema_id),
                   "featureSchemaId": t.schema_id} for t in ontology.tools],
        "classifications": [_question_json(q) for q in ontology.classifications],
    }


def feature_schema(ontology: Ontology, schema_id: str) -> dict[str, Any] | None:
    """The node of ``normalized(ontology)`` with this featureSchemaId (a tool, a question at any
    depth, or an option), as ``client.get_feature_schema`` reads it; None if there is none."""
    def search(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            if node.get("featureSchemaId") == schema_id:
                return node
            children = [v for k, v in node.items() if k in ("tools", "classifications", "options")]
        elif isinstance(node, list):
            children = node
        else:
            return None
        for child in children:
            found = search(child)
            if found is not None:
                return found
        return None

    return search(normalized(ontology))
