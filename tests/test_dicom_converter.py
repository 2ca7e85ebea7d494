"""The example converter (examples/dicom_export_converter.py) against the oracle, over drawn worlds.

The converter plays the user: export row -> DICOM download (pydicom) + mask
PNGs -> label map with the affine from the DICOM tags -> NIfTI (nibabel) and
DICOM-SEG (highdicom).  For tiny worlds with every mix of hostile variants:

* pydicom reads every served file;
* nibabel's oracle affine equals the one derived from the DICOM tags;
* the converter's NIfTI equals the oracle (same affine, same voxels, and the
  same again after nibabel's reorientation to canonical axes);
* the DICOM-SEG decodes back (highdicom) to the oracle's voxels;
* every polyline vertex the export lists (key frames and interpolated ones),
  placed with the affine from the tags, is where the sidecar says.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import highdicom as hd
import mocks
import nibabel as nib
import numpy as np
import pydicom
import pytest
import requests
from dicom_worlds import small_dicom_worlds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbmock.dicom import geometry as G
from lbmock.dicom.series import TRANSFER_SYNTAXES, VARIANTS
from lbmock.oracle import write_row_oracle
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams, render_export_v2_row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import dicom_export_converter as converter


def affine_tolerance(affine: np.ndarray) -> float:
    return 2e-6 * max(1.0, float(np.abs(affine).max()))  # NIfTI stores the affine as float32


SETTINGS = settings(deadline=None, database=None, report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


# Frames of at least 8 pixels: highdicom 0.28.2 pads each BINARY frame of fewer than 8 pixels to a
# byte (image.py tests `Rows * Columns // 8 != 0` where `% 8` is meant), which no reader decodes.
@settings(SETTINGS, max_examples=40)
@given(small_dicom_worlds(min_frame_pixels=8))
def test_the_converter_reproduces_the_oracle_through_nifti_and_dicom_seg(tmp_path, world):
    """Any mix of the hostile variants (shrinking towards none)."""
    check_converter_against_oracle(tmp_path, world)


@pytest.mark.parametrize("variant", [*VARIANTS, "all"])
@settings(SETTINGS, max_examples=8)
@given(data=st.data())
def test_the_converter_reproduces_the_oracle_for_each_variant(tmp_path, variant, data):
    """Each hostile variant alone, and all of them at once, for certain."""
    # all: one transfer syntax (RLE Lossless, with an Extended Offset Table); monochrome1 (Enhanced XA,
    # unsigned) instead of signed-pixels
    chosen = set(VARIANTS) - set(TRANSFER_SYNTAXES) - {"signed-pixels"} | {"rle-lossless"} if variant == "all" else {
        variant}
    check_converter_against_oracle(tmp_path, data.draw(small_dicom_worlds(variants=chosen, min_frame_pixels=8)))


def check_converter_against_oracle(tmp_path, world):
    with mocks.intercepting(world) as lb:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {lb.api_key}"
        urls = lb.backend.signed_urls(Urls(), time.time() * 1000)  # row_data as an export links it
        for row in world:
            export_row = render_export_v2_row(world.project, row, ExportParams(interpolated_frames=True), urls)
            ds = converter.download_dicom(export_row, session)  # pydicom reads the served file
            assert (int(ds.Rows), int(ds.Columns), int(ds.NumberOfFrames)) == (
                row.volume.rows, row.volume.cols, row.volume.slices)
            assert converter.frame_grid(ds)[0].tolist() == list(G.grid_of_frames(row.series))  # the tags' grid
            for number, label in enumerate(row.labels):
                oracle = write_row_oracle(row, tmp_path / f"{row.id}-{number}.nii.gz", label.id, world)
                expected = nib.load(oracle.nifti)
                dicom = oracle.summary["dicom"]  # the sidecar names the file it belongs to
                assert (dicom["sop_instance_uid"], dicom["frame_of_reference_uid"], dicom["number_of_frames"]) == (
                    ds.SOPInstanceUID, ds.FrameOfReferenceUID, int(ds.NumberOfFrames))
                tags_affine = converter.dicom_affine_ras(ds)
                np.testing.assert_allclose(expected.affine, tags_affine, atol=affine_tolerance(tags_affine))

                labels = converter.label_map(export_row, world.project.id, ds, session, number)
                assert labels.feature_ids == [oracle.summary["labels"][str(n)]["feature_id"]
                                              for n in range(1, len(oracle.summary["labels"]) + 1)]
                out = tmp_path / f"{row.id}-{number}.conv.nii.gz"
                converter.to_nifti(labels, ds, out)
                got = nib.load(out)
                np.testing.assert_allclose(got.affine, expected.affine, atol=affine_tolerance(tags_affine))
                # a qform holds no shear (gantry tilt): both leave it unset then, both set it otherwise
                assert int(got.header["qform_code"]) == int(expected.header["qform_code"]) == (
                    0 if row.series.geometry.shear else 1)
                np.testing.assert_array_equal(np.asanyarray(got.dataobj), np.asanyarray(expected.dataobj))
                canon_got, canon_expected = nib.as_closest_canonical(got), nib.as_closest_canonical(expected)
                np.testing.assert_allclose(canon_got.affine, canon_expected.affine,
                                           atol=affine_tolerance(tags_affine))
                np.testing.assert_array_equal(np.asanyarray(canon_got.dataobj),
                                              np.asanyarray(canon_expected.dataobj))

                # every polyline vertex, key frame or interpolated, at the sidecar's patient coordinates
                lines = converter.polyline_points_lps(export_row, world.project.id, ds, number)
                listed = {p["feature_id"]: {f["frame"]: f["points_lps_mm"] for f in p["frames"]}
                          for p in oracle.summary["polylines"]}
                assert sorted(lines) == sorted(listed)
                for feature_id, frames in lines.items():
                    assert sorted(frames) == sorted(listed[feature_id])
                    for frame, points in frames.items():
                        np.testing.assert_allclose(points, listed[feature_id][frame],
                                                   atol=1e-6 * max(1.0, np.abs(points).max()))

                seg_path = tmp_path / f"{row.id}-{number}.seg.dcm"
                if not converter.to_dicom_seg(labels, ds, seg_path):
                    assert not np.asanyarray(expected.dataobj).any()
                    continue
                seg = hd.seg.segread(seg_path)
                frames = seg.get_pixels_by_source_frame(
                    source_sop_instance_uid=ds.SOPInstanceUID,
                    source_frame_numbers=list(range(1, row.volume.slices + 1)),
                    combine_segments=True, assert_missing_frames_are_empty=True)
                in_file_order = np.asanyarray(expected.dataobj)[:, :, labels.grid_k]  # the SEG's frames are the file's
                np.testing.assert_array_equal(frames.transpose(2, 1, 0), in_file_order)
                assert pydicom.dcmread(seg_path).Modality == "SEG"
