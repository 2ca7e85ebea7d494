"""The voxel label map of a data row: which mask feature covers each voxel.

One function, :func:`label_slices`, places every segmentation-mask keyframe of
a label in the row's volume, slice by slice, with the same rasteriser that
draws the mask PNGs (:func:`rasterise`, below).  The oracle
(NIfTI), the phantom (DICOM pixels) and anything else that needs "what is
labelled where" consume it, so they cannot disagree with the PNGs.

The mapping (plane pixel ``(x, y)`` of plane frame ``N`` -> voxel
``(i, j, k)`` = (column, row, file frame - 1) of the DICOM volume)::

    Axial    frame N, (x, y) -> (x,   y,   N-1)   masks lie on slices
    Sagittal frame N, (x, y) -> (N-1, x,   y)     masks lie on columns
    Coronal  frame N, (x, y) -> (x,   N-1, y)     masks lie on rows

Label indices: the label's mask features in ``label.features`` order get
1, 2, ...; 0 is background; where masks overlap the higher index wins.
Polylines carry no voxels (their vertices are points, see the oracle's
sidecar).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lbmock.world import DataRow, Feature, Label, MaskShape, Plane

FOREGROUND = 255


def rasterise(shape: MaskShape, plane: Plane) -> np.ndarray:
    """A ``height x width`` uint8 array, 255 inside ``shape``, 0 outside.

    Pixel ``(x, y)`` is inside when its centre ``(x + .5, y + .5)`` is; the
    shape's centre sits on a pixel centre inside the plane, so the mask is
    never empty.
    """
    ys = np.arange(plane.height, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(plane.width, dtype=np.float64)[None, :] + 0.5
    dx = (xs - shape.cx) / shape.rx
    dy = (ys - shape.cy) / shape.ry
    if shape.shape == "ellipse":
        inside = dx * dx + dy * dy <= 1.0
    else:
        inside = (np.abs(dx) <= 1.0) & (np.abs(dy) <= 1.0)
    return inside.astype(np.uint8) * FOREGROUND


def mask_features(label: Label | None) -> tuple[Feature, ...]:
    """The features that own a label index: index ``n`` is ``mask_features(label)[n - 1]``."""
    if label is None:
        return ()
    return tuple(f for f in label.features if f.tool.kind == "mask")


def label_dtype(n_indices: int) -> np.dtype:
    """The smallest unsigned dtype holding label indices ``0..n_indices``."""
    return np.dtype(np.uint8) if n_indices <= np.iinfo(np.uint8).max else np.dtype(np.uint16)


def choose_label(row: DataRow, label_id: str | None = None) -> Label | None:
    """The label a label map is drawn from: ``label_id``'s (in any project of the row), else the row's
    first in its first project (None if unlabelled).

    Raises ``KeyError`` naming the row's labels when ``label_id`` is not one of them.
    """
    if label_id is None:
        return row.labels[0] if row.labels else None
    label = row.label(label_id)
    if label is None:
        known = ", ".join(lb.id for lb in row.all_labels) or "none"
        raise KeyError(f"data row {row.id} has no label {label_id} (its labels: {known})")
    return label


@dataclass(frozen=True, slots=True)
class _CrossMask:
    """A Sagittal/Coronal mask keyframe, rasterised once (S x R or S x C)."""

    index: int
    plane: str
    at: int  # the column (Sagittal) or row (Coronal) it lies on
    raster: np.ndarray  # bool, [k, along-plane x]
    first: int  # first and last slice k it touches
    last: int


def label_slices(row: DataRow, label: Label | None = None) -> Iterator[np.ndarray]:
    """Yield, for each file frame k = 0..S-1, the ``rows x cols`` array of label indices.

    ``label`` defaults to the row's first label (a row without labels yields
    zeros).  Slices are produced one at a time: Axial masks are rasterised on
    their own slice; each Sagittal/Coronal mask keyframe is rasterised once
    (it is only ``slices`` x ``rows`` or ``slices`` x ``cols``) and one of its
    raster rows is laid down per slice.  The volume is never materialised.
    """
    if label is None:
        label = choose_label(row)
    volume = row.volume
    features = mask_features(label)
    dtype = label_dtype(len(features))
    axial_plane = volume.plane("Axial")
    axial: dict[int, list[tuple[int, MaskShape]]] = {}
    cross: list[_CrossMask] = []
    for index, feature in enumerate(features, start=1):
        plane = volume.plane(feature.plane)
        for kf in feature.keyframes:
            if feature.plane == "Axial":
                axial.setdefault(kf.frame - 1, []).append((index, kf.geometry))
                continue
            raster = rasterise(kf.geometry, plane) != 0
            touched = np.flatnonzero(raster.any(axis=1))
            cross.append(_CrossMask(index, feature.plane, kf.frame - 1, raster,
                                    int(touched[0]), int(touched[-1])))
    for k in range(volume.slices):
        out = np.zeros((volume.rows, volume.cols), dtype=dtype)
        here: list[tuple[int, MaskShape | _CrossMask]] = list(axial.get(k, ()))
        here += [(m.index, m) for m in cross if m.first <= k <= m.last]
        here.sort(key=lambda item: item[0])  # stable: higher indices paint last and win
        for index, what in here:
            if isinstance(what, MaskShape):
                out[rasterise(what, axial_plane) != 0] = index
            elif what.plane == "Sagittal":
                out[what.raster[k], what.at] = index  # column i = at, rows j where set
            else:
                out[what.at, what.raster[k]] = index  # row j = at, columns i where set
        yield out
