"""Convert a Labelbox DICOM export into label maps: NIfTI (nibabel) or DICOM-SEG (highdicom).

This is the code a team consuming Labelbox DICOM exports writes, and it
knows nothing of lbmock: it reads an export v2 row (as the ``labelbox`` SDK
returns it), downloads the DICOM behind ``row_data`` and every mask PNG, and
places each plane's masks in the volume:

* Axial frame N, PNG pixel (x, y)    -> voxel (column x, row y, frame N)
* Sagittal frame N, PNG pixel (x, y) -> voxel (column N, row x, frame y)
* Coronal frame N, PNG pixel (x, y)  -> voxel (column x, row N, frame y)

(frames 1-based, file order; voxel arrays indexed ``[column, row, frame-1]``
as NIfTI wants them).  Label indices follow the label's features in the
order ``key_frame_feature_map`` lists them, masks only, 1-based; where masks
overlap the later one wins.  The geometry comes from the DICOM tags alone:
every frame's position, since frames may be stored out of spatial order
(interleaved), a slice may be missing, or the gantry tilted (a sheared grid).
The NIfTI is written on the regular grid the positions lie on: in file order
when they run one way, else sorted along the slice normal; a missing slice
stays an empty slice.

Run it against ``lbmock serve`` (or Labelbox)::

    python examples/dicom_export_converter.py --api-key KEY --project-id P --out out/ \\
        [--endpoint http://127.0.0.1:8080/graphql --rest-endpoint http://127.0.0.1:8080/api/v1] [--seg] [--image]
"""

from __future__ import annotations

import argparse
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import requests
from PIL import Image

PLANES = ("Axial", "Sagittal", "Coronal")


@dataclass
class LabelMap:
    """A data row's masks as one integer volume indexed ``[column, row, frame - 1]``."""

    voxels: np.ndarray
    feature_ids: list[str]  # index n is feature_ids[n - 1]
    names: list[str]
    grid_k: np.ndarray      # the grid slice of each file frame (see frame_grid)
    grid_slices: int

    def on_grid(self) -> np.ndarray:
        """The label map on the regular grid of positions: ``[column, row, k]``, a missing slice empty."""
        if self.grid_slices == self.voxels.shape[2] and np.array_equal(self.grid_k, np.arange(self.grid_slices)):
            return self.voxels
        out = np.zeros((*self.voxels.shape[:2], self.grid_slices), dtype=self.voxels.dtype)
        out[:, :, self.grid_k] = self.voxels
        return out


# ---------------------------------------------------------------- downloads


def download_dicom(row: dict, session: requests.Session) -> pydicom.Dataset:
    """The multi-frame DICOM file behind ``row_data`` (a signed URL)."""
    response = session.get(row["data_row"]["row_data"], timeout=120)
    response.raise_for_status()
    return pydicom.dcmread(io.BytesIO(response.content))


def download_mask(url: str, session: requests.Session) -> np.ndarray:
    """A mask PNG as a boolean ``[y, x]`` array."""
    response = session.get(url, timeout=60)
    response.raise_for_status()
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("L")) > 0


# ---------------------------------------------------------------- geometry from the tags


def _functional(ds: pydicom.Dataset, frame: int, sequence: str):
    """A functional group macro of ``frame`` (0-based): per-frame first, then shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and sequence in per_frame[frame]:
        return per_frame[frame][sequence][0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and sequence in shared[0]:
        return shared[0][sequence][0]
    return ds  # a single-frame or legacy file: the attributes are top-level


def frame_grid(ds: pydicom.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(grid slice k of each file frame, every frame's ImagePositionPatient).

    Positions along the normal that run one way in file order keep file order; otherwise
    frames are sorted along the normal.  The grid step is the smallest gap between
    neighbouring positions, so a missing slice leaves an empty k.
    """
    frames = int(ds.get("NumberOfFrames", 1))
    positions = np.array([_functional(ds, f, "PlanePositionSequence").ImagePositionPatient for f in range(frames)],
                         dtype=float)
    if frames == 1:
        return np.zeros(1, dtype=int), positions
    orientation = np.array(_functional(ds, 0, "PlaneOrientationSequence").ImageOrientationPatient, dtype=float)
    along = (positions - positions[0]) @ np.cross(orientation[:3], orientation[3:])
    slots = np.rint(along / np.min(np.abs(np.diff(np.sort(along))))).astype(int)
    steps = np.diff(slots)
    if (steps < 0).all():  # in order, against the normal: count from frame 1 all the same
        slots = -slots
    return slots - slots.min(), positions


def dicom_affine_lps(ds: pydicom.Dataset) -> np.ndarray:
    """Grid index (column, row, k) -> DICOM patient mm (LPS), from the DICOM tags.

    Column i moves along the row cosine by the column spacing (PixelSpacing[1]),
    row j along the column cosine by the row spacing (PixelSpacing[0]); k steps
    from the first grid slice to the last over their distance in slices, whichever
    way they run, sheared if the gantry was tilted (``frame_grid``; k is frame - 1
    for frames in order).
    """
    orientation = np.array(_functional(ds, 0, "PlaneOrientationSequence").ImageOrientationPatient, dtype=float)
    measures = _functional(ds, 0, "PixelMeasuresSequence")
    row_spacing, col_spacing = (float(v) for v in measures.PixelSpacing)
    row_cos, col_cos = orientation[:3], orientation[3:]
    k, positions = frame_grid(ds)
    first = positions[np.argmin(k)]
    if len(k) > 1:
        step = (positions[np.argmax(k)] - first) / k.max()
    else:
        step = np.cross(row_cos, col_cos) * float(measures.SliceThickness)
    lps = np.eye(4)
    lps[:3, 0] = row_cos * col_spacing
    lps[:3, 1] = col_cos * row_spacing
    lps[:3, 2] = step
    lps[:3, 3] = first
    return lps


def dicom_affine_ras(ds: pydicom.Dataset) -> np.ndarray:
    """The same for NIfTI, whose patient axes point the other way in x and y (RAS, not LPS)."""
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ dicom_affine_lps(ds)


def image_volume(ds: pydicom.Dataset) -> np.ndarray:
    """The image in real-world values (HU for CT) on the label map's grid, ``[column, row, k]``; a
    missing slice is NaN.  Compressed transfer syntaxes need pydicom's decoder plugins
    (``pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pyjpegls``)."""
    frames = int(ds.get("NumberOfFrames", 1))
    stored = ds.pixel_array.reshape(frames, int(ds.Rows), int(ds.Columns))  # a lone frame comes without its axis
    grid_k, _ = frame_grid(ds)
    out = np.full((int(ds.Columns), int(ds.Rows), int(grid_k.max()) + 1), np.nan)
    for f, k in enumerate(grid_k):
        transform = _functional(ds, f, "PixelValueTransformationSequence")  # absent: no rescale
        slope, intercept = float(transform.get("RescaleSlope", 1)), float(transform.get("RescaleIntercept", 0))
        out[:, :, k] = stored[f].T * slope + intercept
    return out


# ---------------------------------------------------------------- masks -> voxels


def label_map(row: dict, project_id: str, ds: pydicom.Dataset, session: requests.Session,
              label_number: int = 0) -> LabelMap:
    """Place every mask of one label of ``row`` in a ``[column, row, frame - 1]`` volume."""
    cols, rows, frames = int(ds.Columns), int(ds.Rows), int(ds.get("NumberOfFrames", 1))
    label = row["projects"][project_id]["labels"][label_number]
    annotations = label["annotations"]
    masks: dict[str, list[tuple[str, int, str]]] = {}
    names: dict[str, str] = {}
    for plane in PLANES:
        for frame, content in annotations["groups"].get(plane, {}).get("frames", {}).items():
            for feature_id, obj in content["objects"].items():
                if "mask" in obj:
                    masks.setdefault(feature_id, []).append((plane, int(frame), obj["mask"]["url"]))
                    names[feature_id] = obj["name"]
    order = [fid for fid in annotations["key_frame_feature_map"] if fid in masks]
    grid_k, _ = frame_grid(ds)
    dtype = np.uint8 if len(order) < 256 else np.uint16
    voxels = np.zeros((cols, rows, frames), dtype=dtype)
    expected = {"Axial": (rows, cols), "Sagittal": (frames, rows), "Coronal": (frames, cols)}
    for index, feature_id in enumerate(order, start=1):
        for plane, frame, url in masks[feature_id]:
            mask = download_mask(url, session)
            if mask.shape != expected[plane]:
                raise ValueError(f"{plane} mask is {mask.shape[::-1]} (w x h), the DICOM says "
                                 f"{expected[plane][::-1]}")
            by_xy = mask.T  # [x, y]
            if plane == "Axial":
                voxels[:, :, frame - 1][by_xy] = index
            elif plane == "Sagittal":
                voxels[frame - 1, :, :][by_xy] = index
            else:
                voxels[:, frame - 1, :][by_xy] = index
    return LabelMap(voxels, order, [names[f] for f in order], grid_k, int(grid_k.max()) + 1)


def grid_index(grid_k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Grid k of continuous file frame coordinates ``t`` (frame f at f - 1): linear between neighbouring
    frames' grid slices, and beyond the ends along the first or last pair."""
    if len(grid_k) == 1 or np.array_equal(grid_k, np.arange(len(grid_k))):
        return t
    i0 = np.clip(np.floor(t).astype(int), 0, len(grid_k) - 2)
    return grid_k[i0] + (t - i0) * (grid_k[i0 + 1] - grid_k[i0])


def polyline_points_lps(row: dict, project_id: str, ds: pydicom.Dataset,
                        label_number: int = 0) -> dict[str, dict[int, np.ndarray]]:
    """Every polyline of one label in patient mm (LPS): feature id -> frame -> (points, 3).

    A point (x, y) is in plane pixels whose centres sit at +0.5, so pixel-centre voxel indices are
    (x - 0.5, y - 0.5) along the plane's axes.
    """
    lps = dicom_affine_lps(ds)
    grid_k, _ = frame_grid(ds)
    out: dict[str, dict[int, np.ndarray]] = {}
    groups = row["projects"][project_id]["labels"][label_number]["annotations"]["groups"]
    for plane in PLANES:
        for frame, content in groups.get(plane, {}).get("frames", {}).items():
            for feature_id, obj in content["objects"].items():
                if "line" not in obj:
                    continue
                xy = np.array([[p["x"], p["y"]] for p in obj["line"]], dtype=float).reshape(-1, 2) - 0.5
                at = np.full(len(xy), int(frame) - 1.0)
                i, j, t = {"Axial": (xy[:, 0], xy[:, 1], at), "Sagittal": (at, xy[:, 0], xy[:, 1]),
                           "Coronal": (xy[:, 0], at, xy[:, 1])}[plane]
                index = np.stack([i, j, grid_index(grid_k, t), np.ones(len(xy))])
                out.setdefault(feature_id, {})[int(frame)] = (lps @ index)[:3].T
    return out


# ---------------------------------------------------------------- writers


def to_nifti(labels: LabelMap, ds: pydicom.Dataset, path: str | os.PathLike[str]) -> None:
    """Write the label map as NIfTI-1 with the DICOM geometry."""
    import nibabel as nib

    image = nib.Nifti1Image(labels.on_grid(), dicom_affine_ras(ds))
    image.header.set_xyzt_units("mm")
    matrix = image.affine[:3, :3] / np.linalg.norm(image.affine[:3, :3], axis=0)
    sheared = np.abs(matrix.T @ matrix - np.eye(3)).max() > 1e-6  # gantry tilt: a qform cannot hold a shear
    image.set_qform(image.affine, code=0 if sheared else 1)
    image.set_sform(image.affine, code=1)
    nib.save(image, os.fspath(path))


def to_dicom_seg(labels: LabelMap, ds: pydicom.Dataset, path: str | os.PathLike[str]) -> bool:
    """Write the label map as a DICOM-SEG over the source file (False if there is no mask)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if not labels.feature_ids:
        return False
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n, segment_label=name[:64] or f"segment {n}",
            segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            tracking_uid=hd.UID(), tracking_id=feature_id,
        )
        for n, (feature_id, name) in enumerate(zip(labels.feature_ids, labels.names, strict=True), start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=[ds],
        pixel_array=labels.voxels.transpose(2, 1, 0),  # [frame, row, column]: frame i is source frame i + 1
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(), series_number=900, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="example", manufacturer_model_name="dicom_export_converter", software_versions="1",
        device_serial_number="0",
    )
    seg.save_as(os.fspath(path))
    return True


# ---------------------------------------------------------------- a script


def main() -> None:
    import labelbox

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--project-id", required=True)
    parser.add_argument("--out", required=True, type=Path,
                        help="folder for <data row id>-<label id>.nii.gz (and .seg.dcm)")
    parser.add_argument("--endpoint", default=None, help="GraphQL endpoint (default: Labelbox's)")
    parser.add_argument("--rest-endpoint", default=None, help="REST endpoint (default: Labelbox's)")
    parser.add_argument("--seg", action="store_true", help="also write DICOM-SEG files")
    parser.add_argument("--image", action="store_true", help="also write each row's image as <data row id>.nii.gz")
    args = parser.parse_args()
    kwargs = {k: v for k, v in (("endpoint", args.endpoint), ("rest_endpoint", args.rest_endpoint)) if v}
    client = labelbox.Client(api_key=args.api_key, **kwargs)
    task = client.get_project(args.project_id).export(params={"label_details": True})
    task.wait_till_done()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {args.api_key}"
    args.out.mkdir(parents=True, exist_ok=True)
    for output in task.get_buffered_stream():
        row = output.json
        if not row["projects"][args.project_id]["labels"]:
            continue
        ds = download_dicom(row, session)
        if args.image:
            import nibabel as nib

            image = nib.Nifti1Image(image_volume(ds), dicom_affine_ras(ds))
            nib.save(image, args.out / f"{row['data_row']['id']}.nii.gz")
        for number, label in enumerate(row["projects"][args.project_id]["labels"]):  # consensus: several
            labels = label_map(row, args.project_id, ds, session, number)
            stem = args.out / f"{row['data_row']['id']}-{label['id']}"
            to_nifti(labels, ds, f"{stem}.nii.gz")
            if args.seg:
                to_dicom_seg(labels, ds, f"{stem}.seg.dcm")
            print(stem.name, labels.voxels.shape, len(labels.feature_ids), "masks")


if __name__ == "__main__":
    main()
