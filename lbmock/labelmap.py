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

    Pixel ``(x, y)`` is inside when its centre ``(x + .5, y + .5)`` is: inside the outline and in
    none of the holes, or inside one of the parts.  The shape's centre sits on a pixel centre
    inside the plane and that pixel is always set, so the mask is never empty.
    """
    out = np.zeros((plane.height, plane.width), dtype=bool)
    _paint(out, shape)
    for hole in shape.holes:
        out &= ~_region(hole, plane.width, plane.height)
    for part in shape.parts:
        out |= _region(part, plane.width, plane.height)
    x, y = int(shape.cx), int(shape.cy)
    if 0 <= x < plane.width and 0 <= y < plane.height:
        out[y, x] = True
    return out.astype(np.uint8) * FOREGROUND


def _region(shape: MaskShape, width: int, height: int) -> np.ndarray:
    """The pixels inside ``shape``'s own outline (its holes and parts aside), as a bool image."""
    out = np.zeros((height, width), dtype=bool)
    _paint(out, shape)
    return out


def _paint(out: np.ndarray, shape: MaskShape) -> None:
    """Set the pixels of ``out`` whose centres lie inside ``shape``'s outline.

    Only the outline's bounding window is evaluated: a blob costs an ``atan2`` per pixel, and a
    small structure on a 512 x 512 plane should not pay for the whole plane.
    """
    height, width = out.shape
    reach = shape.reach
    x0 = max(0, int(np.floor(shape.cx - shape.rx * reach)))
    x1 = min(width, int(np.ceil(shape.cx + shape.rx * reach)) + 1)
    y0 = max(0, int(np.floor(shape.cy - shape.ry * reach)))
    y1 = min(height, int(np.ceil(shape.cy + shape.ry * reach)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    dx = (np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5 - shape.cx) / shape.rx
    dy = (np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5 - shape.cy) / shape.ry
    if shape.shape == "rectangle":
        inside = (np.abs(dx) <= 1.0) & (np.abs(dy) <= 1.0)
    elif shape.shape == "ellipse" or not shape.lobes:
        inside = dx * dx + dy * dy <= 1.0
    else:
        # cos(k theta) and sin(k theta) by the angle-addition recurrence from the unit vector (dx, dy)
        # / rho: + - * / and sqrt only, which IEEE 754 rounds exactly, so every host draws the same
        # outline (numpy's SIMD cos and atan2 may differ in the last bit from one CPU to the next).
        dx, dy = np.broadcast_arrays(dx, dy)
        rho = np.sqrt(dx * dx + dy * dy)
        centre = rho == 0.0
        safe = np.where(centre, 1.0, rho)
        cos1, sin1 = np.where(centre, 1.0, dx / safe), np.where(centre, 0.0, dy / safe)
        radius = np.ones_like(rho)
        cos_k, sin_k, at = cos1, sin1, 1
        for k, a, b in sorted(shape.lobes):
            while at < k:
                cos_k, sin_k, at = cos_k * cos1 - sin_k * sin1, sin_k * cos1 + cos_k * sin1, at + 1
            radius = radius + (a * cos_k + b * sin_k)
        inside = rho <= radius
    out[y0:y1, x0:x1] |= inside


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
