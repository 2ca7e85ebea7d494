"""A small export consumer, as users write them: stack a data row's Axial
segmentation masks into one (slices, rows, cols) volume.

It has a bug that the README's Hypothesis test finds and shrinks.
"""

from __future__ import annotations

import io

import numpy as np
import requests
from PIL import Image


def axial_mask_volume(row: dict, project_id: str, shape: tuple[int, int, int], api_key: str) -> np.ndarray:
    """Union of every Axial mask of ``row`` (an export v2 row) as a boolean volume.

    ``shape`` is (slices, rows, cols), read from the DICOM header.
    """
    volume = np.zeros(shape, dtype=bool)
    headers = {"Authorization": f"Bearer {api_key}"}
    for label in row["projects"][project_id]["labels"]:
        frames = label["annotations"]["groups"]["Axial"]["frames"]
        for frame_number, frame in frames.items():
            for obj in frame["objects"].values():
                if "mask" not in obj:
                    continue
                png = requests.get(obj["mask"]["url"], headers=headers, timeout=30).content
                pixels = np.asarray(Image.open(io.BytesIO(png))) > 0
                volume[int(frame_number)] |= pixels  # BUG: frame numbers are 1-based
    return volume
