"""The oracle: NIfTI-1 label map + JSON sidecar, read back with nibabel; the `lbmock oracle` command."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from dicom_worlds import reference_volume, small_dicom_worlds
from hypothesis import HealthCheck, given, settings

from lbmock.cli import main
from lbmock.dicom import geometry as G
from lbmock.labelmap import choose_label, mask_features
from lbmock.oracle import UnknownDataRow, find_row, sidecar_path, write_oracle
from lbmock.strategies.served_world import resolve_world, seeded_world
from lbmock.world_spec import WorldSpec

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])


def contract_affine_lps(series) -> np.ndarray:
    """DICOM-DESIGN's affine, spelled out from the series' own numbers (not the geometry module).

    A single frame has no second position to give the step's sign: its third column is the
    normal times SliceThickness, as a reader of the file's tags finds it.
    """
    g = series.geometry
    step = g.slice_step if series.volume.slices > 1 else g.slice_thickness  # thickness-not-spacing: they differ
    r, c = np.array(g.row_cosine), np.array(g.column_cosine)
    # irregular grids: a frame's slot moves it by step * (normal + shear * c); k sorts the slots
    slot_step = (np.cross(r, c) + (g.shear or 0.0) * c) * step
    slots = g.slots or tuple(range(series.volume.slices))
    ks = G.grid_of_frames(series)
    first = slots[ks.index(0)]
    direction = 1 if len(ks) == 1 else (slots[ks.index(max(ks))] - first) / max(ks)  # +1 or -1 slot per k
    out = np.eye(4)
    out[:3, 0] = r * g.column_spacing
    out[:3, 1] = c * g.row_spacing
    out[:3, 2] = slot_step * direction
    out[:3, 3] = np.array(g.origin) + first * slot_step
    return out


@SETTINGS
@given(small_dicom_worlds())
def test_oracle_voxels_affine_and_sidecar(tmp_path, world):
    for row in world:
        for label in row.labels:
            out = tmp_path / f"{row.id}-{label.id}.nii.gz"
            files = write_oracle(world, row.id, out, label_id=label.id)
            img = nib.load(out)
            v = row.volume
            ks = list(G.grid_of_frames(row.series))
            assert img.shape == (v.cols, v.rows, max(ks) + 1)
            data = np.asanyarray(img.dataobj)
            np.testing.assert_array_equal(data[:, :, ks], reference_volume(row, label))
            assert not np.delete(data, ks, axis=2).any()  # a missing slice is empty
            ras = np.diag([-1.0, -1, 1, 1]) @ contract_affine_lps(row.series)
            tol = 2e-6 * max(1.0, np.abs(ras).max())  # float32 in the header
            np.testing.assert_allclose(img.affine, ras, atol=tol)
            if row.series.geometry.shear:  # gantry tilt: a qform cannot hold a shear, the sform does
                assert int(img.header["qform_code"]) == 0 and int(img.header["sform_code"]) == 1
            else:
                assert int(img.header["qform_code"]) == 1  # every other grid: the qform holds it
                np.testing.assert_allclose(img.header.get_qform(), ras, atol=10 * tol)

            side = json.loads(files.sidecar.read_text())
            assert files.sidecar == out.with_name(f"{row.id}-{label.id}.json")
            assert side["data_row"]["id"] == row.id and side["label_id"] == label.id
            features = mask_features(label)
            assert list(side["labels"]) == [str(n) for n in range(1, len(features) + 1)]
            for n, feature in enumerate(features, start=1):
                entry = side["labels"][str(n)]
                assert (entry["feature_id"], entry["name"], entry["plane"]) == (
                    feature.feature_id, feature.tool.name, feature.plane)
                assert entry["frames"] == [kf.frame for kf in feature.keyframes]
                assert entry["voxel_count"] == int((data == n).sum())
            np.testing.assert_allclose(np.array(side["affine_ras"]), ras, atol=1e-9 * max(1.0, np.abs(ras).max()))
            _check_polylines(row, label, side, contract_affine_lps(row.series))


def _check_polylines(row, label, side, lps):
    lines = [f for f in label.features if f.tool.kind == "polyline"]
    assert [p["feature_id"] for p in side["polylines"]] == [f.feature_id for f in lines]
    for feature, entry in zip(lines, side["polylines"], strict=True):
        listed = [(fr["frame"], fr["keyframe"]) for fr in entry["frames"]]
        assert listed == [(frame, key) for frame, _, key, _ in feature.frames(interpolated=True)]
        for frame in entry["frames"]:
            for (px, py), mm in zip(frame["points_plane"], frame["points_lps_mm"], strict=True):
                u, w, n = px - 0.5, py - 0.5, frame["frame"] - 1  # pixel centres at +0.5
                i, j, t = {"Axial": (u, w, n), "Sagittal": (n, u, w), "Coronal": (u, n, w)}[feature.plane]
                k = G.continuous_grid_index(G.grid_of_frames(row.series), t)  # t itself unless irregular
                np.testing.assert_allclose(mm, (lps @ [i, j, k, 1.0])[:3], atol=1e-6)
            np.testing.assert_allclose(np.array(frame["points_ras_mm"]),
                                       np.array(frame["points_lps_mm"]) * [-1, -1, 1])


def test_same_world_same_bytes_in_any_process(tmp_path):
    world = seeded_world(83, 8)
    labelled = [r for r in world if any(mask_features(lb) for lb in r.labels)]
    row = min(labelled, key=lambda r: r.volume.rows * r.volume.cols * r.volume.slices)
    a, b, c = (tmp_path / name / "labels.nii.gz" for name in "abc")
    for path in (a, b, c):
        path.parent.mkdir()
    write_oracle(world, row.id, a)
    write_oracle(seeded_world(83, 8), row.id, b)
    subprocess.run([sys.executable, "-m", "lbmock.cli", "oracle", "--seed", "83", "--rows", "8",
                    "--data-row", row.id, "--out", str(c)], check=True, capture_output=True, timeout=120)
    for other in (b, c):
        assert a.read_bytes() == other.read_bytes()
        assert sidecar_path(a).read_bytes() == sidecar_path(other).read_bytes()


def _labels_with_masks(world):
    """{(in the first project, not the row's first label there): (row, membership, label)}."""
    picked = {}
    for row in world:
        for membership in row.memberships:
            for number, label in enumerate(membership.labels):
                if mask_features(label):
                    picked.setdefault((membership.project_id == world.project.id, number > 0), (row, membership, label))
    return picked


def test_a_label_of_another_project_or_a_second_consensus_label(tmp_path):
    # the first seed whose world has both (the second project's ontology may have no mask tool)
    for seed in range(50):
        world = resolve_world(WorldSpec(seed=seed, rows=12, projects=2, quality="consensus"))
        picked = _labels_with_masks(world)
        if (False, False) in picked and (True, True) in picked:
            break
    else:
        raise AssertionError("no world among 50 seeds holds what this test is about")
    for row, membership, label in (picked[(False, False)], picked[(True, True)]):
        files = write_oracle(world, row.id, tmp_path / f"{label.id}.nii.gz", label_id=label.id)
        assert files.summary["project_id"] == membership.project_id and files.summary["label_id"] == label.id
        np.testing.assert_array_equal(np.asanyarray(nib.load(files.nifti).dataobj), reference_volume(row, label))


def test_unknown_rows_and_labels_are_named(tmp_path):
    world = seeded_world(3, 4)
    with pytest.raises(UnknownDataRow, match="no data row 'nope'"):
        find_row(world, "nope")
    beyond = seeded_world(3, 8).row(6).id  # a real id of a bigger world with the same seed
    with pytest.raises(UnknownDataRow, match=world.row(0).id):
        find_row(world, beyond)
    labelled = next(r for r in world if r.labels)
    with pytest.raises(KeyError, match="has no label"):
        choose_label(labelled, "ckxxxxxxxxxxxxxxxxxxxxxxx")


def test_cli_writes_the_oracle_of_the_served_world(tmp_path, capsys):
    world = seeded_world(5, 3, dicom_variants=["oblique", "reversed-slices"])
    row = next(r for r in world if r.labels)
    out = tmp_path / "labels.nii.gz"
    assert main(["oracle", "--seed", "5", "--rows", "3", "--dicom-variant", "oblique",
                 "--dicom-variant", "reversed-slices", "--data-row", row.id, "--out", str(out)]) == 0
    side = json.loads((tmp_path / "labels.json").read_text())
    assert side["data_row"]["id"] == row.id
    img = nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), reference_volume(row, row.labels[0]))
    assert "labels.nii.gz" in capsys.readouterr().err


def test_cli_unknown_row_is_exit_2_with_a_message_not_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lbmock.cli", "oracle", "--seed", "1", "--rows", "2",
                           "--data-row", "ck00000000000000000000000", "--out", str(tmp_path / "x.nii.gz")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no data row 'ck00000000000000000000000'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["--data-row", "x", "--out", "labels.png"], "name it *.nii.gz or *.nii"),
    (["--out", "l.nii.gz"], "--data-row"),
])
def test_cli_bad_options_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["oracle", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
