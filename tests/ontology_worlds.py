"""Worlds for the ontology-query tests (tests/test_ontology_queries.py, tests/compat): a drawn world
and one whose first project carries the user ontology of examples/world/abdomen-ontology.json."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from lbmock.ontology import normalized, parse_ontology
from lbmock.render.common import iso_z_millis
from lbmock.strategies.served_world import seeded_world
from lbmock.world import Ontology, Project, World

ABDOMEN_FILE = Path(__file__).resolve().parents[1] / "examples" / "world" / "abdomen-ontology.json"
ABDOMEN_ID, ABDOMEN_NAME = "clbm0abdomen0ontology0001", "Abdomen ontology"


def drawn_world(seed: int = 3, rows: int = 6, projects: int = 2) -> World:
    """The first seeded world from ``seed`` on whose first tool has a nested question with options
    (so a tool, a nested question and an option can all be looked up)."""
    for candidate in range(seed, seed + 40):
        world = seeded_world(candidate, rows, n_projects=projects)
        tool = world.project.ontology.tools[0]
        if any(q.options for q in tool.classifications):
            return world
    raise AssertionError(f"no seed in {seed}..{seed + 39} draws a tool with a nested question with options")


def user_ontology_world(seed: int = 3, rows: int = 6) -> World:
    """A drawn two-project world whose first project carries the abdomen ontology (the second keeps
    its drawn one).  Built by hand (the rows still follow the drawn ontology): only the ontology
    queries are exercised on it."""
    world = drawn_world(seed, rows, projects=2)
    user = parse_ontology(ABDOMEN_FILE.read_text(), ABDOMEN_ID, ABDOMEN_NAME)
    first = replace(world.project, ontology=user)
    return World(first, world.rows, world.seed, projects=(first, *world.projects[1:]), slices=world.slices)


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
