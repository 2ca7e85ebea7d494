"""The geometry of a row's volume: affines, plane <-> voxel mapping, patient points.

Properties over drawn series (every hostile variant mixed in), plus worked
examples checked by hand against the README's conventions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbmock.dicom import geometry as G
from lbmock.dicom.series import (
    TRANSFER_SYNTAXES,
    VARIANTS,
    DicomSeries,
    SeriesGeometry,
    check_variants,
)
from lbmock.strategies.dicom import dicom_geometries, dicom_series
from lbmock.world import PLANES, Volume

# every variant, one transfer syntax; not monochrome1 (an Enhanced XA image: its pixels are never signed)
ALL = frozenset(VARIANTS) - set(TRANSFER_SYNTAXES) - {"monochrome1"} | {"rle-lossless"}


def _series(geometry: SeriesGeometry) -> DicomSeries:
    return DicomSeries(Volume(4, 3, 5), "CT", "P", "Lbmock^P", "2.25.1", "2.25.2", "2.25.3", "2.25.4", 0, geometry,
                       1.0, -1024.0, 40.0, 400.0, 0)


@settings(max_examples=200, deadline=None)
@given(dicom_series(volume=Volume(2, 2, 400), variants=ALL))
def test_every_frame_position_is_an_exact_short_decimal(series):
    g = series.geometry
    for frame in range(1, 401):
        strings = G.frame_position_ds(g, frame)
        assert all(len(s) <= 16 for s in strings)
        # the float readers parse from the file is the world's float
        assert tuple(float(s) for s in strings) == G.frame_position(g, frame)


@settings(max_examples=200, deadline=None)
@given(dicom_series())
def test_affine_puts_each_frame_at_its_position_and_has_the_spacings(series):
    g, v = series.geometry, series.volume
    affine = G.affine_lps(series)
    ks = G.grid_of_frames(series)  # file order, unless the grid is irregular
    for frame in {1, min(2, v.slices), v.slices}:
        assert np.allclose(affine @ [0, 0, ks[frame - 1], 1], [*G.frame_position(g, frame), 1], atol=1e-9)
    assert np.isclose(np.linalg.norm(affine[:3, 0]), g.column_spacing)  # along i: between columns
    assert np.isclose(np.linalg.norm(affine[:3, 1]), g.row_spacing)
    # the step between frames is the spacing (sheared by a gantry tilt); a lone frame's third axis is its thickness
    shear = np.hypot(1.0, g.shear or 0.0)
    assert np.isclose(np.linalg.norm(affine[:3, 2]), g.slice_spacing * shear if v.slices > 1 else g.slice_thickness)
    assert np.isclose(abs(affine[:3, 2] @ G.slice_normal(g)), g.slice_spacing if v.slices > 1 else g.slice_thickness)
    # positive slice steps move along row x column cosine, negative ones against it (one frame has no step);
    # frames out of spatial order are sorted along it
    steps = {np.sign(b - a) for a, b in itertools.pairwise(g.slots or range(v.slices))}
    if len(steps) > 1:  # out of spatial order: sorted along the normal
        expected = 1
    else:  # file order: the sign of the step times that of the slots' order
        expected = np.sign(g.slice_step) * (steps.pop() if steps else 1) if v.slices > 1 else 1
    assert np.sign(np.linalg.det(affine[:3, :3])) == expected
    assert np.array_equal(G.affine_ras(series), np.diag([-1, -1, 1, 1]) @ affine)


@settings(max_examples=200)
@given(dicom_geometries())
def test_orientation_is_orthonormal(g):
    r, c = np.array(g.row_cosine), np.array(g.column_cosine)
    assert abs(r @ c) < 1e-15
    assert np.isclose(r @ r, 1.0, atol=1e-15) and np.isclose(c @ c, 1.0, atol=1e-15)
    assert np.allclose(G.slice_normal(g), np.cross(r, c), atol=1e-15)


@given(dicom_geometries(variants={"oblique"}))
def test_oblique_is_oblique_and_plain_is_axial(g):
    assert not ({abs(v) for v in (*g.row_cosine, *g.column_cosine)} <= {0.0, 1.0})
    plain = _series(g).geometry.__class__((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), 1.0, 1.0, 1.0, (0.0, 0.0, 0.0))
    assert np.array_equal(G.affine_lps(_series(plain)), np.eye(4))


@given(st.data())
def test_each_variant_shows(data):
    name = data.draw(st.sampled_from(VARIANTS))
    series = data.draw(dicom_series(variants={name}))
    g = series.geometry
    shown = {
        "reversed-slices": g.slice_step < 0,
        "anisotropic": len({g.row_spacing, g.column_spacing}) == 2 and g.slice_step % 1 != 0,
        "offset-origin": g.origin != (0.0, 0.0, 0.0),
        "mr-rescale": series.modality == "MR" and series.rescale_slope != 1 and series.rescale_intercept != 0,
        "oblique": not {abs(v) for v in (*g.row_cosine, *g.column_cosine)} <= {0.0, 1.0},
        "signed-pixels": series.pixel_representation == 1,
        "bits-stored-12": series.bits_stored == 12,
        "pixel-padding": series.pixel_padding,
        "odd-sizes": series.volume.rows % 2 == 1 and series.volume.cols & (series.volume.cols - 1) != 0,
        "feet-first": series.patient_position == "FFS",
        "prone": series.patient_position == "HFP",
        "thickness-not-spacing": g.slice_thickness != g.slice_spacing,
        "shuffled-frames": g.slots is not None and sorted(g.slots) == list(range(series.volume.slices)),
        "missing-slice": g.slots is not None and max(g.slots) == series.volume.slices,
        "gantry-tilt": g.shear is not None,
        # extended-offset-table alone is RLE Lossless with that table
        "rle-lossless": series.transfer_syntax == "1.2.840.10008.1.2.5" and not series.extended_offset_table,
        "deflated": series.transfer_syntax == "1.2.840.10008.1.2.1.99",
        "jpeg-ls-lossless": series.transfer_syntax == "1.2.840.10008.1.2.4.80",
        "jpeg2000-lossless": series.transfer_syntax == "1.2.840.10008.1.2.4.90",
        "jpeg-lossless": series.transfer_syntax == "1.2.840.10008.1.2.4.70",
        "extended-offset-table": series.extended_offset_table and series.transfer_syntax == "1.2.840.10008.1.2.5",
        "monochrome1": series.photometric_interpretation == "MONOCHROME1",
    }
    # frames needed: 3 to interleave, 3 to tell a gap from the step, 2 to tilt
    needs = {"shuffled-frames": 3, "missing-slice": 3, "gantry-tilt": 2}
    if series.volume.slices < needs.get(name, 1):
        assert not any(shown.values())
        return
    assert shown[name]
    assert sum(shown.values()) == 1  # variants only change what they name


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="no-such"):
        check_variants({"oblique", "no-such"})


def test_one_transfer_syntax_at_a_time():
    with pytest.raises(ValueError, match="rle-lossless and deflated are transfer syntaxes"):
        check_variants({"deflated", "rle-lossless"})
    with pytest.raises(ValueError, match="extended-offset-table needs encapsulated Pixel Data; deflated is not"):
        check_variants({"deflated", "extended-offset-table"})
    with pytest.raises(ValueError, match="monochrome1 makes an Enhanced XA image, whose pixels are unsigned"):
        check_variants({"monochrome1", "signed-pixels"})


@given(st.sampled_from((64, 128)), st.sampled_from((64, 256)), st.integers(1, 40), st.sampled_from(PLANES),
       st.data())
def test_plane_pixels_map_into_the_volume_and_back(rows, cols, slices, plane, data):
    volume = Volume(rows, cols, slices)
    p = volume.plane(plane)
    frame = data.draw(st.integers(1, p.frame_count))
    x, y = data.draw(st.integers(0, p.width - 1)), data.draw(st.integers(0, p.height - 1))
    i, j, k = G.plane_to_voxel(volume, plane, frame, x, y)
    assert 0 <= i < cols and 0 <= j < rows and 0 <= k < slices
    assert G.voxel_to_plane(plane, i, j, k) == (frame, x, y)
    # the pixel centre is the voxel centre
    assert G.plane_point_index(plane, frame, x + 0.5, y + 0.5) == (i, j, k)


def test_plane_axes_agree_with_plane_sizes():
    volume = Volume(rows=7, cols=11, slices=5)
    sizes = (volume.cols, volume.rows, volume.slices)  # along i, j, k
    for plane, (ax, ay, af) in G.PLANE_AXES.items():
        p = volume.plane(plane)
        assert (p.width, p.height, p.frame_count) == (sizes[ax], sizes[ay], sizes[af])


def test_worked_example_reversed_anisotropic_offset():
    g = SeriesGeometry((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), row_spacing=0.7, column_spacing=0.5, slice_step=-2.5,
                       origin=(-100.0, 20.25, 30.0))
    s = _series(g)
    # frame 3 sits two steps against the normal (0, 0, 1)
    assert G.frame_position_ds(g, 3) == ("-100", "20.25", "25")
    # Sagittal frame 2 is column i=1; its pixel (x=3, y=4) is row j=3 on frame k=4
    assert G.plane_to_voxel(s.volume, "Sagittal", 2, 3, 4) == (1, 3, 4)
    # the centre of that pixel: x = -100 + 1 * 0.5, y = 20.25 + 3 * 0.7, z = 30 - 4 * 2.5
    assert np.allclose(G.patient_point(s, "Sagittal", 2, 3.5, 4.5), (-99.5, 22.35, 20.0))
    # a vertex on the pixel's corner is half a voxel away along j and k
    assert np.allclose(G.patient_point(s, "Sagittal", 2, 3.0, 4.0), (-99.5, 22.0, 21.25))


def test_worked_example_oblique():
    g = SeriesGeometry((0.6, 0.8, 0.0), (-0.8, 0.6, 0.0), 2.0, 1.0, 3.0, (0.0, 0.0, 0.0))
    s = _series(g)
    # column i=2 moves 2 * 1.0 mm along r; row j=1 moves 2.0 mm along c; frame k=1 moves 3 mm along z
    assert np.allclose(G.affine_lps(s) @ [2, 1, 1, 1], [1.2 - 1.6, 1.6 + 1.2, 3.0, 1])
    assert G.affine_from_tags((0.6, 0.8, 0.0, -0.8, 0.6, 0.0), (2.0, 1.0), [(0, 0, 0)], 3.0)[2, 2] == 3.0


@settings(max_examples=100, deadline=None)
@given(dicom_series(), st.sampled_from(PLANES), st.data())
def test_patient_points_invert(series, plane, data):
    p = series.volume.plane(plane)
    frame = data.draw(st.integers(1, p.frame_count))
    px, py = data.draw(st.floats(0, p.width)), data.draw(st.floats(0, p.height))
    point = G.patient_point(series, plane, frame, px, py)
    i, j, t = G.plane_point_index(plane, frame, px, py)
    k = G.continuous_grid_index(G.grid_of_frames(series), t)  # the grid's k: file frame - 1 unless irregular
    assert np.allclose(G.index_of_patient_point(series, point), (i, j, k), atol=1e-6)


def test_out_of_plane_is_refused():
    volume = Volume(4, 3, 5)
    with pytest.raises(ValueError, match="outside"):
        G.plane_to_voxel(volume, "Axial", 6, 0, 0)
    with pytest.raises(ValueError, match="outside"):
        G.plane_to_voxel(volume, "Coronal", 1, 3, 0)
    with pytest.raises(ValueError, match="unknown plane"):
        G.plane_point_index("Oblique", 1, 0, 0)


# PS3.3 C.7.6.2.1.1 (patient axes L, P, S whatever the position) and the usual axial cosines per position
AXIAL_COSINES = {"HFS": (1, 0, 0, 0, 1, 0), "FFS": (-1, 0, 0, 0, 1, 0), "HFP": (-1, 0, 0, 0, -1, 0),
                 "FFP": (1, 0, 0, 0, -1, 0)}


@given(st.sets(st.sampled_from(("feet-first", "prone"))), st.booleans(), st.data())
def test_patient_positions_turn_the_cosines(positions, oblique, data):
    series = data.draw(dicom_series(variants=positions | ({"oblique"} if oblique else set())))
    g = series.geometry
    assert series.patient_position == ("FF" if "feet-first" in positions else "HF") + (
        "P" if "prone" in positions else "S")
    normal = np.array(G.slice_normal(g))
    if not oblique:
        assert (*g.row_cosine, *g.column_cosine) == AXIAL_COSINES[series.patient_position]
    # still a right-handed orthonormal frame; the normal points to the head for head first, to the feet
    # for feet first (oblique tilts it by at most acos(0.6))
    r, c = np.array(g.row_cosine), np.array(g.column_cosine)
    assert abs(r @ c) < 1e-15 and np.isclose(np.linalg.det(np.stack([r, c, normal])), 1.0)
    assert np.sign(normal[2]) == (-1 if "feet-first" in positions else 1)
