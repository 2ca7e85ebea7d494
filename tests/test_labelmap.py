"""label_slices: every mask keyframe lands where the README's mapping says, as the PNGs show it."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
from dicom_worlds import reference_volume
from hypothesis import given, settings
from hypothesis import strategies as st

from lbmock.labelmap import choose_label, label_slices, mask_features
from lbmock.strategies import labels, seeded_world, worlds
from lbmock.world import DataRow, Feature, Keyframe, Label, MaskShape, Polyline, Tool, Volume


@st.composite
def small_labelled_rows(draw: st.DrawFn) -> DataRow:
    """A data row of a tiny volume (overlaps are frequent) with one to three labels."""
    world = draw(worlds(min_rows=1, max_rows=1))
    volume = Volume(rows=draw(st.integers(1, 9)), cols=draw(st.integers(1, 9)), slices=draw(st.integers(1, 8)))
    row_labels = tuple(draw(labels(world.project, volume)) for _ in range(draw(st.integers(1, 3))))
    return dataclasses.replace(world.row(0), volume=volume).with_labels(row_labels)


def stacked(row: DataRow, label: Label | None = None) -> np.ndarray:
    """label_slices as one [i, j, k] array (tests only: the function itself never stacks)."""
    return np.stack(list(label_slices(row, label)), axis=-1).transpose(1, 0, 2)


@settings(max_examples=150, deadline=None)
@given(small_labelled_rows())
def test_every_mask_lands_on_its_slice_column_or_row_and_the_higher_index_wins(row):
    for label in row.labels:
        got = stacked(row, label)
        assert got.shape == (row.volume.cols, row.volume.rows, row.volume.slices)
        np.testing.assert_array_equal(got, reference_volume(row, label))
        features = mask_features(label)
        assert set(np.unique(got).tolist()) <= set(range(len(features) + 1))
        # under each mask: its own index, or a higher one painted over it
        axis = {"Axial": 2, "Sagittal": 0, "Coronal": 1}
        for index, feature in enumerate(features, start=1):
            alone = stacked(row, dataclasses.replace(label, features=(feature,))) > 0
            for kf in feature.keyframes:  # a mask is never empty, on its own slice/column/row
                assert alone.take(kf.frame - 1, axis=axis[feature.plane]).any()
            assert (got[alone] >= index).all()


@settings(max_examples=50, deadline=None)
@given(small_labelled_rows())
def test_slices_stream_one_frame_at_a_time_in_file_order(row):
    gen = label_slices(row)
    assert inspect.isgenerator(gen)
    first = next(gen)
    assert first.shape == (row.volume.rows, row.volume.cols)
    assert first.dtype == np.uint8
    assert 1 + sum(1 for _ in gen) == row.volume.slices
    # the default label is the row's first
    np.testing.assert_array_equal(stacked(row), stacked(row, row.labels[0]))


def _tool(kind: str) -> Tool:
    return Tool("cktool0000000000000000000", "liver", "liver", "#1CE6FF", kind)


def _row(volume: Volume, *features: Feature) -> DataRow:
    row = seeded_world(1, 1).row(0)
    label = Label("cklabel000000000000000000", row.created_by, 0, 0, 1, 0, False, (), tuple(features), (), ())
    return dataclasses.replace(row, volume=volume).with_labels((label,))


def test_worked_example_on_a_non_square_volume():
    # rows=3, cols=4, slices=5: every axis has its own length, so a swapped axis cannot pass.
    vol = Volume(rows=3, cols=4, slices=5)
    square = MaskShape("rectangle", 0.5, 0.5, 0.5, 0.5)  # exactly pixel (0, 0)
    sag = Feature("ckfeat000000000000000sag0", _tool("mask"), "Sagittal", ((Keyframe(2, square),),))
    cor = Feature("ckfeat000000000000000cor0", _tool("mask"), "Coronal",
                  ((Keyframe(3, MaskShape("rectangle", 3.5, 4.5, 0.5, 0.5)),),))
    axi = Feature("ckfeat000000000000000axi0", _tool("mask"), "Axial",
                  ((Keyframe(5, MaskShape("rectangle", 3.5, 2.5, 0.5, 0.5)),),))
    line = Feature("ckfeat000000000000000pol0", _tool("polyline"), "Axial",
                   ((Keyframe(1, Polyline(((0.0, 0.0), (3.0, 2.0)))),),))
    got = stacked(_row(vol, sag, line, cor, axi))
    # Sagittal frame 2, pixel (0, 0) -> column i=1, row j=0, slice k=0
    # Coronal frame 3, pixel (3, 4)  -> column i=3, row j=2, slice k=4
    # Axial frame 5, pixel (3, 2)    -> column i=3, row j=2, slice k=4 (index 3 overwrites 2)
    # the polyline owns no index and no voxel
    assert [tuple(int(n) for n in ijk) for ijk in np.argwhere(got)] == [(1, 0, 0), (3, 2, 4)]
    assert got[1, 0, 0] == 1 and got[3, 2, 4] == 3


def test_a_row_without_labels_yields_background():
    row = _row(Volume(2, 3, 4)).with_labels(())
    assert choose_label(row) is None
    assert not stacked(row).any()


def test_choose_label_names_the_rows_labels_when_the_id_is_unknown():
    row = _row(Volume(2, 3, 4))
    assert choose_label(row, row.labels[0].id) is row.labels[0]
    with pytest.raises(KeyError, match=row.labels[0].id):
        choose_label(row, "nope")
