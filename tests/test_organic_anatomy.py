"""Issue 26's organic anatomy: masks as annotators paint them, drawn by Hypothesis.

Shapes are measured on the rasterised mask (what the PNGs, the phantom and the oracle share), with
a flood fill of our own in numpy: holes are background pixels the border cannot reach, components
are 4-connected pieces.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbmock import defaults
from lbmock.labelmap import label_slices, mask_features, rasterise
from lbmock.strategies import annotations as shapes
from lbmock.strategies.served_world import seeded_world
from lbmock.world import MaskShape, Plane


def flood(seed: np.ndarray, within: np.ndarray) -> np.ndarray:
    """The pixels of ``within`` 4-connected to ``seed``."""
    reached = seed & within
    while True:
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= within
        if (grown == reached).all():
            return reached
        reached = grown


def components(mask: np.ndarray) -> int:
    left, count = mask.copy(), 0
    while left.any():
        seed = np.zeros_like(left)
        seed.flat[np.flatnonzero(left)[0]] = True
        left &= ~flood(seed, left)
        count += 1
    return count


def has_hole(mask: np.ndarray) -> bool:
    """Background the image border cannot reach."""
    border = np.zeros_like(mask)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    return bool((~mask & ~flood(border, ~mask)).any())


def touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def bbox_fill(mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask)
    return mask.sum() / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))


def default_world_keyframes():
    world = seeded_world(defaults.SEED, defaults.ROWS)
    for row in world:
        for label in row.labels[:1]:
            for feature in mask_features(label):
                plane = row.volume.plane(feature.plane)
                for kf in feature.keyframes:
                    yield row, feature, kf, rasterise(kf.geometry, plane) != 0


@pytest.fixture(scope="module")
def default_masks():
    return [mask for *_rest, mask in default_world_keyframes()]


def test_most_masks_of_the_default_world_are_not_rectangles(default_masks):
    assert len(default_masks) >= 50
    organic = sum(bbox_fill(m) < 0.9 for m in default_masks)
    assert organic > 0.75 * len(default_masks), f"{organic} of {len(default_masks)} fill under 90% of their box"


def test_the_default_world_has_holes_pieces_border_cuts_and_single_voxels(default_masks):
    assert sum(has_hole(m) for m in default_masks) >= 3
    assert sum(components(m) > 1 for m in default_masks) >= 3
    assert sum(touches_border(m) for m in default_masks) >= 3
    assert sum(int(m.sum()) == 1 for m in default_masks) >= 1


def test_the_default_world_has_overlapping_structures_and_the_higher_index_wins():
    overlaps = 0
    world = seeded_world(defaults.SEED, defaults.ROWS)
    for row in world:
        label = row.labels[0] if row.labels else None
        features = mask_features(label)
        axial = [(i, kf) for i, f in enumerate(features, 1) if f.plane == "Axial" for kf in f.keyframes]
        by_frame: dict[int, list] = {}
        for index, kf in axial:
            by_frame.setdefault(kf.frame, []).append((index, kf))
        crowded = {frame: kfs for frame, kfs in by_frame.items() if len(kfs) > 1}
        if not crowded:
            continue
        plane = row.volume.plane("Axial")
        for k, slice_labels in enumerate(label_slices(row, label)):
            for (low, a), (high, b) in itertools.pairwise(crowded.get(k + 1, [])):
                both = (rasterise(a.geometry, plane) != 0) & (rasterise(b.geometry, plane) != 0)
                if both.any():
                    overlaps += 1
                    assert (slice_labels[both] >= max(low, high)).all()
    assert overlaps >= 1


PLANES = st.builds(Plane, st.just("Axial"), st.integers(1, 200), st.integers(1, 200), st.just(1))


@settings(max_examples=200, deadline=None)
@given(st.data(), PLANES)
def test_every_drawn_shape_is_non_empty_and_sets_its_centre(data, plane):
    shape = data.draw(shapes.mask_shapes(plane))
    mask = rasterise(shape, plane) != 0
    assert mask[int(shape.cy), int(shape.cx)]


@settings(max_examples=100, deadline=None)
@given(st.data(), st.integers(64, 300), st.integers(64, 300))
def test_a_holed_blob_away_from_the_border_has_a_hole(data, width, height):
    plane = Plane("Axial", width, height, 1)
    shape = data.draw(shapes.holed_blobs(plane))
    assert shape.holes
    if (shape.cx - shape.rx * shape.reach > 1 and shape.cx + shape.rx * shape.reach < width - 1
            and shape.cy - shape.ry * shape.reach > 1 and shape.cy + shape.ry * shape.reach < height - 1):
        assert has_hole(rasterise(shape, plane) != 0)


@settings(max_examples=100, deadline=None)
@given(st.data(), st.integers(8, 300), st.integers(8, 300))
def test_a_blob_at_the_border_touches_it(data, width, height):
    plane = Plane("Axial", width, height, 1)
    assert touches_border(rasterise(data.draw(shapes.blobs(plane, at_border=True)), plane) != 0)


def test_a_blob_is_its_lobes_and_nothing_else():
    """A blob whose harmonic pushes its outline out along x and in along y, pixel by pixel."""
    plane = Plane("Axial", 41, 41, 1)
    blob = MaskShape("blob", 20.5, 20.5, 10.0, 10.0, ((2, 0.25, 0.0),))  # r = 1 + .25 cos 2t
    mask = rasterise(blob, plane) != 0
    assert mask[20, 20 + 12] and not mask[20, 20 + 13]  # along x the outline reaches 12.5 pixels
    assert mask[20 + 7, 20] and not mask[20 + 8, 20]    # along y 7.5
    assert mask[20, 20 - 12] and not mask[20, 20 - 13] and mask[20 - 7, 20] and not mask[20 - 8, 20]
    sine = rasterise(MaskShape("blob", 20.5, 20.5, 10.0, 10.0, ((2, 0.0, 0.25),)), plane) != 0
    assert sine[20 + 8, 20 + 8] and not mask[20 + 8, 20 + 8]  # sin 2t: the bulge turned by 45 degrees
    ring = MaskShape("ellipse", 20.5, 20.5, 10.0, 10.0, holes=(MaskShape("ellipse", 25.5, 20.5, 2.0, 2.0),),
                     parts=(MaskShape("rectangle", 2.5, 2.5, 1.0, 1.0),))
    got = rasterise(ring, plane) != 0
    assert not got[20, 25] and got[20, 20] and got[2, 2] and components(got) == 2 and has_hole(got)
