"""Hypothesis strategies for Labelbox DICOM export worlds and their payloads.

World pieces (all composable, all shrinkable)::

    worlds(), projects(), data_rows(project, index), volumes(), features(...),
    labels(...), mask_shapes(plane), polylines(plane, n), workflow_histories(...)

Rendered payloads (drawn worlds, rendered by the server's own renderers)::

    export_v2_rows(params=...), legacy_rows(), frame_records(), mask_pngs(),
    export_params()

Served worlds: :func:`seeded_world` draws the same strategies from a seed,
deterministically and lazily, one row at a time.
"""

from strategies.payloads import export_params, export_v2_rows, frame_records, legacy_rows, mask_pngs
from strategies.seeded import derive_seed, draw_seeded
from strategies.served import SeededRows, seeded_world
from strategies.world import (
    answers,
    classification_schemas,
    data_rows,
    features,
    labels,
    mask_shapes,
    polylines,
    projects,
    tools,
    volumes,
    workflow_histories,
    worlds,
)

__all__ = [
    "SeededRows",
    "answers",
    "classification_schemas",
    "data_rows",
    "derive_seed",
    "draw_seeded",
    "export_params",
    "export_v2_rows",
    "features",
    "frame_records",
    "labels",
    "legacy_rows",
    "mask_pngs",
    "mask_shapes",
    "polylines",
    "projects",
    "seeded_world",
    "tools",
    "volumes",
    "workflow_histories",
    "worlds",
]
