"""Plane views of a data row for a person: a slice of its DICOM volume through a window, and
the label's masks and polylines on that slice in their tools' colours.

Nothing here is a second copy: the pixels are the phantom's (:func:`lbmock.dicom.phantom.phantom_frames`,
the very values the served DICOM file holds, one frame at a time; under ``--dicom-dir`` the user's
file's own, decoded by pydicom), placed by the geometry
module's plane mapping (:data:`lbmock.dicom.geometry.PLANE_AXES`); masks come from the rasteriser
that draws the mask PNGs, polylines from the one that draws them into the phantom; PNGs are
written by :mod:`lbmock.render.masks`' encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lbmock.dicom.geometry import PLANE_AXES
from lbmock.dicom.phantom import phantom_frames, phantom_value, polyline_pixels
from lbmock.dicom.user_files import FileSeries
from lbmock.labelmap import rasterise
from lbmock.render.masks import encode_png_gray8, encode_png_rgba8
from lbmock.world import DataRow, Feature, Label, MaskShape, Polyline


@dataclass(frozen=True, slots=True)
class Window:
    """A display window in real-world units (HU for CT): DICOM's linear VOI LUT (PS3.3 C.11.2.1.2)."""

    name: str
    title: str
    center: float | None = None  # None: from the slice (auto) or the file (dicom)
    width: float | None = None


# Presets a radiologist expects; "dicom" is the file's own WindowCenter/WindowWidth, "auto" the slice's range.
WINDOWS: dict[str, Window] = {w.name: w for w in (
    Window("soft-tissue", "CT soft tissue (W 400, L 40)", 40.0, 400.0),
    Window("lung", "CT lung (W 1500, L -600)", -600.0, 1500.0),
    Window("bone", "CT bone (W 1800, L 400)", 400.0, 1800.0),
    Window("dicom", "The file's window (WindowCenter / WindowWidth)"),
    Window("auto", "Auto: the slice's minimum to maximum (MR)"),
)}


def default_window(row: DataRow) -> str:
    return "soft-tissue" if row.series.modality == "CT" else "auto"


def plane_frame_count(row: DataRow, plane: str) -> int:
    return row.volume.plane(plane).frame_count


def stored_plane(row: DataRow, plane: str, frame: int) -> np.ndarray:
    """The stored pixel values of plane frame ``frame`` (1-based), as the plane's ``height x width``
    array: pixel ``(x, y)`` of the plane, voxel by the geometry module's mapping.

    Axial is one file frame; Sagittal and Coronal take one column or row of every frame.
    """
    view = row.volume.plane(plane)
    if not 1 <= frame <= view.frame_count:
        raise ValueError(f"{plane} has frames 1..{view.frame_count}, not {frame}")
    frame_axis = PLANE_AXES[plane][2]  # 0: column i fixed, 1: row j fixed, 2: file frame k
    if isinstance(row.series, FileSeries):  # --dicom-dir: the user's own pixels, never the phantom's
        return _file_plane(row.series, frame_axis, frame - 1)
    if frame_axis == 2:
        return next(phantom_frames(row, start=frame - 1))
    region = (slice(None), frame - 1) if frame_axis == 0 else (frame - 1, slice(None))
    return np.stack(list(phantom_frames(row, region=region)))  # [k, along x]: y runs along file frames


class PreviewUnavailable(Exception):
    """A user's file pydicom cannot decode here (a compressed transfer syntax without its decoder plugin)."""


def _file_plane(series: FileSeries, frame_axis: int, at: int) -> np.ndarray:
    """Plane ``at`` (0-based) of a user's file, decoded by pydicom a frame at a time (stored values).

    :class:`~lbmock.dicom.user_files.UserFileChanged` if the file changed since the start;
    :class:`PreviewUnavailable` if pydicom cannot decode it.
    """
    from pydicom.pixels import iter_pixels, pixel_array  # late: only --dicom-dir previews decode files

    series.check_unchanged()
    try:
        if frame_axis == 2:
            return pixel_array(series.path, index=at)
        part = (slice(None), at) if frame_axis == 0 else (at, slice(None))
        return np.stack([frame[part] for frame in iter_pixels(series.path)])
    except Exception as exc:  # a missing plugin, a codec's own error on broken data: the preview says which
        raise PreviewUnavailable(f"pydicom cannot decode {series.relative_path} for a preview: {exc}") from exc


def window_values(row: DataRow, stored: np.ndarray, window: str) -> np.ndarray:
    """8-bit grey levels of stored values through ``window`` (real-world values, DICOM's linear function)."""
    chosen = WINDOWS[window]
    real = phantom_value(row.series, stored.astype(np.float64))  # a drawn MONOCHROME1 series shows as MONOCHROME2
    if chosen.name == "dicom":
        center, width = row.series.window_center, row.series.window_width
    elif chosen.name == "auto":
        low, high = float(real.min()), float(real.max())
        center, width = (low + high) / 2 + 0.5, max(high - low + 1, 1.0)
    else:
        center, width = chosen.center, chosen.width
    if width <= 1:  # PS3.3: width 1 is a threshold at the centre
        return np.where(real >= center - 0.5, 255, 0).astype(np.uint8)
    scaled = ((real - (center - 0.5)) / (width - 1) + 0.5) * 255
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def slice_png(row: DataRow, plane: str, frame: int, window: str) -> bytes:
    """The grey PNG of plane frame ``frame`` through ``window`` (a key of :data:`WINDOWS`)."""
    # zlib level 1: slices are noisy, level 6 took ~3x longer for a few percent smaller files
    return encode_png_gray8(window_values(row, stored_plane(row, plane, frame), window), level=1)


def _rgb(color: str) -> tuple[int, int, int]:
    value = int(color.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def features_on(label: Label | None, plane: str) -> tuple[Feature, ...]:
    return () if label is None else tuple(f for f in label.features if f.plane == plane)


def overlay_rgba(row: DataRow, label: Label | None, plane: str, frame: int) -> np.ndarray:
    """``height x width x 4``: the label's masks on plane frame ``frame`` in their tools' colours (opaque;
    later masks over earlier ones, as the label map orders them), its polylines on top; transparent elsewhere."""
    view = row.volume.plane(plane)
    if not 1 <= frame <= view.frame_count:
        raise ValueError(f"{plane} has frames 1..{view.frame_count}, not {frame}")
    out = np.zeros((view.height, view.width, 4), dtype=np.uint8)
    features = features_on(label, plane)
    for kind in ("mask", "polyline"):  # polylines drawn on top
        for feature in features:
            if feature.tool.kind != kind:
                continue
            colour = (*_rgb(feature.tool.color), 255)
            for at, geometry, _key, _answers in feature.frames(interpolated=True):
                if at != frame:
                    continue
                if isinstance(geometry, MaskShape):
                    out[rasterise(geometry, view) != 0] = colour
                elif isinstance(geometry, Polyline):
                    pixels = polyline_pixels(geometry.points, view.width, view.height)
                    out[pixels[:, 1], pixels[:, 0]] = colour
    return out


def overlay_png(row: DataRow, label: Label | None, plane: str, frame: int) -> bytes:
    return encode_png_rgba8(overlay_rgba(row, label, plane, frame))
