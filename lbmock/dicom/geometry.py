"""Geometry of a data row's volume: affines, plane <-> voxel mapping, patient points.

The conventions (README "Geometry"), relied on by the phantom, the Part 10
writer, the oracle and the converters:

* Voxel index ``(i, j, k)`` = (column ``0..C-1``, row ``0..R-1``, frame in
  file order ``0..S-1``).
* Plane pixel ``(x, y)`` (x to the right, y down, as in the mask PNG) on
  plane frame ``N`` (1-based) is voxel

  ============  =====================
  Axial         ``(x, y, N - 1)``
  Sagittal      ``(N - 1, x, y)``
  Coronal       ``(x, N - 1, y)``
  ============  =====================

  :data:`PLANE_AXES` says the same as data.  Continuous plane coordinates put
  pixel ``x`` over ``[x, x + 1)``, its centre at ``x + 0.5`` (how masks are
  rasterised), so a polyline vertex ``(px, py)`` on Axial frame ``N`` sits at
  continuous index ``(px - 0.5, py - 0.5, N - 1)``.
* Patient coordinates are DICOM's LPS, in mm: ``affine_lps @ (i, j, k, 1)``.
  NIfTI's RAS affine is ``diag(-1, -1, 1, 1) @ affine_lps``.

Frame positions are computed in exact decimal arithmetic from the series'
short decimals, and written to DICOM as those same decimals, so the affine
built from the world and the one built from the file's tags are identical
floats (:func:`affine_from_tags` serves both).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from lbmock.dicom.series import DicomSeries, SeriesGeometry, Vector
from lbmock.world import PLANES, Volume

# For each plane: the voxel axis (0 = i, 1 = j, 2 = k) of the PNG's x, of its y, and of the frame number.
PLANE_AXES: dict[str, tuple[int, int, int]] = {
    "Axial": (0, 1, 2),
    "Sagittal": (1, 2, 0),
    "Coronal": (0, 2, 1),
}
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
DS_MAX_CHARS = 16  # PS3.5 6.2: a decimal string holds at most 16 characters


# ---------------------------------------------------------------- decimal strings


def _dec(value: float) -> Decimal:
    """The short decimal a series number stands for (its shortest repr)."""
    return Decimal(repr(float(value)))


def decimal_string(value: float | Decimal) -> str:
    """``value`` as a DICOM decimal string, exactly (ValueError if it needs over 16 characters)."""
    d = value if isinstance(value, Decimal) else _dec(value)
    text = f"{d.normalize():f}"
    if text in ("-0", "-0.0"):
        text = "0"
    if len(text) > DS_MAX_CHARS:
        raise ValueError(f"{value!r} needs {len(text)} characters, more than a DICOM decimal string holds")
    return text


# ---------------------------------------------------------------- per-frame positions


def _normal_exact(g: SeriesGeometry) -> tuple[Decimal, Decimal, Decimal]:
    r = [_dec(v) for v in g.row_cosine]
    c = [_dec(v) for v in g.column_cosine]
    return (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])


def slice_normal(g: SeriesGeometry) -> Vector:
    """``row_cosine x column_cosine``: the direction positive ``slice_step`` moves along."""
    n = _normal_exact(g)
    return (float(n[0]), float(n[1]), float(n[2]))


def _slot_step_exact(g: SeriesGeometry) -> tuple[Decimal, Decimal, Decimal]:
    """From one grid slot to the next: ``slice_step * (normal + shear * column_cosine)``."""
    shear = _dec(g.shear) if g.shear is not None else Decimal(0)
    step = _dec(g.slice_step)
    n, c = _normal_exact(g), [_dec(v) for v in g.column_cosine]
    return (step * (n[0] + shear * c[0]), step * (n[1] + shear * c[1]), step * (n[2] + shear * c[2]))


def frame_slot(g: SeriesGeometry, frame: int) -> int:
    """The grid slot of 1-based file ``frame`` (``frame - 1`` unless the grid is irregular)."""
    return frame - 1 if g.slots is None else g.slots[frame - 1]


def frame_position_ds(g: SeriesGeometry, frame: int) -> tuple[str, str, str]:
    """ImagePositionPatient of 1-based ``frame``, as the decimal strings written to the file."""
    if g.slots is not None or g.shear is not None:  # an irregular grid: the frame's slot, the sheared step
        slot = frame_slot(g, frame)
        return tuple(decimal_string(_dec(o) + slot * d) for o, d in zip(g.origin, _slot_step_exact(g), strict=True))  # type: ignore[return-value]
    step = _dec(g.slice_step) * (frame - 1)
    return tuple(decimal_string(_dec(o) + step * n) for o, n in zip(g.origin, _normal_exact(g), strict=True))  # type: ignore[return-value]


def frame_position(g: SeriesGeometry, frame: int) -> Vector:
    """ImagePositionPatient of 1-based ``frame`` (mm, LPS): the centre of its first voxel."""
    x, y, z = (float(v) for v in frame_position_ds(g, frame))
    return (x, y, z)


# ---------------------------------------------------------------- affines


def affine_from_tags(orientation: Sequence[float], pixel_spacing: Sequence[float],
                     positions: Sequence[Sequence[float]], slice_thickness: float = 1.0) -> np.ndarray:
    """The LPS affine (voxel index -> mm) from DICOM's own numbers.

    ``orientation`` is ImageOrientationPatient (6 values), ``pixel_spacing``
    PixelSpacing (row spacing, column spacing), ``positions`` the
    ImagePositionPatient of the first frames in file order (two are enough).
    Columns: ``r * dc``, ``c * dr``, ``P(2) - P(1)`` and ``P(1)``.  A single
    frame has no step: its third column is the normal times ``slice_thickness``.
    """
    r = np.asarray(orientation[:3], dtype=np.float64)
    c = np.asarray(orientation[3:6], dtype=np.float64)
    dr, dc = float(pixel_spacing[0]), float(pixel_spacing[1])
    p1 = np.asarray(positions[0], dtype=np.float64)
    if len(positions) > 1:
        third = np.asarray(positions[1], dtype=np.float64) - p1
    else:
        third = np.cross(r, c) * float(slice_thickness)
    affine = np.eye(4)
    affine[:3, 0] = r * dc
    affine[:3, 1] = c * dr
    affine[:3, 2] = third
    affine[:3, 3] = p1
    return affine


def grid_order(slots: Sequence[int], step_sign: float) -> tuple[int, ...]:
    """The grid slice ``k`` of each file frame, from the frames' slots along the step.

    The rule a converter can apply to the tags alone: frames whose positions run one way along the
    normal in file order keep file order (``k`` counts from frame 1, either way); otherwise ``k``
    sorts them ascending along the normal ``r x c``.  A missing slot stays a slice of the grid.
    """
    diffs = [b - a for a, b in itertools.pairwise(slots)]
    if all(d > 0 for d in diffs):
        sign = 1
    elif all(d < 0 for d in diffs):
        sign = -1
    else:
        sign = 1 if step_sign > 0 else -1
    base = min(slots) if sign > 0 else max(slots)
    return tuple(sign * (s - base) for s in slots)


def grid_of_frames(series: DicomSeries) -> tuple[int, ...]:
    """The grid slice ``k`` (0-based; the label map's third index) of each file frame."""
    g = series.geometry
    if g.slots is None:
        return tuple(range(series.volume.slices))
    return grid_order(g.slots, g.slice_step)


def grid_slices(series: DicomSeries) -> int:
    """How many slices the grid has: the frames, and a missing slice's slot."""
    return max(grid_of_frames(series)) + 1


def affine_lps(series: DicomSeries) -> np.ndarray:
    """Grid index ``(i, j, k, 1)`` -> patient mm (LPS) for the row's volume (``k`` = file frame - 1
    unless the grid is irregular: :func:`grid_of_frames`)."""
    from_file = getattr(series, "affine_from_file", None)
    if from_file is not None:  # a user's file (lbmock.dicom.user_files): its own tags, as a reader builds it
        return from_file()
    g = series.geometry
    if g.slots is None:
        positions = [frame_position(g, f) for f in range(1, min(series.volume.slices, 2) + 1)]
    else:  # first and last grid slice, as a reader finds them: the step is their difference over k
        ks = grid_of_frames(series)
        first, last = ks.index(0) + 1, ks.index(max(ks)) + 1
        p0, p1 = np.array(frame_position(g, first)), np.array(frame_position(g, last))
        positions = [tuple(p0), tuple(p0 + (p1 - p0) / max(ks))]
    return affine_from_tags((*g.row_cosine, *g.column_cosine), (g.row_spacing, g.column_spacing),
                            positions, g.slice_thickness)


def affine_ras(series: DicomSeries) -> np.ndarray:
    """NIfTI's affine (RAS mm) for an array indexed ``[i, j, k]``."""
    return LPS_TO_RAS @ affine_lps(series)


def grid_from_positions(orientation: Sequence[float],
                        positions: Sequence[Sequence[float]]) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """From the tags alone: the grid slice ``k`` of each frame (:func:`grid_order`'s rule) and the
    positions of grid slices 0 and 1 (slice 1 as the step from the first to the last slice over
    their distance in slices), for :func:`affine_from_tags`.  The grid's step is the smallest gap
    between neighbouring positions along the normal."""
    points = np.asarray(positions, dtype=np.float64)
    if len(points) == 1:
        return (0,), [points[0]]
    normal = np.cross(np.asarray(orientation[:3], dtype=np.float64), np.asarray(orientation[3:6], dtype=np.float64))
    along = (points - points[0]) @ normal
    gap = np.min(np.abs(np.diff(np.sort(along))))
    ks = grid_order([round(float(a / gap)) for a in along], 1.0)
    first, last = ks.index(0), ks.index(max(ks))
    return ks, [points[first], points[first] + (points[last] - points[first]) / max(ks)]


def affine_from_dataset(dataset: Any) -> np.ndarray:
    """The LPS affine of a multi-frame Part 10 dataset (pydicom), from its functional groups.

    Reads shared PlaneOrientation and PixelMeasures and the frames' PlanePosition, as readers of
    Enhanced CT/MR do; frames out of spatial order or with a missing slice are put on their grid
    (:func:`grid_from_positions`).
    """
    shared = dataset.SharedFunctionalGroupsSequence[0]
    orientation = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    measures = shared.PixelMeasuresSequence[0]
    all_positions = [[float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient]
                     for fg in dataset.PerFrameFunctionalGroupsSequence]
    ks, positions = grid_from_positions(orientation, all_positions)
    if ks == tuple(range(len(ks))):  # a regular grid in file order: frames 1 and 2, as before
        positions = all_positions[:2]
    return affine_from_tags(orientation, [float(v) for v in measures.PixelSpacing], positions,
                            float(measures.SliceThickness))


# ---------------------------------------------------------------- plane <-> voxel


def _check(volume: Volume, plane: str, frame: int) -> None:
    if plane not in PLANE_AXES:
        raise ValueError(f"unknown plane {plane!r}; planes are {', '.join(PLANES)}")
    count = volume.plane(plane).frame_count
    if not 1 <= frame <= count:
        raise ValueError(f"{plane} frame {frame} is outside 1..{count}")


def plane_to_voxel(volume: Volume, plane: str, frame: int, x: int, y: int) -> tuple[int, int, int]:
    """The voxel ``(i, j, k)`` under pixel ``(x, y)`` of ``plane`` frame ``frame`` (1-based)."""
    _check(volume, plane, frame)
    p = volume.plane(plane)
    if not (0 <= x < p.width and 0 <= y < p.height):
        raise ValueError(f"pixel ({x}, {y}) is outside the {p.width} x {p.height} {plane} plane")
    index = [0, 0, 0]
    ax, ay, af = PLANE_AXES[plane]
    index[ax], index[ay], index[af] = x, y, frame - 1
    return (index[0], index[1], index[2])


def voxel_to_plane(plane: str, i: int, j: int, k: int) -> tuple[int, int, int]:
    """``(frame, x, y)`` of voxel ``(i, j, k)`` on ``plane``: the inverse of :func:`plane_to_voxel`."""
    index = (i, j, k)
    ax, ay, af = PLANE_AXES[plane]
    return index[af] + 1, index[ax], index[ay]


def plane_point_index(plane: str, frame: int, px: float, py: float) -> tuple[float, float, float]:
    """Continuous voxel index of plane point ``(px, py)`` on ``frame`` (pixel centres at ``+0.5``)."""
    if plane not in PLANE_AXES:
        raise ValueError(f"unknown plane {plane!r}; planes are {', '.join(PLANES)}")
    index = [0.0, 0.0, 0.0]
    ax, ay, af = PLANE_AXES[plane]
    index[ax], index[ay], index[af] = px - 0.5, py - 0.5, float(frame - 1)
    return (index[0], index[1], index[2])


def patient_points(series: DicomSeries, plane: str, frame: int,
                   points: Iterable[tuple[float, float]]) -> np.ndarray:
    """Patient coordinates (mm, LPS; one row per point) of plane points on ``plane`` frame ``frame``."""
    _check(series.volume, plane, frame)
    index = np.array([(*plane_point_index(plane, frame, px, py), 1.0) for px, py in points], dtype=np.float64)
    if index.size == 0:
        return np.zeros((0, 3))
    if series.geometry.slots is not None:  # file frame coordinate -> grid slice
        ks = grid_of_frames(series)
        index[:, 2] = [continuous_grid_index(ks, t) for t in index[:, 2]]
    return (affine_lps(series) @ index.T).T[:, :3]


def continuous_grid_index(ks: Sequence[int], t: float) -> float:
    """Grid index of continuous file frame coordinate ``t`` (frame ``f`` at ``f - 1``): linear between
    neighbouring file frames' grid slices, and beyond the ends along the first or last pair (how a
    Sagittal or Coronal point between two frames is placed when frames are out of order)."""
    if len(ks) == 1:
        return t
    i0 = min(max(int(np.floor(t)), 0), len(ks) - 2)
    return ks[i0] + (t - i0) * (ks[i0 + 1] - ks[i0])


def patient_point(series: DicomSeries, plane: str, frame: int, px: float, py: float) -> Vector:
    """Patient coordinates (mm, LPS) of one plane point: e.g. a polyline vertex."""
    x, y, z = patient_points(series, plane, frame, [(px, py)])[0]
    return (float(x), float(y), float(z))


def index_of_patient_point(series: DicomSeries, point: Sequence[float]) -> tuple[float, float, float]:
    """Continuous grid index ``(i, j, k)`` of a patient point (mm, LPS): the inverse of the affine."""
    i, j, k, _ = np.linalg.solve(affine_lps(series), np.array([*point, 1.0], dtype=np.float64))
    return (float(i), float(j), float(k))
