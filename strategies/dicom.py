"""Strategies for the DICOM series behind a data row: identity, geometry, rescale, window.

``dicom_geometries()`` and ``dicom_series()`` work on their own under
``@given``; data rows draw their series last (:func:`draw_dicom_series`), so
adding it changed no earlier draw.  Without ``variants`` the strategies draw
any mix of the hostile variants (shrinking towards none: plain axial);
with ``variants`` every draw shows exactly those, which is what a served
world's ``--dicom-variant`` means.

Every number is a short decimal (thousandths of a mm; cosines from
Pythagorean triples with two decimals, exactly orthonormal), so a Part 10
file carries the world's values exactly.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import strategies as st

from lbmock import medical
from lbmock.dicom.series import (
    ANISOTROPIC,
    BITS_STORED_12,
    DEFLATED,
    EXTENDED_OFFSET_TABLE,
    FEET_FIRST,
    GANTRY_TILT,
    J2K_MIN_SIDE,
    JPEG_2000_LOSSLESS,
    MISSING_SLICE,
    MONOCHROME1,
    MR_RESCALE,
    OBLIQUE,
    ODD_SIZES,
    OFFSET_ORIGIN,
    PIXEL_PADDING,
    PRONE,
    REVERSED_SLICES,
    SHUFFLED_FRAMES,
    SIGNED_PIXELS,
    THICKNESS_NOT_SPACING,
    TRANSFER_SYNTAXES,
    VARIANTS,
    DicomSeries,
    SeriesGeometry,
    Vector,
    check_variants,
    patient_position,
    transfer_syntax,
    uids_from,
)
from lbmock.strategies.annotations import draw_volume
from lbmock.strategies.choices import Choices
from lbmock.world import Dataset, Volume
from lbmock.world_spec import VolumeSpec

DAY_MS = 24 * 3600 * 1000
# (cos, sin) pairs of Pythagorean triples with finite two-decimal values: 3-4-5 and 7-24-25.
ROTATIONS = ((Decimal("0.6"), Decimal("0.8")), (Decimal("0.8"), Decimal("0.6")),
             (Decimal("0.28"), Decimal("0.96")), (Decimal("0.96"), Decimal("0.28")))
CT_WINDOWS = ((40.0, 400.0), (50.0, 350.0), (60.0, 600.0), (300.0, 1500.0))  # HU: soft tissue .. bone
MR_WINDOWS = ((600.0, 1200.0), (700.0, 1600.0), (800.0, 2000.0))
MR_SLOPES = (0.5, 0.25, 2.0, 1.5)
MR_INTERCEPTS = (-100.0, -12.5, -7.25, -250.0)  # <= 0: air (0) stays a non-negative stored value
CT_INTERCEPT = -1024.0  # stored 0 is -1024 HU: air (-1000 HU) stays non-negative, unsigned
# Signed pixels: air and tissue are stored negative.  CT stores HU as they are (intercept 0), except in
# 12 bits, whose -2048..2047 cannot hold the phantom's -1000..2500 HU: there stored = HU - 1024.
SIGNED_CT_INTERCEPT, SIGNED_CT_INTERCEPT_12 = 0.0, 1024.0
SIGNED_MR_INTERCEPT = 1500.0  # MR 0..3500 -> stored -1500..2000 at slope 1: fits 12 bits too
MR_SLOPES_12 = (2.0, 1.5, 1.25)  # >= 1.25: MR's 0..3500 fits 12 stored bits whatever the intercept
THICKNESS_FACTORS = (Decimal("0.5"), Decimal("0.75"), Decimal("1.5"), Decimal("2"), Decimal("2.5"))
# Patient positions as proper rotations of the head-first supine cosines (PS3.3 C.7.6.2.1.1: the
# patient axes stay L, P, S; the table's axes turn): feet first is half a turn about the patient's
# A-P axis, prone half a turn about the long axis.  Axial: HFS 1\0\0\0\1\0, FFS -1\0\0\0\1\0,
# HFP -1\0\0\0\-1\0, FFP 1\0\0\0\-1\0.
FEET_FIRST_TURN, PRONE_TURN = (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0)
# Gantry tilt: each slice moves along the column cosine by this times the step (tan of the tilt:
# 5.7, 14 and 26.6 degrees, either way; scanners tilt up to about 30)
TILTS = (0.1, 0.25, 0.5, -0.1, -0.25, -0.5)


def _slots(c: Choices, variants: frozenset[str], slices: int) -> tuple[int, ...] | None:
    """Each file frame's slot on the grid (see SeriesGeometry), or None for ``f - 1``."""
    slots = list(range(slices))
    if MISSING_SLICE in variants and slices >= 3:  # an inner slot left out (3 frames: one regular gap to tell it by)
        gone = c.integer(1, slices - 1)
        slots = [s if s < gone else s + 1 for s in slots]
    if SHUFFLED_FRAMES in variants and slices >= 3:  # interleaved acquisition: every other slice, then the rest
        start = c.integer(0, 1)
        ranks = [*range(start, slices, 2), *range(1 - start, slices, 2)]
        slots = [slots[r] for r in ranks]
    return tuple(slots) if slots != list(range(slices)) else None


def _thousandths(c: Choices, low: int, high: int, *, non_integer: bool = False) -> float:
    k = c.integer(low, high)
    if non_integer and k % 1000 == 0:
        k += 1
    return k / 1000  # the nearest float to k/1000: its repr is the short decimal


def _rotation(c: Choices) -> tuple[Vector, Vector]:
    """Row and column cosines of Rz(a) @ Rx(b): a doubly oblique axial orientation."""
    ca, sa = c.pick(ROTATIONS)
    cb, sb = c.pick(ROTATIONS)
    if c.boolean():
        sa = -sa
    if c.boolean():
        sb = -sb
    # Rz(a) = [[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]]; Rx(b) = [[1, 0, 0], [0, cb, -sb], [0, sb, cb]]
    r = (ca, sa, Decimal(0))                  # first column of Rz @ Rx
    col = (-sa * cb, ca * cb, sb)             # second column
    return (tuple(float(v) for v in r), tuple(float(v) for v in col))  # type: ignore[return-value]


# Axis-aligned, unit spacing, frame 1 at the origin: the geometry of every series without variants
# (one shared value: it is frozen, and most worlds ask for no variant).
PLAIN_GEOMETRY = SeriesGeometry((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), 1.0, 1.0, 1.0, (0.0, 0.0, 0.0))


def draw_series_geometry(c: Choices, variants: frozenset[str], ranges: VolumeSpec | None = None,
                         slices: int = 1) -> SeriesGeometry:
    spacing = ranges.spacing if ranges is not None else None
    if not variants and spacing is None:
        return PLAIN_GEOMETRY
    plain = PLAIN_GEOMETRY  # what each variant changes
    row_cosine, column_cosine, origin = plain.row_cosine, plain.column_cosine, plain.origin
    row_spacing, column_spacing, step = plain.row_spacing, plain.column_spacing, plain.slice_step
    if spacing is not None:  # a world file's range, in thousandths of a mm (exact decimal strings)
        low, high = round(spacing[0] * 1000), round(spacing[1] * 1000)
        row_spacing = column_spacing = _thousandths(c, low, high)
        step = _thousandths(c, low, high)
    if OBLIQUE in variants:
        row_cosine, column_cosine = _rotation(c)
    if ANISOTROPIC in variants:
        row_spacing = _thousandths(c, 300, 2000, non_integer=True)
        column_spacing = _thousandths(c, 300, 2000, non_integer=True)
        if column_spacing == row_spacing:
            column_spacing = round(row_spacing + 0.137, 3)
        step = _thousandths(c, 500, 6000, non_integer=True)
    if OFFSET_ORIGIN in variants:
        x, y, z = (_thousandths(c, -400_000, 400_000) for _ in range(3))
        origin = (x, y, z) if (x, y, z) != (0.0, 0.0, 0.0) else (0.5, y, z)
    if REVERSED_SLICES in variants:
        step = -step
    for variant, turn in ((FEET_FIRST, FEET_FIRST_TURN), (PRONE, PRONE_TURN)):
        if variant in variants:  # sign flips: exact; + 0.0 turns -0.0 into 0.0
            row_cosine = tuple(v * t + 0.0 for v, t in zip(row_cosine, turn, strict=True))  # type: ignore[assignment]
            column_cosine = tuple(v * t + 0.0 for v, t in zip(column_cosine, turn, strict=True))  # type: ignore[assignment]
    thickness = None
    if THICKNESS_NOT_SPACING in variants:  # thicker (overlapping) or thinner (gaps) than the spacing
        spacing_mm = Decimal(repr(abs(step)))
        drawn = (spacing_mm * c.pick(THICKNESS_FACTORS)).quantize(Decimal("0.001"))
        thickness = float(drawn if drawn > 0 and drawn != spacing_mm else spacing_mm + Decimal("0.5"))
    slots = _slots(c, variants, slices)
    shear = c.pick(TILTS) if GANTRY_TILT in variants and slices >= 2 else None
    return SeriesGeometry(row_cosine, column_cosine, row_spacing, column_spacing, step, origin, thickness=thickness,
                          slots=slots, shear=shear)


def dataset_modality(dataset: Dataset, ranges: VolumeSpec | None = None) -> str | None:
    """The modality a dataset's rows take: a world file's, else what its name announces (None:
    drawn per row), kept only if the world file's modalities allow it."""
    modality = dataset.modality or medical.modality_of(dataset.name)
    allowed = ranges.modalities if ranges is not None and ranges.modalities else ("CT", "MR")
    if modality in allowed:
        return modality
    return allowed[0] if len(allowed) == 1 else None  # None: drawn per row


def draw_acquisition_time(c: Choices, before_ms: int) -> int:
    """When a series was acquired (epoch ms, whole seconds): up to 30 days before ``before_ms``."""
    return (before_ms - c.integer(0, 30 * DAY_MS)) // 1000 * 1000


def draw_dicom_series(c: Choices, volume: Volume, variants: frozenset[str], before_ms: int,
                      modality: str | None = None, ranges: VolumeSpec | None = None,
                      acquired_at: int | None = None) -> DicomSeries:
    """The series of a data row created at ``before_ms``: acquired up to 30 days earlier (at
    ``acquired_at`` when the row drew it already, for its metadata).

    ``modality`` is the one the row's dataset announces (None: drawn); ``mr-rescale`` makes
    every series MR, whatever its dataset, since that variant is MR-only.
    """
    geometry = draw_series_geometry(c, variants, ranges, volume.slices)
    if MR_RESCALE in variants:
        modality = "MR"
    else:
        drawn = "MR" if c.boolean() else "CT"  # drawn even when given, as before datasets had a say
        modality = modality or drawn
    signed, bits = SIGNED_PIXELS in variants, 12 if BITS_STORED_12 in variants else 16
    if modality == "CT":
        slope, intercept = 1.0, CT_INTERCEPT
        if signed:
            intercept = SIGNED_CT_INTERCEPT_12 if bits == 12 else SIGNED_CT_INTERCEPT
        center, width = c.pick(CT_WINDOWS)
    else:
        slopes = MR_SLOPES_12 if bits == 12 else MR_SLOPES
        slope, intercept = ((c.pick(slopes), c.pick(MR_INTERCEPTS)) if MR_RESCALE in variants else (1.0, 0.0))
        if signed:
            intercept = SIGNED_MR_INTERCEPT
        center, width = c.pick(MR_WINDOWS)
    salt = c.integer(0, 2**48)
    acquired = acquired_at if acquired_at is not None else draw_acquisition_time(c, before_ms)
    study, series, sop, frame_of_reference = uids_from(salt, "study", "series", "sop", "frame-of-reference")
    return DicomSeries(
        volume=volume, modality=modality,
        patient_id=f"LBMOCK-{salt:012X}", patient_name=f"Lbmock^Phantom {salt % 10_000:04d}",
        study_uid=study, series_uid=series, sop_uid=sop, frame_of_reference_uid=frame_of_reference,
        acquired_at=acquired, geometry=geometry, rescale_slope=slope, rescale_intercept=intercept,
        window_center=center, window_width=width, noise_seed=c.integer(0, 2**32 - 1),
        pixel_representation=int(signed), bits_stored=bits, pixel_padding=PIXEL_PADDING in variants,
        patient_position=patient_position(variants), transfer_syntax=transfer_syntax(variants),
        extended_offset_table=EXTENDED_OFFSET_TABLE in variants,
        photometric_interpretation="MONOCHROME1" if MONOCHROME1 in variants else "MONOCHROME2",
    )


def encodable(volume: Volume, variants: frozenset[str]) -> Volume:
    """``volume`` with sides raised to what the asked transfer syntax's encoder takes: JPEG 2000's
    (pylibjpeg-openjpeg) encodes no frame under 32 pixels a side (33 keeps odd-sizes odd)."""
    if JPEG_2000_LOSSLESS not in variants or min(volume.rows, volume.cols) >= J2K_MIN_SIDE:
        return volume
    side = J2K_MIN_SIDE + (ODD_SIZES in variants)
    return replace(volume, rows=max(volume.rows, side), cols=max(volume.cols, side))


def draw_variants(c: Choices, variants: object) -> frozenset[str]:
    if variants is None:  # any mix (one transfer syntax at most); each off shrinks towards plain
        drawn = [v for v in VARIANTS if c.boolean()]
        syntaxes = [v for v in drawn if v in TRANSFER_SYNTAXES]
        kept = frozenset(v for v in drawn if v not in syntaxes[1:])
        if DEFLATED in kept:  # deflated frames are not encapsulated
            kept -= {EXTENDED_OFFSET_TABLE}
        return kept - {SIGNED_PIXELS} if MONOCHROME1 in kept else kept  # Enhanced XA: unsigned pixels
    return check_variants(variants)


@st.composite
def dicom_geometries(draw: st.DrawFn, variants: object = None, slices: int = 8) -> SeriesGeometry:
    """Orientation, spacing and frame positions of a series of ``slices`` frames.

    ``variants=None`` draws any mix of the hostile variants; a set of names
    (see :data:`lbmock.dicom.series.VARIANTS`) gives exactly those.
    """
    c = Choices(draw)
    return draw_series_geometry(c, draw_variants(c, variants), slices=slices)


@st.composite
def dicom_series(draw: st.DrawFn, volume: Volume | None = None, variants: object = None) -> DicomSeries:
    """A whole DICOM series: identity (synthetic, no PHI), geometry, rescale, window.

    ``volume`` fixes the size (else one is drawn as data rows draw it).
    """
    c = Choices(draw)
    chosen = draw_variants(c, variants)
    volume = volume or encodable(draw_volume(c, odd_sizes=ODD_SIZES in chosen), chosen)
    return draw_dicom_series(c, volume, chosen, 1_700_000_000_000)

