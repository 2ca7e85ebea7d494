"""The streaming NIfTI-1 writer, read back by nibabel."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lbmock.dicom.geometry import affine_ras
from lbmock.render.nifti import shears, write_nifti
from lbmock.strategies.dicom import dicom_series
from lbmock.world import Volume


@st.composite
def orthogonal_affines(draw: st.DrawFn) -> np.ndarray:
    """Index -> mm affines of DICOM grids: any rotation, spacings, a flipped slice axis, an origin."""
    q = draw(arrays(np.float64, 4, elements=st.floats(-1, 1))) + np.array([1e-3, 0, 0, 0])
    w, x, y, z = q / np.linalg.norm(q)
    rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    spacing = draw(arrays(np.float64, 3, elements=st.floats(0.1, 10)))
    sign = draw(st.sampled_from([1.0, -1.0]))
    affine = np.eye(4)
    affine[:3, :3] = rot * (spacing * np.array([1, 1, sign]))
    affine[:3, 3] = draw(arrays(np.float64, 3, elements=st.floats(-2000, 2000)))
    return affine


@settings(max_examples=40, deadline=None)
@given(orthogonal_affines(), st.integers(1, 6), st.integers(1, 5), st.integers(1, 4),
       st.sampled_from([np.uint8, np.uint16]), st.booleans(), st.data())
def test_nibabel_reads_back_voxels_affine_and_an_equal_qform(tmp_path_factory, affine, cols, rows, n, dtype,
                                                             gz, data):
    frames = [data.draw(arrays(dtype, (rows, cols))) for _ in range(n)]
    path = tmp_path_factory.mktemp("nii") / ("x.nii.gz" if gz else "x.nii")
    write_nifti(path, (cols, rows, n), np.dtype(dtype), affine, iter(frames))
    img = nib.load(path)
    assert img.shape == (cols, rows, n)
    assert img.get_data_dtype() == np.dtype(dtype)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), np.stack(frames, axis=-1).transpose(1, 0, 2))
    tol = 1e-6 * max(1.0, np.abs(affine).max())  # the header stores float32
    np.testing.assert_allclose(img.affine, affine, atol=tol)
    assert int(img.header["sform_code"]) == int(img.header["qform_code"]) == 1
    # A qform stores the quaternion's b, c, d in float32 and recomputes a = sqrt(1 - b² - c² - d²):
    # near a half turn (a -> 0) that loses digits, so an arbitrary rotation agrees to ~1e-4 only
    # (the grids lbmock draws agree to float32: test_the_worlds_grids_fit_the_qform).
    np.testing.assert_allclose(img.header.get_qform(), affine, atol=1e-3 * max(1.0, np.abs(affine[:3, :3]).max()))
    assert int(img.header["intent_code"]) == 1002  # NIFTI_INTENT_LABEL


def test_gzip_output_is_deterministic_and_a_sheared_grid_has_no_qform(tmp_path):
    affine = np.array([[1.0, 0.3, 0, 5], [0, 1, 0, 6], [0, 0, 2, 7], [0, 0, 0, 1]])
    assert shears(affine)
    frames = [np.full((2, 3), k, np.uint8) for k in range(4)]
    a, b = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    write_nifti(a, (3, 2, 4), np.dtype(np.uint8), affine, iter(frames))
    write_nifti(b, (3, 2, 4), np.dtype(np.uint8), affine, iter(frames))
    assert a.read_bytes() == b.read_bytes()
    img = nib.load(a)
    assert int(img.header["qform_code"]) == 0 and int(img.header["sform_code"]) == 1
    np.testing.assert_allclose(img.affine, affine, atol=1e-6)


def test_a_short_or_misshapen_stream_leaves_no_file(tmp_path):
    out = tmp_path / "x.nii.gz"
    with pytest.raises(ValueError, match="expected 3"):
        write_nifti(out, (3, 2, 3), np.dtype(np.uint8), np.eye(4), iter([np.zeros((2, 3), np.uint8)]))
    with pytest.raises(ValueError, match=r"expected \(2, 3\)"):
        write_nifti(out, (3, 2, 3), np.dtype(np.uint8), np.eye(4), iter([np.zeros((3, 2), np.uint8)]))
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=200)
@given(dicom_series(volume=Volume(rows=2, cols=2, slices=2)))
def test_the_worlds_grids_fit_the_qform(tmp_path_factory, series):
    """Every grid the strategies draw (any orientation, spacing, slice direction, origin) survives
    the qform to float32 precision, after the LPS -> RAS flip: the oracle's qform is as good as its sform;
    but a gantry tilt's sheared grid, which a qform cannot hold, is left to the sform."""
    ras = affine_ras(series)
    path = tmp_path_factory.mktemp("q") / "r.nii"
    write_nifti(path, (2, 2, 2), np.dtype(np.uint8), ras, iter([np.zeros((2, 2), np.uint8)] * 2))
    header = nib.load(path).header
    if series.geometry.shear:
        assert int(header["qform_code"]) == 0 and int(header["sform_code"]) == 1
        np.testing.assert_allclose(header.get_sform(), ras, atol=1e-6 * np.abs(ras).max())
        return
    assert int(header["qform_code"]) == 1
    # float32 quaternion: near a half turn (feet-first, prone with oblique) up to 1.85e-6 of a unit axis
    np.testing.assert_allclose(header.get_qform()[:3, :3], ras[:3, :3], atol=2e-6 * np.abs(ras[:3, :3]).max())
