"""NIfTI-1 files written slice by slice: header from nibabel, voxels streamed.

A NIfTI array ``[i, j, k]`` of shape ``(C, R, S)`` is stored with ``i``
fastest, then ``j``, then ``k``: exactly each DICOM frame's ``R x C`` array
in C order, frame after frame.  So a volume is written one frame at a time
and never held in memory; nibabel builds the 348-byte header (it knows the
format best), we write the bytes after it.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

HEADER_BYTES = 348
VOX_OFFSET = 352  # header + the 4-byte extension flag (no extensions)


def shears(affine: np.ndarray, tol: float = 1e-6) -> bool:
    """Whether the voxel axes of ``affine`` are not mutually perpendicular (a sheared grid)."""
    m = np.asarray(affine, dtype=np.float64)[:3, :3]
    unit = m / np.linalg.norm(m, axis=0)
    return bool(np.abs(unit.T @ unit - np.eye(3)).max() > tol)


def nifti1_header(shape: tuple[int, int, int], dtype: np.dtype, affine_ras: np.ndarray,
                  description: str = "", intent: str = "label") -> bytes:
    """The 352 bytes before the voxels of a single-file NIfTI-1 (``.nii``) image.

    The affine goes to the sform (code 1, scanner: it comes from the DICOM
    patient coordinates) and to the qform with the same code.  A qform is a
    rotation, voxel sizes and a sign for the third axis: it holds any grid
    with perpendicular axes, including oblique ones and slices running
    against frame order, but no shear, so a sheared affine leaves the qform
    unset (code 0) rather than approximated.
    """
    import nibabel as nib  # the NIfTI authority; imported late to keep `lbmock --help` quick

    affine = np.asarray(affine_ras, dtype=np.float64)
    header = nib.Nifti1Header()
    header.set_data_dtype(np.dtype(dtype).newbyteorder("<"))
    header.set_data_shape(shape)
    header.set_xyzt_units("mm")
    header.set_sform(affine, code="scanner")
    if shears(affine):
        header.set_qform(affine, code="unknown")
    else:
        header.set_qform(affine, code="scanner")
    header.set_intent(intent)
    header.set_slope_inter(1.0, 0.0)
    header["descrip"] = description.encode("ascii", "replace")[:79]
    header["vox_offset"] = VOX_OFFSET
    block = header.binaryblock
    assert len(block) == HEADER_BYTES
    return block + b"\x00\x00\x00\x00"


def write_nifti(path: str | os.PathLike[str], shape: tuple[int, int, int], dtype: np.dtype,
                affine_ras: np.ndarray, slices: Iterable[np.ndarray], description: str = "",
                compresslevel: int = 6) -> int:
    """Write a NIfTI-1 image from ``shape[2]`` slices of ``shape[1] x shape[0]`` arrays.

    ``.gz`` paths are gzip-compressed (deterministic: no name, mtime 0).  The
    file appears atomically (written beside it, then renamed).  Returns the
    number of slices written; a wrong count or slice shape raises ValueError.
    """
    path = Path(path)
    cols, rows, n_slices = shape
    little = np.dtype(dtype).newbyteorder("<")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    written = 0
    try:
        with open(tmp, "wb") as raw:
            out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                compresslevel=compresslevel) if path.suffix == ".gz" else raw
            with out:
                out.write(nifti1_header(shape, little, affine_ras, description))
                for frame in slices:
                    if frame.shape != (rows, cols):
                        raise ValueError(f"slice {written} is {frame.shape}, expected {(rows, cols)}")
                    out.write(np.ascontiguousarray(frame, dtype=little).tobytes())
                    written += 1
        if written != n_slices:
            raise ValueError(f"{written} slices written, expected {n_slices}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return written
