"""Hypothesis strategies for Labelbox DICOM export worlds and their payloads.

World pieces (all composable, all shrinkable)::

    worlds(), projects(), data_rows(project, index), volumes(), features(...),
    labels(...), mask_shapes(plane), polylines(plane, n), workflow_histories(...)

    mask_shapes(plane) mixes: blobs(plane), holed_blobs(plane), structures_in_pieces(plane),
    and, rarely, rectangles, ellipses and single voxels

Rendered payloads (drawn worlds, rendered by the server's own renderers)::

    export_v2_rows(params=...), legacy_rows(), frame_records(), mask_pngs(),
    export_params()

Served worlds: :func:`seeded_world` draws the same strategies from a seed,
deterministically and lazily, one row at a time.

Modules: ``vocabulary`` (words, people, salts, time units), ``projects``
(ontology, tools, classification schemas, projects), ``annotations``
(volumes, polylines, mask shapes, answers, features, labels), ``workflow``
(histories, reviews), ``rows`` (data rows, metadata, attachments, worlds),
``payloads`` (rendered payloads), ``provider`` (the seeded PrimitiveProvider,
``draw_seeded``), ``served_world`` (``SeededRows``, ``seeded_world``).
"""

from lbmock.strategies.annotations import (
    answers,
    blobs,
    features,
    holed_blobs,
    labels,
    mask_shapes,
    polylines,
    structures_in_pieces,
    volumes,
)
from lbmock.strategies.dicom import dicom_geometries, dicom_series
from lbmock.strategies.payloads import export_params, export_v2_rows, frame_records, legacy_rows, mask_pngs
from lbmock.strategies.projects import classification_schemas, projects, tools
from lbmock.strategies.provider import derive_seed, draw_seeded
from lbmock.strategies.rows import data_rows, dicom_volumes, worlds
from lbmock.strategies.served_world import SeededRows, resolve_world, seeded_world
from lbmock.strategies.workflow import workflow_histories

__all__ = [
    "SeededRows",
    "answers",
    "blobs",
    "classification_schemas",
    "data_rows",
    "derive_seed",
    "dicom_geometries",
    "dicom_series",
    "dicom_volumes",
    "draw_seeded",
    "export_params",
    "export_v2_rows",
    "features",
    "frame_records",
    "holed_blobs",
    "labels",
    "legacy_rows",
    "mask_pngs",
    "mask_shapes",
    "polylines",
    "projects",
    "resolve_world",
    "seeded_world",
    "structures_in_pieces",
    "tools",
    "volumes",
    "workflow_histories",
    "worlds",
]
