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

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lbmock.dicom.geometry import PLANE_AXES
from lbmock.dicom.phantom import phantom_frames, polyline_pixels, read_value
from lbmock.dicom.user_files import FileSeries
from lbmock.keyed_locks import KeyedLocks
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
    """Plane ``at`` (0-based) of a user's file (stored values): from its decoded volume, kept while it
    fits in :data:`DECODED_BYTES`; a bigger file is decoded a frame at a time for every preview.

    :class:`~lbmock.dicom.user_files.UserFileChanged` if the file changed since the start;
    :class:`PreviewUnavailable` if pydicom cannot decode it.
    """
    from pydicom.pixels import iter_pixels, pixel_array  # late: only --dicom-dir previews decode files

    series.check_unchanged()
    part = (slice(None), at) if frame_axis == 0 else (at, slice(None))
    try:
        volume = _DECODED.volume(series)
        if volume is not None:
            return volume[at] if frame_axis == 2 else volume[(slice(None), *part)]
        if frame_axis == 2:
            return pixel_array(series.path, index=at)
        return np.stack([frame[part] for frame in iter_pixels(series.path)])
    except Exception as exc:  # a missing plugin, a codec's own error on broken data: the preview says which
        raise PreviewUnavailable(f"pydicom cannot decode {series.relative_path} for a preview: {exc}") from exc


def _decode_volume(path: str) -> np.ndarray:
    """Every frame of the file at ``path``, decoded by pydicom: stored values ``[frame, row, column]``."""
    from pydicom.pixels import pixel_array

    pixels = pixel_array(path)
    return pixels if pixels.ndim == 3 else pixels[None]


DECODED_BYTES = 256 * 1024**2  # users' decoded volumes kept for previews (a 512 x 512 x 500 CT is 250 MiB)


class DecodedVolumes:
    """Users' files decoded whole, the most recently previewed kept within ``max_bytes``: a Sagittal or
    Coronal preview takes one column or row of every frame, so without them each request (every move
    of a slider) would decode the whole file again.

    Locks: ``_lock`` guards the table and the byte count only, never a decode (previews of other rows
    go on meanwhile); a decode holds its file's own lock (``_decoding``), so the three previews a row
    page asks for at once decode the file once.  Order: a file's lock, then ``_lock`` (a leaf)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._volumes: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._decoding = KeyedLocks()  # per file: one decode, the others wait for it
        self._lock = threading.Lock()

    def volume(self, series: FileSeries) -> np.ndarray | None:
        """The file's stored values ``[frame, row, column]`` (read-only), decoded on first use; None when
        they cannot fit (judged at two bytes a value before decoding, by the array after)."""
        v = series.volume
        if v.rows * v.cols * v.slices * 2 > self.max_bytes:
            return None
        stat = os.stat(series.path)
        key = (series.path, stat.st_size, stat.st_mtime_ns)  # a file rewritten since is decoded again
        found = self._cached(key)
        if found is not None:
            return found
        with self._decoding.holding(key):
            found = self._cached(key)  # decoded by the thread this one waited for
            if found is not None:
                return found
            decoded = _decode_volume(series.path)
            decoded.flags.writeable = False  # shared by request threads
            if decoded.nbytes <= self.max_bytes:
                self._keep(key, decoded)
            return decoded

    def _cached(self, key: tuple[str, int, int]) -> np.ndarray | None:
        with self._lock:
            found = self._volumes.get(key)
            if found is not None:
                self._volumes.move_to_end(key)
            return found

    def _keep(self, key: tuple[str, int, int], decoded: np.ndarray) -> None:
        with self._lock:
            self._volumes[key] = decoded
            self._bytes += decoded.nbytes
            while self._bytes > self.max_bytes:
                _key, dropped = self._volumes.popitem(last=False)
                self._bytes -= dropped.nbytes


_DECODED = DecodedVolumes(DECODED_BYTES)  # one per process: every backend previews the same files alike


def window_values(row: DataRow, stored: np.ndarray, window: str) -> np.ndarray:
    """8-bit grey levels of stored values as a DICOM viewer shows them (PS3.4 N.2): the modality LUT
    (rescale) gives the file's values, ``window`` maps them linearly (PS3.3 C.11.2.1.2), and under
    MONOCHROME1 (low values bright) the result is inverted.  One path for a drawn series and a user's
    file: a drawn MONOCHROME1 file stores the phantom mirrored, window too, and shows as its
    MONOCHROME2 twin to one grey level (DICOM's half-step asymmetry)."""
    series = row.series
    chosen = WINDOWS[window]
    real = stored.astype(np.float64) * series.rescale_slope + series.rescale_intercept
    if chosen.name == "auto":
        low, high = float(real.min()), float(real.max())
        center, width = (low + high) / 2 + 0.5, max(high - low + 1, 1.0)
    elif chosen.name == "dicom":
        center, width = _file_value(row, series.window_center), series.window_width
    else:
        center, width = _file_value(row, chosen.center), chosen.width
    if width <= 1:  # PS3.3: width 1 is a threshold at the centre
        grey = np.where(real >= center - 0.5, 255, 0).astype(np.uint8)
    else:
        scaled = ((real - (center - 0.5)) / (width - 1) + 0.5) * 255
        grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return 255 - grey if series.photometric_interpretation == "MONOCHROME1" else grey


def _file_value(row: DataRow, value: float | None) -> float:
    """A value in the phantom's units (a preset's HU, a drawn series' window) as the file's values hold
    it: a drawn MONOCHROME1 file stores the phantom mirrored (``read_value``); a user's file holds its
    own values, in which its window and the presets are read as they are."""
    assert value is not None
    return value if isinstance(row.series, FileSeries) else float(read_value(row.series, value))


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
