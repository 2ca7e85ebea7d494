"""A data row's DICOM series as plain, immutable data (no I/O, no numpy).

Identity (modality, synthetic patient, UIDs), geometry (orientation,
spacing, per-frame positions), rescale and window: everything a Part 10
header says about the volume.  The pixels are a function of this and the
row's labels (:mod:`lbmock.dicom.phantom`).

Numbers are stored as Python floats whose shortest ``repr`` is a short
decimal (``0.734``, ``-12.5``), so they are written to DICOM's decimal
strings exactly and every reader parses back the very same floats.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from lbmock.world import Volume

Modality = Literal["CT", "MR"]
Vector = tuple[float, float, float]

# Hostile variants, opt-in per world: each one changes every row's series.
REVERSED_SLICES = "reversed-slices"  # positions run against frame order
ANISOTROPIC = "anisotropic"          # non-integer spacing, different along rows, columns and slices
OFFSET_ORIGIN = "offset-origin"      # frame 1 is not at the patient origin
MR_RESCALE = "mr-rescale"            # MR with a non-trivial rescale slope and intercept
OBLIQUE = "oblique"                  # orientation is not axis-aligned
VARIANTS: tuple[str, ...] = (REVERSED_SLICES, ANISOTROPIC, OFFSET_ORIGIN, MR_RESCALE, OBLIQUE)


def check_variants(names: object) -> frozenset[str]:
    """``names`` as a frozenset of known variant names; ValueError naming the unknown ones."""
    chosen = frozenset(names or ())
    unknown = sorted(chosen - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown DICOM variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    return chosen


@dataclass(frozen=True, slots=True)
class SeriesGeometry:
    """Where the voxels are, in DICOM patient coordinates (LPS, millimetres).

    ``row_cosine`` is the direction of increasing column index (DICOM's
    ImageOrientationPatient[0:3]), ``column_cosine`` that of increasing row
    index ([3:6]).  ``row_spacing`` is the distance between rows and
    ``column_spacing`` between columns (PixelSpacing, in that order).
    Frame ``f`` (1-based, file order) is centred on
    ``origin + (f - 1) * slice_step * (row_cosine x column_cosine)``;
    ``slice_step`` is negative when positions run against frame order.
    """

    row_cosine: Vector
    column_cosine: Vector
    row_spacing: float
    column_spacing: float
    slice_step: float
    origin: Vector

    @property
    def slice_thickness(self) -> float:
        return abs(self.slice_step)


@dataclass(frozen=True, slots=True)
class DicomSeries:
    """One multi-frame DICOM image: the volume behind a data row."""

    volume: Volume
    modality: Modality
    patient_id: str
    patient_name: str
    study_uid: str
    series_uid: str
    sop_uid: str
    frame_of_reference_uid: str
    acquired_at: int  # epoch ms: study, series, acquisition and content date/time
    geometry: SeriesGeometry
    rescale_slope: float
    rescale_intercept: float
    window_center: float
    window_width: float
    noise_seed: int  # the phantom's noise, frame by frame

    @property
    def rescale_type(self) -> str:
        return "HU" if self.modality == "CT" else "US"  # US: unspecified units


def uid_from(salt: int, purpose: str) -> str:
    """A deterministic ``2.25.<decimal UUID>`` UID (PS3.5 B.2: no registered root needed)."""
    digest = bytearray(hashlib.blake2b(f"{salt}:{purpose}".encode(), digest_size=16).digest())
    digest[6] = (digest[6] & 0x0F) | 0x40  # a version-4 UUID, as B.2 asks
    digest[8] = (digest[8] & 0x3F) | 0x80
    return f"2.25.{int.from_bytes(digest, 'big')}"
