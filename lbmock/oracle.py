"""The oracle: the label map a correct export converter must produce, and its sidecar.

Computed from the world model alone (never by decoding the PNGs we serve):

* ``labels.nii.gz``: NIfTI-1 on the DICOM volume's voxel grid, array
  ``[i, j, k]`` = (column, row, file frame - 1), shape ``(cols, rows,
  slices)`` (irregular grids: ``k`` is the grid slice,
  :func:`lbmock.dicom.geometry.grid_of_frames`), voxel value = label index (0 background), affine = the DICOM
  geometry in RAS (:func:`lbmock.dicom.geometry.affine_ras`).  Written slice
  by slice from :func:`lbmock.labelmap.label_slices`.
* ``labels.json`` next to it: each label index's feature (id, tool name,
  plane, frames, voxel count) and every polyline's vertices in patient
  coordinates, on every frame the export lists (key frames and interpolated
  frames, marked).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from lbmock.dicom.geometry import LPS_TO_RAS, affine_lps, affine_ras, grid_of_frames, patient_points
from lbmock.labelmap import choose_label, label_dtype, label_slices, mask_features
from lbmock.render.nifti import write_nifti
from lbmock.world import DataRow, Label, Polyline, World

SIDECAR_FORMAT = "lbmock-oracle/1"
NIFTI_SUFFIXES = (".nii.gz", ".nii")


class UnknownDataRow(LookupError):
    """The world has no data row with that id."""


@dataclass(frozen=True, slots=True)
class OracleFiles:
    nifti: Path
    sidecar: Path
    summary: dict[str, Any]  # what the sidecar holds


def sidecar_path(nifti_path: str | os.PathLike[str]) -> Path:
    """``labels.nii.gz`` -> ``labels.json`` (same folder, same stem)."""
    path = Path(nifti_path)
    for suffix in NIFTI_SUFFIXES:
        if path.name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)] + ".json")
    raise ValueError(f"{path.name}: the oracle writes NIfTI-1, name it *.nii.gz or *.nii")


def find_row(world: World, data_row_id: str) -> DataRow:
    """The row with ``data_row_id`` (ids encode their row's index, so this is one lookup)."""
    index = world.index_of(data_row_id)
    if index is not None:
        row = world.row(index)
        if row.recorded is not None:  # a replayed row has no world model of its volume to compute from
            raise UnknownDataRow(f"data row {data_row_id} is replayed (--replay): the oracle works on "
                                 f"drawn worlds only")
        if row.id == data_row_id:
            return row
    first = ", ".join(world.row(i).id for i in range(min(3, len(world))))
    raise UnknownDataRow(f"no data row {data_row_id!r} in this world ({len(world)} rows"
                         + (f"; the first: {first}" if first else "") + ")")


_FLAT_ARRAY = re.compile(rb"\[\s+([^\[\]{}\"]*?)\s+\]")  # an indented array of numbers only


def _readable_json(value: Any) -> bytes:
    """Indented JSON whose arrays of numbers (matrix rows, points, frame lists) stay on one line."""
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    return _FLAT_ARRAY.sub(lambda m: b"[" + b", ".join(m.group(1).replace(b",", b" ").split()) + b"]", text) + b"\n"


def _matrix(affine: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in affine]


def _polylines(row: DataRow, label: Label | None) -> list[dict[str, Any]]:
    out = []
    for feature in label.features if label else ():
        if feature.tool.kind != "polyline":
            continue
        frames = []
        for frame, geometry, is_key, _ in feature.frames(interpolated=True):
            assert isinstance(geometry, Polyline)
            lps = patient_points(row.series, feature.plane, frame, geometry.points)
            ras = lps * LPS_TO_RAS.diagonal()[:3]  # points flip as the affine does
            frames.append({"frame": frame, "keyframe": is_key,
                           "points_plane": [list(p) for p in geometry.points],  # 1e-6 mm: no float noise
                           "points_lps_mm": np.round(lps, 6).tolist(), "points_ras_mm": np.round(ras, 6).tolist()})
        out.append({"feature_id": feature.feature_id, "name": feature.tool.name, "value": feature.tool.value,
                    "schema_id": feature.tool.schema_id, "plane": feature.plane, "frames": frames})
    return out


def write_row_oracle(row: DataRow, out_path: str | os.PathLike[str], label_id: str | None = None,
                     world: World | None = None) -> OracleFiles:
    """Write ``row``'s oracle (NIfTI + JSON sidecar); ``label_id`` picks one of its labels (default: first)."""
    out = Path(out_path)
    sidecar = sidecar_path(out)
    label = choose_label(row, label_id)
    features = mask_features(label)
    volume = row.volume
    irregular = row.series.geometry.slots is not None  # out of order, or a missing slice
    ks = grid_of_frames(row.series)
    shape = (volume.cols, volume.rows, max(ks) + 1)
    lps, ras = affine_lps(row.series), affine_ras(row.series)
    counts = np.zeros(len(features) + 1, dtype=np.int64)

    def in_grid_order():  # file order, or (irregular grids: the whole map held) grid order, a missing slice empty
        if not irregular:
            yield from label_slices(row, label)
            return
        by_k = dict(zip(ks, label_slices(row, label), strict=True))
        empty = np.zeros((volume.rows, volume.cols), dtype=label_dtype(len(features)))
        for k in range(shape[2]):
            yield by_k.get(k, empty)

    def counted():  # voxel counts gathered on the way to the file
        for frame in in_grid_order():
            counts[:] += np.bincount(frame.ravel(), minlength=len(features) + 1)
            yield frame

    write_nifti(out, shape, label_dtype(len(features)), ras, counted(), description=f"lbmock oracle {row.id}")
    summary: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "nifti": out.name,
        "project_id": next((m.project_id for m in row.memberships if label in m.labels), None),
        "seed": world.seed if world else None,
        "data_row": {"id": row.id, "global_key": row.global_key, "external_id": row.external_id},
        "label_id": label.id if label else None,
        "dicom": {"sop_instance_uid": row.series.sop_uid, "series_instance_uid": row.series.series_uid,
                  "study_instance_uid": row.series.study_uid,
                  "frame_of_reference_uid": row.series.frame_of_reference_uid, "modality": row.series.modality,
                  "rows": volume.rows, "columns": volume.cols, "number_of_frames": volume.slices,
                  **({"file": row.series.relative_path} if hasattr(row.series, "relative_path") else {})},
        "shape": list(shape),
        "axes": ["i: DICOM column (0..Columns-1)", "j: DICOM row (0..Rows-1)",
                 "k: frame in file order - 1 (0..NumberOfFrames-1)" if not irregular else
                 "k: grid slice (frames sorted along the normal unless in order; file_frame_of_k)"],
        **({"file_frame_of_k": [ks.index(k) + 1 if k in ks else None for k in range(shape[2])]} if irregular else {}),
        "dtype": label_dtype(len(features)).name,
        "affine_ras": _matrix(ras),
        "affine_lps": _matrix(lps),
        "labels": {
            str(index): {"feature_id": f.feature_id, "name": f.tool.name, "value": f.tool.value,
                         "schema_id": f.tool.schema_id, "color": f.tool.color, "plane": f.plane,
                         "frames": [kf.frame for kf in f.keyframes], "voxel_count": int(counts[index])}
            for index, f in enumerate(features, start=1)
        },
        "background_voxel_count": int(counts[0]),
        "polylines": _polylines(row, label),
        "polyline_frames": "key frames and the interpolated frames between them (keyframe: false)",
    }
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    tmp.write_bytes(_readable_json(summary))
    os.replace(tmp, sidecar)
    return OracleFiles(out, sidecar, summary)


def write_oracle(world: World, data_row_id: str, out_path: str | os.PathLike[str],
                 label_id: str | None = None) -> OracleFiles:
    """The oracle of data row ``data_row_id`` of ``world``, written to ``out_path`` and its sidecar.

    Raises :class:`UnknownDataRow` for an id not in the world, ``KeyError``
    for a label id not on the row, ``ValueError`` for a name not ending in
    ``.nii.gz`` / ``.nii``.
    """
    return write_row_oracle(find_row(world, data_row_id), out_path, label_id, world)
