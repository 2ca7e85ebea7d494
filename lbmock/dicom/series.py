"""A data row's DICOM series: the model (:class:`DicomSeries`, part of the world model in
:mod:`lbmock.world`), the hostile variants a world can ask for, and deterministic UIDs.
"""

from __future__ import annotations

import hashlib

from lbmock.world import DicomSeries, Modality, SeriesGeometry, Vector

__all__ = ["MIME_TYPE", "VARIANTS", "DicomSeries", "Modality", "SeriesGeometry", "Vector",
           "check_variants", "uid_from", "uids_from"]

MIME_TYPE = "application/dicom"  # the body behind row_data, and the media type exports report

# Hostile variants, opt-in per world: each one changes every row's series.
REVERSED_SLICES = "reversed-slices"  # positions run against frame order
ANISOTROPIC = "anisotropic"          # non-integer spacing, different along rows, columns and slices
OFFSET_ORIGIN = "offset-origin"      # frame 1 is not at the patient origin
MR_RESCALE = "mr-rescale"            # MR with a non-trivial rescale slope and intercept
OBLIQUE = "oblique"                  # orientation is not axis-aligned
# pixel encodings
SIGNED_PIXELS = "signed-pixels"      # PixelRepresentation 1, air and tissue stored as negative values
BITS_STORED_12 = "bits-stored-12"    # BitsStored 12, HighBit 11 in 16-bit words
PIXEL_PADDING = "pixel-padding"      # PixelPaddingValue outside the scanner's circular field of view
ODD_SIZES = "odd-sizes"              # Rows odd, Columns not a power of two
# patient positions: the two combine (FFP)
FEET_FIRST = "feet-first"            # FFS: cosines rotated half a turn about the patient's A-P axis
PRONE = "prone"                      # HFP: cosines rotated half a turn about the patient's long axis
# irregular grids
THICKNESS_NOT_SPACING = "thickness-not-spacing"  # SliceThickness differs from SpacingBetweenSlices
SHUFFLED_FRAMES = "shuffled-frames"  # frames stored interleaved, out of spatial order (3 frames or more)
MISSING_SLICE = "missing-slice"      # one slice of the grid absent: a double gap (3 frames or more)
GANTRY_TILT = "gantry-tilt"          # slices step along a tilted axis: a sheared grid
# transfer syntaxes: one at a time (a file has one)
RLE_LOSSLESS = "rle-lossless"        # RLE Lossless, encapsulated frames (pydicom's own encoder)
DEFLATED = "deflated"                # Deflated Explicit VR Little Endian: the whole dataset deflated
JPEG_LS_LOSSLESS = "jpeg-ls-lossless"  # JPEG-LS Lossless, encapsulated (pydicom's pyjpegls plugin: extra jpegls);
#                                       frames of 64 pixels or more (pyjpegls fails on ~20 and fewer)
JPEG_2000_LOSSLESS = "jpeg2000-lossless"  # JPEG 2000 Lossless Only, encapsulated (pydicom's pylibjpeg plugin
#                                           with pylibjpeg-openjpeg: extra jpeg2000)
J2K_MIN_SIDE = 32  # pylibjpeg-openjpeg's encoder (6 resolution levels) fails on a frame under 32 pixels a side
JPEG_LOSSLESS = "jpeg-lossless"      # JPEG Lossless Process 14 SV1, encapsulated (imagecodecs: extra jpeglossless)
# Pixel Data encapsulated with an Extended Offset Table (PS3.5 A.4, PS3.3 C.7.6.3.1.8) and an empty
# Basic Offset Table: in the asked encapsulated syntax, RLE Lossless when none is asked
EXTENDED_OFFSET_TABLE = "extended-offset-table"
# PhotometricInterpretation MONOCHROME1: stored values mirrored so that the image displays as before;
# Enhanced CT and MR allow only MONOCHROME2, so the file is an Enhanced XA image (docs/reference/dicom.md)
MONOCHROME1 = "monochrome1"
VARIANTS: tuple[str, ...] = (REVERSED_SLICES, ANISOTROPIC, OFFSET_ORIGIN, MR_RESCALE, OBLIQUE,
                             SIGNED_PIXELS, BITS_STORED_12, PIXEL_PADDING, ODD_SIZES, FEET_FIRST, PRONE,
                             THICKNESS_NOT_SPACING, SHUFFLED_FRAMES, MISSING_SLICE, GANTRY_TILT,
                             RLE_LOSSLESS, DEFLATED, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, JPEG_LOSSLESS,
                             EXTENDED_OFFSET_TABLE, MONOCHROME1)
TRANSFER_SYNTAXES: dict[str, str] = {  # variant -> Transfer Syntax UID (PS3.5 A.4.2, A.5)
    RLE_LOSSLESS: "1.2.840.10008.1.2.5",
    DEFLATED: "1.2.840.10008.1.2.1.99",
    JPEG_LS_LOSSLESS: "1.2.840.10008.1.2.4.80",
    JPEG_2000_LOSSLESS: "1.2.840.10008.1.2.4.90",
    JPEG_LOSSLESS: "1.2.840.10008.1.2.4.70",
}
# The encoder of each encapsulated syntax and what to install for it: pydicom's own RLE, pydicom's
# encoder plugins for JPEG-LS and JPEG 2000; pydicom has no JPEG Lossless encoder: imagecodecs'
# libjpeg-turbo encodes it ("imagecodecs").
ENCODER_PLUGINS: dict[str, tuple[str, str]] = {
    "1.2.840.10008.1.2.5": ("pydicom", "pydicom"),
    "1.2.840.10008.1.2.4.80": ("pyjpegls", "pip install 'lbmock[jpegls]' (pyjpegls)"),
    "1.2.840.10008.1.2.4.90": ("pylibjpeg", "pip install 'lbmock[jpeg2000]' (pylibjpeg, pylibjpeg-openjpeg)"),
    "1.2.840.10008.1.2.4.70": ("imagecodecs", "pip install 'lbmock[jpeglossless]' (imagecodecs)"),
}
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"  # the default
# Variants whose frame positions are not one evenly spaced line along the normal in file order:
# readers that assume one (highdicom's volume, nibabel's wrapper) do not read them right.
IRREGULAR_GRIDS = frozenset({SHUFFLED_FRAMES, MISSING_SLICE, GANTRY_TILT})


def patient_position(variants: frozenset[str]) -> str:
    """PatientPosition (PS3.3 C.7.3.1.1.2) of a series drawn with ``variants``: HFS unless asked."""
    return ("FF" if FEET_FIRST in variants else "HF") + ("P" if PRONE in variants else "S")


def check_variants(names: object) -> frozenset[str]:
    """``names`` as a frozenset of known variant names; ValueError naming the unknown ones."""
    chosen = frozenset(names or ())
    unknown = sorted(chosen - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown DICOM variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    syntaxes = [v for v in VARIANTS if v in chosen and v in TRANSFER_SYNTAXES]
    if len(syntaxes) > 1:
        raise ValueError(f"{' and '.join(syntaxes)} are transfer syntaxes: a file has one, choose one of them")
    if MONOCHROME1 in chosen and SIGNED_PIXELS in chosen:  # Enhanced XA's Pixel Representation is 0 (unsigned)
        raise ValueError(f"{MONOCHROME1} makes an Enhanced XA image, whose pixels are unsigned: "
                         f"choose {MONOCHROME1} or {SIGNED_PIXELS}")
    if EXTENDED_OFFSET_TABLE in chosen and DEFLATED in chosen:
        raise ValueError(f"{EXTENDED_OFFSET_TABLE} needs encapsulated Pixel Data; {DEFLATED} is not: "
                         f"choose one of them")
    uid = transfer_syntax(chosen)
    if uid in ENCODER_PLUGINS:
        _check_encoder(syntaxes[0] if syntaxes else EXTENDED_OFFSET_TABLE, uid)
    return chosen


def _check_encoder(variant: str, uid: str) -> None:
    """ValueError naming what to install when the encoder for ``uid`` is missing."""
    plugin, install = ENCODER_PLUGINS[uid]
    if plugin == "imagecodecs":
        import importlib.util

        if importlib.util.find_spec("imagecodecs") is None:
            raise ValueError(f"{variant} needs the imagecodecs package's JPEG encoder: {install}")
        return
    from pydicom.pixels.encoders.base import get_encoder  # late: only worlds that ask for one pay for it

    if plugin not in get_encoder(uid).available_plugins:
        raise ValueError(f"{variant} needs pydicom's {plugin} encoder plugin: {install}")


def transfer_syntax(variants: frozenset[str]) -> str:
    """The Transfer Syntax UID of a series drawn with ``variants``."""
    asked = next((TRANSFER_SYNTAXES[v] for v in VARIANTS if v in variants and v in TRANSFER_SYNTAXES), None)
    if asked is None and EXTENDED_OFFSET_TABLE in variants:
        return TRANSFER_SYNTAXES[RLE_LOSSLESS]  # an Extended Offset Table needs encapsulated frames
    return asked or EXPLICIT_VR_LITTLE_ENDIAN


# A version-4 UUID, as B.2 asks: version nibble 4 (high nibble of byte 6), variant bits 10 (top
# of byte 8); bytes count from the most significant of the 128-bit number.
_UUID4_KEEP = ~((0xF0 << 72) | (0xC0 << 56)) & (2**128 - 1)
_UUID4_SET = (0x40 << 72) | (0x80 << 56)


def uids_from(salt: int, *purposes: str) -> tuple[str, ...]:
    """Deterministic ``2.25.<decimal UUID>`` UIDs (PS3.5 B.2: no registered root needed), one per
    purpose: the hash of ``"<salt>:<purpose>"``, its salt part hashed once for all of them."""
    salted = hashlib.blake2b(f"{salt}:".encode(), digest_size=16)
    uids = []
    for purpose in purposes:
        h = salted.copy()
        h.update(purpose.encode())
        uids.append(f"2.25.{int.from_bytes(h.digest(), 'big') & _UUID4_KEEP | _UUID4_SET}")
    return tuple(uids)


def uid_from(salt: int, purpose: str) -> str:
    """The UID of ``salt`` for one purpose (see :func:`uids_from`)."""
    return uids_from(salt, purpose)[0]
