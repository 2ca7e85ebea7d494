"""Small DICOM worlds for property tests, and the label map a user would build from the PNGs.

Served volumes go up to 512 x 512 x 400; property tests that write DICOM and
NIfTI files draw tiny ones (a few voxels a side: overlaps are frequent and a
swapped axis cannot hide, since every axis gets its own length) with every
mix of the hostile variants.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import strategies as st

from lbmock import ids
from lbmock.dicom.series import J2K_MIN_SIDE, TRANSFER_SYNTAXES, VARIANTS
from lbmock.labelmap import mask_features
from lbmock.png import decode_png
from lbmock.render.masks import render_mask_png
from lbmock.strategies import worlds
from lbmock.strategies.annotations import draw_label
from lbmock.strategies.choices import Choices
from lbmock.strategies.dicom import dicom_series
from lbmock.strategies.vocabulary import SALT_MAX
from lbmock.world import DataRow, Label, Volume, World


@st.composite
def small_volumes(draw: st.DrawFn, max_side: int = 9, max_slices: int = 8, min_frame_pixels: int = 1,
                  min_side: int = 1) -> Volume:
    rows = draw(st.integers(min_side, max(max_side, min_side)))
    least_cols = max(min_side, -(-min_frame_pixels // rows))
    cols = draw(st.integers(least_cols, max(max_side, least_cols)))
    return Volume(rows=rows, cols=cols, slices=draw(st.integers(1, max_slices)))


@st.composite
def small_dicom_worlds(draw: st.DrawFn, max_rows: int = 2, max_labels: int = 2,
                       variants: object = None, min_frame_pixels: int = 1) -> World:
    """A world of 1..``max_rows`` small labelled rows; ``variants=None`` draws any mix of the hostile ones."""
    world = draw(worlds(min_rows=max_rows, max_rows=max_rows))
    rows = []
    if variants is None:  # any mix, one transfer syntax at most (a file has one)
        drawn = draw(st.sets(st.sampled_from(VARIANTS)))
        syntaxes = sorted(drawn & set(TRANSFER_SYNTAXES))
        chosen = drawn - set(syntaxes[1:])
        if "deflated" in chosen:  # deflated frames are not encapsulated: no offset table of either kind
            chosen -= {"extended-offset-table"}
        if "monochrome1" in chosen:  # an Enhanced XA image: unsigned pixels
            chosen -= {"signed-pixels"}
    else:
        chosen = variants
    if "jpeg-ls-lossless" in chosen:  # pyjpegls encodes no frame under ~20 pixels (its buffer is the raw size)
        min_frame_pixels = max(min_frame_pixels, 64)
    # pylibjpeg-openjpeg encodes no frame under 32 pixels a side: one row's frames of 32 x 32 or more
    min_side, max_side = (J2K_MIN_SIDE, J2K_MIN_SIDE + 3) if "jpeg2000-lossless" in chosen else (1, 9)
    c = Choices(draw)
    for row in list(world)[: draw(st.integers(1, max_rows))]:
        volume = draw(small_volumes(max_side=max_side, min_frame_pixels=min_frame_pixels, min_side=min_side))
        minter = ids.IdMinter(row.index + 1, c.integer(0, SALT_MAX))  # the row's own ids, unique in the world
        row_labels = tuple(draw_label(c, world.project, volume, minter, row.created_at, (), row.created_at)
                           for _ in range(c.integer(1, max_labels)))
        series = draw(dicom_series(volume=volume, variants=chosen))
        rows.append(dataclasses.replace(row, volume=volume, series=series).with_labels(row_labels))
    return World(world.project, tuple(rows))


def reference_volume(row: DataRow, label: Label) -> np.ndarray:
    """The label map indexed [i, j, k], built from the decoded mask PNGs a user downloads."""
    v = row.volume
    ref = np.zeros((v.cols, v.rows, v.slices), dtype=np.int64)
    for index, feature in enumerate(mask_features(label), start=1):
        plane = v.plane(feature.plane)
        for kf in feature.keyframes:
            ys, xs = np.nonzero(decode_png(render_mask_png(kf.geometry, plane)).pixels)
            n = kf.frame - 1
            if feature.plane == "Axial":
                ref[xs, ys, n] = index  # slice N-1
            elif feature.plane == "Sagittal":
                ref[n, xs, ys] = index  # column N-1; PNG x runs along rows, y along frames
            else:
                ref[xs, n, ys] = index  # row N-1; PNG x runs along columns, y along frames
    return ref
