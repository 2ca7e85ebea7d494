"""Issue 13's "Done when", through labelbox 7.17.0, in-process (lb_mock) and over HTTP (the threaded
server, and an `lbmock serve` process given the options on its command line):

* export, download row_data and parse it with pydicom;
* every Axial mask lies over a visible structure on the right slice (and every Sagittal and
  Coronal mask on the right column and row);
* the oracle's affine and voxels agree with the DICOM and with the masks.

Plain and with every hostile variant at once.  The world is small on purpose
(served volumes go up to 512 x 512 x 400, which the benchmark measures
instead): the first seed whose 3 rows hold at most 4 M voxels, two Axial mask
key frames or more, a Sagittal or Coronal mask and a polyline.  It is looked
up, not hard-coded, so the test keeps its subject as the strategies evolve.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path

import labelbox
import mocks
import nibabel as nib
import numpy as np
import pydicom
import pytest
import requests

from lbmock.cli import main as lbmock_main
from lbmock.contract_tests.wire import start_serve
from lbmock.dicom.series import TRANSFER_SYNTAXES, VARIANTS
from lbmock.strategies.served_world import seeded_world
from lbmock.world_spec import WorldSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import dicom_export_converter as converter
from sdk_streams import buffered

ROWS = 3
# one transfer syntax, the fastest (JPEG-LS), its frames located by an Extended Offset Table
# (not monochrome1: an Enhanced XA image, unsigned; it has its own case below)
ALL_VARIANTS = tuple(v for v in VARIANTS
                     if v not in set(TRANSFER_SYNTAXES) - {"jpeg-ls-lossless"} and v != "monochrome1")
CLEARLY = 100.0  # real-world units (HU for CT): far above the phantom's noise, far below its contrasts


def holds_what_this_test_is_about(seed: int, variants: tuple[str, ...] = ()) -> bool:
    world = seeded_world(seed, ROWS, dicom_variants=variants)  # odd-sizes draws other volumes
    if sum(r.volume.rows * r.volume.cols * r.volume.slices for r in world) > 4_000_000:
        return False
    features = [f for r in world for lb in r.labels[:1] for f in lb.features]
    masks = [f for f in features if f.tool.kind == "mask"]
    return (sum(len(f.keyframes) for f in masks if f.plane == "Axial") >= 2
            and any(f.plane != "Axial" for f in masks) and any(f.tool.kind == "polyline" for f in features))


@functools.cache
def seed_for(variants: tuple[str, ...]) -> int:
    return next(seed for seed in range(10_000) if holds_what_this_test_is_about(seed, variants))


@contextlib.contextmanager
def labelbox_client(target: str, spec: WorldSpec):
    """A labelbox 7.17.0 client on the in-process mock, on the threaded server, or on an `lbmock serve`
    process started with the same options on its command line; and its project id and key."""
    if target == "lb_mock":
        with mocks.intercepting(spec) as lb:
            yield labelbox.Client(**lb.client_kwargs), lb.project_id, lb.api_key
    elif target == "threaded":
        with mocks.serving(spec) as srv:
            yield labelbox.Client(**srv.client_kwargs), srv.project_id, srv.api_key
    else:
        flags = [f"--dicom-variant={name}" for name in spec.dicom_variants]
        with start_serve("--seed", str(spec.seed), "--rows", str(spec.rows), *flags) as served:
            kwargs = served.client_kwargs()
            yield labelbox.Client(**kwargs), served.project_id, kwargs["api_key"]


def real_frames(ds: pydicom.Dataset) -> np.ndarray:
    """Frames in real-world units, through the (shared) Pixel Value Transformation."""
    transform = converter._functional(ds, 0, "PixelValueTransformationSequence")
    stored = ds.pixel_array.reshape(-1, int(ds.Rows), int(ds.Columns))  # pydicom drops the axis of a lone frame
    return stored.astype(np.float64) * float(transform.RescaleSlope) + float(transform.RescaleIntercept)


def plane_view(volume: np.ndarray, plane: str, n: int) -> np.ndarray:
    """Plane frame ``n + 1`` of a ``[frame, row, column]`` volume, indexed ``[y, x]`` as its mask PNG."""
    if plane == "Axial":
        return volume[n]  # [row, column]
    if plane == "Sagittal":
        return volume[:, :, n]  # column n: [frame, row]
    return volume[:, n, :]  # row n: [frame, column]


def ring(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels within ``width`` of ``mask`` but outside it."""
    grown = mask.copy()
    for _ in range(width):
        g = grown.copy()
        g[1:, :] |= grown[:-1, :]
        g[:-1, :] |= grown[1:, :]
        g[:, 1:] |= grown[:, :-1]
        g[:, :-1] |= grown[:, 1:]
        grown = g
    return grown & ~mask


@pytest.mark.parametrize("variants", [(), ALL_VARIANTS], ids=["plain", "all-variants"])
@pytest.mark.parametrize("target", ["lb_mock", "threaded", "lbmock serve"])
def test_done_when(target, variants, tmp_path):
    seed = seed_for(variants)
    spec = WorldSpec(seed=seed, rows=ROWS, dicom_variants=variants)
    with labelbox_client(target, spec) as (client, project_id, api_key):
        task = client.get_project(project_id).export(params={"label_details": True})
        task.wait_till_done()
        assert not task.has_errors()
        rows = buffered(task)
        assert len(rows) == ROWS
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {api_key}"  # needed by masks; harmless on row_data
        checked_rows, checked = 0, dict.fromkeys(("Axial", "Sagittal", "Coronal"), 0)
        for row in rows:
            ds = converter.download_dicom(row, session)
            frames = real_frames(ds)
            assert frames.shape == (int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
            labels = row["projects"][project_id]["labels"]
            if not labels:
                continue
            # the oracle, as a user runs it for this row (the command line, same world options)
            out = tmp_path / f"{row['data_row']['id']}.nii.gz"
            argv = ["oracle", "--seed", str(seed), "--rows", str(ROWS), "--data-row", row["data_row"]["id"],
                    "--out", str(out)]
            for name in variants:
                argv += ["--dicom-variant", name]
            assert lbmock_main(argv) == 0
            oracle = nib.load(out)
            expected = np.asanyarray(oracle.dataobj)
            # agrees with the DICOM: grid and affine from the file's own tags
            assert oracle.shape[:2] == (int(ds.Columns), int(ds.Rows))  # a missing slice is a slice of the grid
            assert oracle.shape[2] == int(ds.NumberOfFrames) + ("missing-slice" in variants and ds.NumberOfFrames > 2)
            tags_affine = converter.dicom_affine_ras(ds)
            np.testing.assert_allclose(oracle.affine, tags_affine, atol=2e-6 * max(1.0, np.abs(tags_affine).max()))
            # agrees with the masks: the user's converter, from the PNGs, builds exactly these voxels
            built = converter.label_map(row, project_id, ds, session)
            np.testing.assert_array_equal(built.on_grid(), expected)
            expected = expected[:, :, built.grid_k]  # back to file order, as the masks and frames are
            checked_rows += 1
            # every mask lies over a visible structure on its own slice (Axial), column (Sagittal) or
            # row (Coronal), and not on the ones next to it where nothing is labelled
            for plane in ("Axial", "Sagittal", "Coronal"):
                for frame, content in labels[0]["annotations"]["groups"][plane]["frames"].items():
                    n = int(frame) - 1
                    for obj in content["objects"].values():
                        if "mask" not in obj:
                            continue
                        mask = converter.download_mask(obj["mask"]["url"], session)
                        image, labelled = plane_view(frames, plane, n), plane_view(expected.T, plane, n)
                        under = np.median(image[mask])
                        around = ring(mask) & (labelled == 0)
                        assert around.any()
                        assert abs(under - np.median(image[around])) > CLEARLY, (plane, frame, obj["feature_id"])
                        for other in (n - 1, n + 1):
                            if 0 <= other < {"Axial": frames.shape[0], "Sagittal": frames.shape[2],
                                             "Coronal": frames.shape[1]}[plane]:
                                free = mask & (plane_view(expected.T, plane, other) == 0)  # nothing labelled there
                                if free.any():
                                    assert abs(np.median(plane_view(frames, plane, other)[free]) - under) > CLEARLY
                        checked[plane] += 1
        # the world holds what this test is about
        assert checked_rows >= 2 and checked["Axial"] >= 2 and checked["Sagittal"] + checked["Coronal"] >= 1


@pytest.mark.parametrize("variants", [("jpeg2000-lossless",), ("jpeg-lossless",), ("extended-offset-table",),
                                      ("monochrome1", "bits-stored-12", "pixel-padding", "oblique")])
def test_done_when_in_the_other_syntaxes_and_monochrome1(variants, tmp_path):
    """The other encapsulated syntaxes, RLE's Extended Offset Table and MONOCHROME1, in-process (the
    HTTP paths serve the same bytes)."""
    test_done_when("lb_mock", variants, tmp_path)
