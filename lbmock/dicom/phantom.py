"""The phantom: synthetic pixels in which every labelled structure is visible.

A body (soft tissue, an elliptic cylinder) in air; every voxel a mask of the
row's label covers (:func:`lbmock.labelmap.label_slices`, the same
rasteriser as the mask PNGs) takes its structure's own value, far from both
tissue and air; every polyline is drawn over it, brighter still; mild noise,
seeded per frame, on top.  Values are real-world units (HU for CT), stored
through the series' rescale: ``stored = round((value - intercept) / slope)``.
Under MONOCHROME1 (variant ``monochrome1``) every stored value is then mirrored
within the stored range (``lo + hi - stored``): the minimum displays white, so
the image displays as the MONOCHROME2 one does.

Frames are produced one at a time, in file order, never the whole volume.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lbmock.dicom.geometry import PLANE_AXES
from lbmock.dicom.series import DicomSeries
from lbmock.labelmap import choose_label, label_slices, mask_features
from lbmock.world import DataRow, Label, Polyline

NOISE = 5.0  # +- real-world units (HU for CT): mild, and far below any contrast below
STRUCTURE_CYCLE = 12  # structure values repeat after this many label indices


@dataclass(frozen=True, slots=True)
class Intensities:
    """Real-world values of the phantom's classes (HU for CT, arbitrary units for MR)."""

    air: float
    body: float
    first_structure: float
    structure_step: float
    line: float

    def structure(self, index: int) -> float:
        """The value of label index ``index`` (1-based): each distinct from its neighbours."""
        return self.first_structure + self.structure_step * ((index - 1) % STRUCTURE_CYCLE)


CT = Intensities(air=-1000.0, body=40.0, first_structure=300.0, structure_step=100.0, line=2500.0)
MR = Intensities(air=0.0, body=400.0, first_structure=700.0, structure_step=150.0, line=3500.0)


def intensities(series: DicomSeries) -> Intensities:
    return CT if series.modality == "CT" else MR


def stored_range(series: DicomSeries) -> tuple[int, int]:
    """The stored values BitsStored and PixelRepresentation allow (PS3.5 8.1.1)."""
    bits = series.bits_stored
    if series.pixel_representation:  # two's complement: written sign-extended to 16 bits
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def stored_value(series: DicomSeries, value: float) -> int:
    """The stored pixel value of a real-world value under the series' rescale."""
    lo, hi = stored_range(series)
    return int(np.clip(round((value - series.rescale_intercept) / series.rescale_slope), lo, hi))


def padding_value(series: DicomSeries) -> int | None:
    """PixelPaddingValue (variant ``pixel-padding``): the lowest stored value the encoding allows,
    or the highest where air's noise reaches the lowest (MR air is stored 0), so that no pixel of
    the image proper carries it (PS3.3 C.7.5.1.1.2); mirrored under MONOCHROME1."""
    padding = _unmirrored_padding(series)
    if padding is None or not inverted(series):
        return padding
    lo, hi = stored_range(series)
    return lo + hi - padding


def _unmirrored_padding(series: DicomSeries) -> int | None:
    if not series.pixel_padding:
        return None
    lo, hi = stored_range(series)
    return lo if stored_value(series, intensities(series).air) - noise_amplitude(series) > lo else hi


def inverted(series: DicomSeries) -> bool:
    """MONOCHROME1: stored values mirrored within the stored range."""
    return series.photometric_interpretation == "MONOCHROME1"


def read_value(series: DicomSeries, value: float | np.ndarray) -> float | np.ndarray:
    """What a reader's rescale gives where the phantom put real-world value ``value``: the value
    itself, or under MONOCHROME1 its mirror ``slope * (lo + hi) + 2 * intercept - value`` (a mirror:
    applied to what a reader got, it gives the phantom's value back)."""
    if not inverted(series):
        return value
    lo, hi = stored_range(series)
    return series.rescale_slope * (lo + hi) + 2 * series.rescale_intercept - value


def field_of_view(rows: int, cols: int) -> np.ndarray:
    """The pixels a scanner reconstructs: the ellipse inscribed in the frame (padding lies outside)."""
    ys = (np.arange(rows, dtype=np.float64)[:, None] + 0.5 - rows / 2) / (rows / 2)
    xs = (np.arange(cols, dtype=np.float64)[None, :] + 0.5 - cols / 2) / (cols / 2)
    return xs * xs + ys * ys <= 1.0


def real_value(series: DicomSeries, stored: float) -> float:
    """The real-world value of a stored pixel value (what a reader's rescale gives)."""
    return stored * series.rescale_slope + series.rescale_intercept


def noise_amplitude(series: DicomSeries) -> int:
    """Half-width of the noise in stored units."""
    return max(1, round(NOISE / series.rescale_slope))


def body_mask(rows: int, cols: int) -> np.ndarray:
    """The body's cross-section on every frame: an ellipse filling most of the field of view."""
    ys = (np.arange(rows, dtype=np.float64)[:, None] + 0.5 - rows / 2) / (0.42 * rows)
    xs = (np.arange(cols, dtype=np.float64)[None, :] + 0.5 - cols / 2) / (0.45 * cols)
    return xs * xs + ys * ys <= 1.0


def polyline_pixels(points: tuple[tuple[float, float], ...], width: int, height: int) -> np.ndarray:
    """Plane pixels ``(x, y)`` a polyline passes over (sampled every quarter pixel), one row each."""
    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        n = max(1, int(np.ceil(4 * max(abs(x1 - x0), abs(y1 - y0)))))
        t = np.linspace(0.0, 1.0, n + 1)
        out.append(np.stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t], axis=1))
    if not out:  # a one-point polyline is its point
        out.append(np.array(points[:1], dtype=np.float64))
    pixels = np.floor(np.concatenate(out)).astype(np.int64)
    pixels[:, 0] = np.clip(pixels[:, 0], 0, width - 1)
    pixels[:, 1] = np.clip(pixels[:, 1], 0, height - 1)
    return np.unique(pixels, axis=0)


def line_voxels(row: DataRow, label: Label | None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per file frame k: the (row j, column i) voxels the label's polylines pass over.

    Every frame a polyline is on counts (its keyframes and the frames
    interpolated between them), placed with the plane mapping of
    :data:`lbmock.dicom.geometry.PLANE_AXES`.
    """
    if label is None:
        return {}
    volume = row.volume
    by_frame: dict[int, list[np.ndarray]] = {}
    for feature in label.features:
        if feature.tool.kind != "polyline":
            continue
        plane = volume.plane(feature.plane)
        ax, ay, af = PLANE_AXES[feature.plane]
        for frame, geometry, _key, _answers in feature.frames(interpolated=True):
            if not isinstance(geometry, Polyline):
                continue
            pixels = polyline_pixels(geometry.points, plane.width, plane.height)
            index = np.empty((len(pixels), 3), dtype=np.int64)
            index[:, ax], index[:, ay], index[:, af] = pixels[:, 0], pixels[:, 1], frame - 1
            for k in np.unique(index[:, 2]):
                by_frame.setdefault(int(k), []).append(index[index[:, 2] == k])
    out = {}
    for k, parts in by_frame.items():
        both = np.concatenate(parts)
        out[k] = (both[:, 1], both[:, 0])
    return out


def phantom_frames(row: DataRow, label: Label | None = None, start: int = 0,
                   region: tuple[int | slice, int | slice] | None = None) -> Iterator[np.ndarray]:
    """Stored pixel values (``rows x cols`` uint16, int16 if signed) of file frames ``start..S-1``, one at a time.

    ``label`` defaults to the row's first label; a row without one is the body alone.
    ``region`` (an index into a frame, e.g. ``(slice(None), i)``: column ``i``) yields only
    those pixels of each frame (a Sagittal or Coronal view), drawing each frame's noise stream
    only as far as the region reaches.
    """
    series = row.series
    volume = row.volume
    label = label if label is not None else choose_label(row)
    n_structures = len(mask_features(label))
    look = intensities(series)
    amplitude = noise_amplitude(series)
    # class per voxel: 0 air, 1 body, 1 + n structure n, 2 + n_structures the polylines
    values = (look.air, look.body, *(look.structure(n) for n in range(1, n_structures + 1)), look.line)
    lut = np.array([stored_value(series, v) for v in values], dtype=np.int32)
    lo, hi = stored_range(series)
    clip = lut.min() < lo + amplitude or lut.max() > hi - amplitude  # e.g. MR air at stored 0
    padding = _unmirrored_padding(series)
    mirror = lo + hi if inverted(series) else None  # MONOCHROME1: stored values mirrored, padding too
    # padded: air outside the field of view (a labelled voxel is never padded: masks stay visible)
    outside = None if padding is None else ~field_of_view(volume.rows, volume.cols)
    line_class = 2 + n_structures
    body = body_mask(volume.rows, volume.cols).astype(np.int32)
    plain = lut[body]  # a frame with nothing labelled on it
    noise_of_byte = (np.arange(256, dtype=np.int32) % (2 * amplitude + 1)) - amplitude
    lines = line_voxels(row, label)
    n_bytes, picked = volume.rows * volume.cols, None
    part = region if region is not None else (slice(None), slice(None))
    if region is not None:  # a stream's first n bytes do not depend on how many follow: draw only those
        picked = np.arange(n_bytes).reshape(volume.rows, volume.cols)[region]
        n_bytes = int(picked.max()) + 1
    body, plain = body[part], plain[part]
    if outside is not None:
        outside = outside[part]
    for k, labels in enumerate(label_slices(row, label)):
        if k < start:
            continue
        labels = labels[part]
        classes = None
        if k in lines or labels.any():
            classes = np.where(labels > 0, labels.astype(np.int32) + 1, body)
            if k in lines:
                if region is None:
                    classes[lines[k]] = line_class
                else:
                    on_line = np.zeros((volume.rows, volume.cols), dtype=bool)
                    on_line[lines[k]] = True
                    classes[on_line[region]] = line_class
            base = lut[classes]
        else:
            base = plain
        # noise from the raw bit stream of a per-frame PCG64: stable across processes and numpy releases
        raw = np.random.Generator(np.random.PCG64([series.noise_seed, k])).bytes(n_bytes)
        if region is None:
            frame = base + noise_of_byte[np.frombuffer(raw, dtype=np.uint8).reshape(volume.rows, volume.cols)]
        else:
            frame = base + noise_of_byte[np.frombuffer(raw, dtype=np.uint8)[picked]]
        if clip:
            np.clip(frame, lo, hi, out=frame)
        if outside is not None:
            frame[outside & ((classes if classes is not None else body) == 0)] = padding
        if mirror is not None:
            frame = mirror - frame
        # little endian, as the transfer syntax says; signed values sign-extended to 16 bits
        yield frame.astype("<i2" if series.pixel_representation else "<u2")
