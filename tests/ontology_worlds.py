"""Worlds for the ontology-query tests (tests/test_ontology_queries.py, tests/compat): a drawn world
and one whose first project carries the user ontology of examples/world/abdomen-ontology.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lbmock.ontology import normalized
from lbmock.render.common import iso_z_millis
from lbmock.strategies.served_world import resolve_world, seeded_world
from lbmock.world import Ontology, Project, World
from lbmock.world_spec import WorldSpec

ABDOMEN_FILE = Path(__file__).resolve().parents[1] / "examples" / "world" / "abdomen-ontology.json"


def drawn_spec(seed: int = 3, rows: int = 6, projects: int = 2) -> WorldSpec:
    """The first seeded world from ``seed`` on whose first tool has a nested question with options
    (so a tool, a nested question and an option can all be looked up)."""
    for candidate in range(seed, seed + 40):
        tool = seeded_world(candidate, rows, n_projects=projects).project.ontology.tools[0]
        if any(q.options for q in tool.classifications):
            return WorldSpec(seed=candidate, rows=rows, projects=projects)
    raise AssertionError(f"no seed in {seed}..{seed + 39} draws a tool with a nested question with options")


def drawn_world(seed: int = 3, rows: int = 6, projects: int = 2) -> World:
    return resolve_world(drawn_spec(seed, rows, projects))


def user_ontology_spec(seed: int = 3, rows: int = 16) -> WorldSpec:
    """A two-project world whose first project carries the abdomen ontology, as ``--world`` serves it
    (``[[projects]]`` with ``ontology``), and whose second keeps a drawn one: rows follow each."""
    first = {"name": "Abdomen CT", "ontology": ABDOMEN_FILE.read_text()}
    return WorldSpec(seed=seed, rows=rows, projects=(first, {}))


def user_ontology_world(seed: int = 3, rows: int = 16) -> World:
    return resolve_world(user_ontology_spec(seed, rows))


def schema_ids(ontology: Ontology) -> dict[str, str]:
    """Lookup targets: the first tool, a top-level question and, where the ontology has one, a nested
    question with options and its last option."""
    ids = {"tool": ontology.tools[0].schema_id, "top_question": ontology.classifications[0].schema_id}
    nested = next((q for t in ontology.tools for q in t.classifications if q.options), None)
    if nested is not None:
        ids.update(nested_question=nested.schema_id, option=nested.options[-1].schema_id)
    return ids


def expected_ontology(project: Project) -> dict[str, Any]:
    """What the SDK's Ontology should carry for ``project`` (as the drivers report it)."""
    ontology = project.ontology
    return {"uid": ontology.id, "name": ontology.name, "description": None,
            "created_at": iso_z_millis(project.created_at), "updated_at": iso_z_millis(project.updated_at),
            "object_schema_count": len(ontology.tools), "classification_schema_count": len(ontology.classifications),
            "normalized": normalized(ontology)}


def abdomen_document() -> dict[str, Any]:
    return json.loads(ABDOMEN_FILE.read_text())
