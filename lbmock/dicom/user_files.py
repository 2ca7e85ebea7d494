"""The user's own DICOM files behind ``row_data`` (world option ``dicom_dir``).

:func:`scan_dicom_dir` reads every file under a folder once, header only (pydicom
with ``defer_size``: Pixel Data is located, never loaded), and sorts it into

* **usable** files, each a :class:`FileSeries`: a :class:`~lbmock.world.DicomSeries`
  whose volume, geometry, modality, UIDs, rescale and window come from the file's
  tags, plus where the file is, its size and SHA-256 (what the row serves, byte for
  byte, and what names the world: a changed file makes another world);
* **refused** files, each with the reason: not DICOM, no pixel data, no usable
  geometry, a layout lbmock cannot read.

Readable layouts: single-frame images (ImagePositionPatient, ImageOrientationPatient,
PixelSpacing; the slice thickness is SliceThickness, else SpacingBetweenSlices, else
1 mm); multi-frame images with functional groups (Enhanced CT/MR/PET..., Legacy
Converted: every frame's PlanePosition, frames evenly spaced along the slice normal);
classic multi-frame images with one ImagePositionPatient and SpacingBetweenSlices (or
SliceThickness) between frames.  One sample a pixel.  Any transfer syntax: the bytes
are served as they are, never decoded.

Files are only ever opened read-only.  Sorted by relative path (POSIX separators, so
every machine agrees), data row ``i`` serves usable file ``i mod n``.

A :class:`FileSeries` is small and picklable (numbers and strings, no dataset), so
a world holding a few thousand goes to helper processes as any world does.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from lbmock.byte_ranges import read_range
from lbmock.dicom.geometry import affine_from_tags
from lbmock.world import DicomSeries, SeriesGeometry, Vector, Volume

DEFER_BYTES = 4096  # values longer than this stay in the file while scanning (Pixel Data above all)
CHUNK_BYTES = 1 << 20
PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float and Double Float Pixel Data
UNIT_TOLERANCE = 1e-3  # orientation cosines: unit length and orthogonal to this
UNDEFINED_LENGTH = 0xFFFFFFFF
DEFAULT_WINDOWS = {"CT": (40.0, 400.0)}  # when a file has no window: CT soft tissue, else below
OTHER_WINDOW = (600.0, 1200.0)


class Refused(ValueError):
    """A file lbmock cannot serve as a data row's volume; the message is the reason."""


class UserFileChanged(OSError):
    """A user's file no longer has the size it had when lbmock scanned it."""


class NoUsableDicom(ValueError):
    """A ``dicom_dir`` holding no file lbmock can serve (the message lists why each was refused)."""


@dataclass(frozen=True, slots=True)
class FileSeries(DicomSeries):
    """A user's DICOM file as a data row's series: the model's values read from its tags, and the file.

    ``tag_*`` are the file's own numbers the affine is built from (as a reader builds it):
    ImageOrientationPatient, PixelSpacing, the first frame's ImagePositionPatient (and the
    second's, when the file gives each frame its own), and the step along the slice normal
    used when it gives only one.
    """

    path: str           # absolute
    relative_path: str  # inside the folder, POSIX separators
    size: int
    sha256: str
    tag_orientation: tuple[float, ...]
    tag_spacing: tuple[float, float]
    tag_positions: tuple[Vector, ...]
    tag_step: float
    tag_slice_thickness: float | None = None  # SliceThickness as the file states it (None: absent)
    tag_acquired_at: int | None = None  # acquisition (else study, series) date and time, epoch ms (None: no date)

    def affine_from_file(self) -> np.ndarray:
        """Voxel ``(i, j, k, 1)`` -> patient mm (LPS), from the file's tags (what
        :func:`lbmock.dicom.geometry.affine_lps` answers for this series)."""
        return affine_from_tags(self.tag_orientation, self.tag_spacing, self.tag_positions, self.tag_step)

    def check_unchanged(self) -> int:
        """The file's size, as scanned; :class:`UserFileChanged` if it is another size now."""
        size = os.stat(self.path).st_size
        if size != self.size:
            raise UserFileChanged(f"{self.relative_path} is {size} bytes, {self.size} when lbmock scanned it; "
                                  f"restart lbmock to serve the folder as it is now")
        return size

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start..end`` of the file, read (read-only) as they are sent."""
        end = self.size if end is None else min(end, self.size)
        with open(self.path, "rb") as f:
            f.seek(start)
            yield from read_range(f, end - start, CHUNK_BYTES)


@dataclass(frozen=True)
class DicomScan:
    """What a folder holds: usable files in serving order, refused ones with the reason."""

    folder: str
    usable: tuple[FileSeries, ...]
    refused: tuple[tuple[str, str], ...]  # (relative path, reason)

    def refused_lines(self) -> list[str]:
        return [f"{path}: {reason}" for path, reason in self.refused]

    def require_usable(self) -> tuple[FileSeries, ...]:
        """The usable files; :class:`NoUsableDicom` (listing every refusal) when there is none."""
        if not self.usable:
            listed = "; ".join(self.refused_lines()) or "the folder holds no file"
            raise NoUsableDicom(f"no usable DICOM file in {self.folder}: {listed}")
        return self.usable


# ---------------------------------------------------------------- scanning


def _listing(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """(relative POSIX path, size, mtime ns) of every regular file, hidden ones left out, sorted by path."""
    out = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            path = Path(root, name)
            try:
                st = path.stat()
            except OSError:
                continue
            if path.is_file():
                out.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def scan_dicom_dir(folder: str | os.PathLike[str]) -> DicomScan:
    """Scan ``folder`` (recursively): usable files sorted by relative path, and refused ones.

    Cached while no file's path, size or modification time changes, so every
    world resolved from one spec scans once.
    """
    root = Path(folder).resolve()
    if not root.is_dir():
        raise NoUsableDicom(f"{folder} is not a folder")
    return _scan(str(root), _listing(root))


@functools.lru_cache(maxsize=8)
def _scan(folder: str, listing: tuple[tuple[str, int, int], ...]) -> DicomScan:
    usable, refused = [], []
    for relative, _size, _mtime in listing:
        try:
            usable.append(read_user_file(Path(folder, relative), relative))
        except Refused as exc:
            refused.append((relative, str(exc)))
        except OSError as exc:
            refused.append((relative, f"cannot be read: {exc.strerror or exc}"))
    return DicomScan(folder, tuple(usable), tuple(refused))


def report_scan(scan: DicomScan, prog: str, out: TextIO | None = None) -> bool:
    """Print the refused files (and a summary) to ``out`` (stderr); False when none is usable."""
    out = out or sys.stderr
    for line in scan.refused_lines():
        print(f"{prog}: refused {line}", file=out)
    if not scan.usable:
        print(f"{prog}: no usable DICOM file in {scan.folder} (--dicom-dir)", file=out)
        return False
    print(f"{prog}: serving {len(scan.usable)} DICOM file(s) from {scan.folder}"
          + (f", {len(scan.refused)} refused" if scan.refused else ""), file=out, flush=True)
    return True


# ---------------------------------------------------------------- one file


def read_user_file(path: str | os.PathLike[str], relative: str | None = None) -> FileSeries:
    """The series of one file, from its header; :class:`Refused` with the reason when unusable."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path).resolve()
    relative = relative or path.name
    with open(path, "rb") as f:  # read-only, always
        try:
            ds = pydicom.dcmread(f, defer_size=DEFER_BYTES)
        except InvalidDicomError:
            raise Refused("not a DICOM Part 10 file (no 'DICM' after the preamble)") from None
        except Exception as exc:  # any parse failure is a reason to give, not a crash
            raise Refused(f"not readable as DICOM: {exc}") from None
        try:
            series = _series_of(ds, path, relative)
        except Refused:
            raise
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise Refused(f"a layout lbmock cannot read: {type(exc).__name__}: {exc}") from None
        f.seek(0)
        digest = hashlib.sha256()
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(block)
        size = f.tell()
    return _replace_file(series, size, digest.hexdigest())


def _replace_file(series: FileSeries, size: int, sha256: str) -> FileSeries:
    from dataclasses import replace

    return replace(series, size=size, sha256=sha256, noise_seed=int(sha256[:8], 16))


def _floats(value: Any, count: int, what: str) -> tuple[float, ...]:
    if value is None:
        raise Refused(f"no usable geometry: no {what}")
    values = list(value) if not isinstance(value, (str, bytes)) and hasattr(value, "__iter__") else [value]
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise Refused(f"no usable geometry: {what} is not numbers ({value!r})") from None
    if len(out) != count or not all(math.isfinite(v) for v in out):
        raise Refused(f"no usable geometry: {what} needs {count} finite numbers, has {list(out)}")
    return out


def _item(ds: Any, frame: int, sequence: str) -> Any | None:
    """The functional group macro ``sequence`` of ``frame`` (0-based): per-frame first, else shared."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        seq = ds.get(groups)
        if seq is not None and len(seq) > index:
            inner = seq[index].get(sequence)
            if inner is not None and len(inner):
                return inner[0]
    return None


def _first(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    if not isinstance(value, (str, bytes)) and hasattr(value, "__iter__"):
        value = next(iter(value))
    return float(value)


def _epoch_ms(ds: Any) -> int:
    """When the file says it was acquired, as epoch ms read as UTC (0: it states no date)."""
    stamp = str(ds.get("AcquisitionDateTime") or "")  # the enhanced IODs' own (DT: YYYYMMDDHHMMSS...)
    day = stamp[:8] or str(ds.get("AcquisitionDate") or ds.get("StudyDate") or ds.get("SeriesDate") or "")
    clock = stamp[8:14] or str(ds.get("AcquisitionTime") or ds.get("StudyTime") or ds.get("SeriesTime") or "000000")
    try:
        when = datetime.strptime(day[:8] + (clock.split(".")[0] + "000000")[:6], "%Y%m%d%H%M%S")
    except ValueError:
        return 0
    return int(when.replace(tzinfo=timezone.utc).timestamp()) * 1000


def _check_orientation(orientation: tuple[float, ...]) -> None:
    r, c = np.array(orientation[:3]), np.array(orientation[3:])
    if (abs(np.linalg.norm(r) - 1) > UNIT_TOLERANCE or abs(np.linalg.norm(c) - 1) > UNIT_TOLERANCE
            or abs(float(r @ c)) > UNIT_TOLERANCE):
        raise Refused(f"no usable geometry: ImageOrientationPatient {list(orientation)} is not two orthogonal "
                      f"unit vectors")


def _check_pixels(ds: Any, rows: int, cols: int, frames: int) -> None:
    if not any(tag in ds for tag in PIXEL_DATA_TAGS):
        raise Refused("no pixel data (no Pixel Data element)")
    if rows < 1 or cols < 1 or frames < 1:
        raise Refused(f"a layout lbmock cannot read: {rows} rows, {cols} columns, {frames} frames")
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise Refused(f"a layout lbmock cannot read: SamplesPerPixel {samples} (labelled volumes have one "
                      f"sample a pixel)")
    if 0x7FE00010 not in ds:
        return
    element = ds.get_item(0x7FE00010, keep_deferred=True)
    length = getattr(element, "length", None)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if length in (None, UNDEFINED_LENGTH) or syntax is None or syntax.is_compressed:
        return  # encapsulated frames: their sizes are the codec's
    bits = int(ds.get("BitsAllocated", 16) or 16)
    needed = (rows * cols * frames * bits + 7) // 8
    if length < needed:
        raise Refused(f"a layout lbmock cannot read: Pixel Data holds {length} bytes, {rows} x {cols} x {frames} "
                      f"pixels of {bits} bits need {needed}")


def _series_of(ds: Any, path: Path, relative: str) -> FileSeries:
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = int(ds.get("NumberOfFrames") or 1)
    _check_pixels(ds, rows, cols, frames)
    functional = "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds
    if functional:
        orientation, spacing, positions, step, thickness = _enhanced_geometry(ds, frames)
    else:
        orientation, spacing, positions, step, thickness = _classic_geometry(ds, frames)
    g = SeriesGeometry(orientation[:3], orientation[3:], spacing[0], spacing[1], step or thickness,  # type: ignore[arg-type]
                       positions[0])
    modality = str(ds.get("Modality") or "OT")
    transform = _item(ds, 0, "PixelValueTransformationSequence") if functional else None
    voi = _item(ds, 0, "FrameVOILUTSequence") if functional else None
    source = transform if transform is not None else ds
    window_source = voi if voi is not None else ds
    center_default, width_default = DEFAULT_WINDOWS.get(modality, OTHER_WINDOW)
    return FileSeries(
        volume=Volume(rows=rows, cols=cols, slices=frames), modality=modality,  # type: ignore[arg-type]
        patient_id=str(ds.get("PatientID") or ""), patient_name=str(ds.get("PatientName") or ""),
        study_uid=str(ds.get("StudyInstanceUID") or ""), series_uid=str(ds.get("SeriesInstanceUID") or ""),
        sop_uid=str(ds.get("SOPInstanceUID") or ""),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID") or ""),
        acquired_at=_epoch_ms(ds), geometry=g,
        rescale_slope=_first(source.get("RescaleSlope"), 1.0),
        rescale_intercept=_first(source.get("RescaleIntercept"), 0.0),
        window_center=_first(window_source.get("WindowCenter"), center_default),
        window_width=_first(window_source.get("WindowWidth"), width_default),
        noise_seed=0, path=str(path), relative_path=relative, size=0, sha256="",
        # MONOCHROME1 (low values bright): previews invert after windowing, as a viewer does
        photometric_interpretation="MONOCHROME1" if ds.get("PhotometricInterpretation") == "MONOCHROME1"
        else "MONOCHROME2",
        tag_orientation=orientation, tag_spacing=spacing, tag_positions=positions,  # type: ignore[arg-type]
        tag_step=step if step is not None else thickness,
        tag_slice_thickness=_stated_thickness(ds, functional),
        tag_acquired_at=_epoch_ms(ds) or None,
    )


def _stated_thickness(ds: Any, functional: bool) -> float | None:
    """The SliceThickness the file states: frame 1's pixel measures in an enhanced file, else its own."""
    measures = _item(ds, 0, "PixelMeasuresSequence") if functional else ds
    value = _first(measures.get("SliceThickness"), 0.0) if measures is not None else 0.0
    return abs(value) or None


Geometry = tuple[tuple[float, ...], tuple[float, float], tuple[Vector, ...], float | None, float]


def _enhanced_geometry(ds: Any, frames: int) -> Geometry:
    """Orientation, spacing, frame positions (first two), step between them and thickness, from the
    functional groups; every frame checked to lie on one evenly spaced line along the normal."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if frames > 1 and (per_frame is None or len(per_frame) != frames):
        raise Refused(f"a layout lbmock cannot read: {frames} frames but "
                      f"{0 if per_frame is None else len(per_frame)} per-frame functional groups")
    orientation_item, measures = _item(ds, 0, "PlaneOrientationSequence"), _item(ds, 0, "PixelMeasuresSequence")
    orientation = _floats(orientation_item and orientation_item.get("ImageOrientationPatient"), 6,
                          "ImageOrientationPatient (PlaneOrientationSequence)")
    _check_orientation(orientation)
    spacing = _floats(measures and measures.get("PixelSpacing"), 2, "PixelSpacing (PixelMeasuresSequence)")
    if min(spacing) <= 0:
        raise Refused(f"no usable geometry: PixelSpacing {list(spacing)} is not positive")
    thickness = _first(measures.get("SliceThickness"), 0.0) or _first(measures.get("SpacingBetweenSlices"), 1.0)
    positions = []
    for f in range(frames):
        if _floats(_item(ds, f, "PlaneOrientationSequence").get("ImageOrientationPatient"), 6,  # type: ignore[union-attr]
                   "ImageOrientationPatient") != orientation:
            raise Refused(f"no usable geometry: frame {f + 1}'s orientation differs from frame 1's")
        item = _item(ds, f, "PlanePositionSequence")
        positions.append(_floats(item and item.get("ImagePositionPatient"), 3,
                                 f"ImagePositionPatient of frame {f + 1} (PlanePositionSequence)"))
    step = _check_line(orientation, positions) if frames > 1 else None
    return orientation, spacing, tuple(positions[:2]), step, abs(thickness) or 1.0  # type: ignore[return-value]


def _check_line(orientation: Sequence[float], positions: Sequence[Sequence[float]]) -> float:
    """The step along the slice normal between frames; Refused unless every frame is on one evenly
    spaced line along the normal (lbmock's grids never shear)."""
    normal = np.cross(orientation[:3], orientation[3:6])
    p = np.asarray(positions, dtype=np.float64)
    offsets = p - p[0]
    step = float(offsets[1] @ normal)
    if abs(step) < 1e-6:
        raise Refused("no usable geometry: frames 1 and 2 are at the same position")
    tolerance = 1e-3 * max(1.0, abs(step))
    along = offsets @ normal
    off_normal = np.linalg.norm(offsets - np.outer(along, normal), axis=1)
    if off_normal.max() > tolerance:
        raise Refused("no usable geometry: frames step off the slice normal (gantry tilt or shear), "
                      f"{off_normal.max():.4g} mm at most")
    uneven = np.abs(along - step * np.arange(len(p)))
    if uneven.max() > tolerance:
        raise Refused(f"no usable geometry: frames are not evenly spaced along the normal "
                      f"(frame {int(uneven.argmax()) + 1} is {uneven.max():.4g} mm off)")
    return step


def _classic_geometry(ds: Any, frames: int) -> Geometry:
    orientation = _floats(ds.get("ImageOrientationPatient"), 6, "ImageOrientationPatient")
    _check_orientation(orientation)
    position = _floats(ds.get("ImagePositionPatient"), 3, "ImagePositionPatient")
    spacing = _floats(ds.get("PixelSpacing"), 2, "PixelSpacing")
    if min(spacing) <= 0:
        raise Refused(f"no usable geometry: PixelSpacing {list(spacing)} is not positive")
    between, thickness = ds.get("SpacingBetweenSlices"), ds.get("SliceThickness")
    if frames > 1:  # one position for all frames: they step along the normal by SpacingBetweenSlices
        step = _first(between, 0.0) or _first(thickness, 0.0)
        if not step:
            raise Refused("no usable geometry: a multi-frame image with one ImagePositionPatient and neither "
                          "SpacingBetweenSlices nor SliceThickness")
        return orientation, spacing, (position,), step, abs(step)  # type: ignore[return-value]
    one = abs(_first(thickness, 0.0)) or abs(_first(between, 0.0)) or 1.0
    return orientation, spacing, (position,), None, one  # type: ignore[return-value]
