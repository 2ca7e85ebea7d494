"""Strategies for what annotators draw: volumes, polylines, mask shapes,
answers to classification questions, features (objects on a plane, keyframes
grouped into segments) and labels.

Each strategy is a thin ``@composite`` around a ``draw_x(Choices, ...)``
body, which served worlds call directly (same choices, same values).
"""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from lbmock import ids
from lbmock.medical import phrases
from lbmock.strategies.choices import Choices
from lbmock.strategies.vocabulary import DAY, EPOCH_MIN, SALT_MAX, salts
from lbmock.world import (
    PLANES,
    Answer,
    ClassificationSchema,
    Feature,
    FrameClassification,
    Keyframe,
    Label,
    MaskShape,
    Plane,
    Polyline,
    Project,
    Review,
    Tool,
    Volume,
)
from lbmock.world_spec import VolumeSpec

SIDES = (64, 128, 256, 512)
MAX_SLICES = 400
MAX_FEATURES_PER_LABEL = 4
MAX_KEYFRAME_GAP = 12


ODD_SIDES = (25, 519)  # odd Rows, in this range: the DICOM variant odd-sizes


def _odd_rows(c: Choices) -> int:
    return 2 * c.integer(ODD_SIDES[0] // 2, ODD_SIDES[1] // 2) + 1


def _not_power_of_two(c: Choices) -> int:
    n = c.integer(ODD_SIDES[0] - 1, ODD_SIDES[1] + 1)
    return n + 1 if n & (n - 1) == 0 else n


def draw_volume(c: Choices, ranges: VolumeSpec | None = None, odd_sizes: bool = False) -> Volume:
    """A row's volume; ``odd_sizes`` (the DICOM variant ``odd-sizes``) draws odd Rows and Columns
    that are no power of two, where a world file's ``ranges`` do not fix them."""
    if odd_sizes:
        return Volume(rows=c.integer(*ranges.rows) if ranges and ranges.rows else _odd_rows(c),
                      cols=c.integer(*ranges.columns) if ranges and ranges.columns else _not_power_of_two(c),
                      slices=c.integer(*ranges.frames) if ranges and ranges.frames else c.integer(1, MAX_SLICES))
    if ranges is None:
        return Volume(rows=c.pick(SIDES), cols=c.pick(SIDES), slices=c.integer(1, MAX_SLICES))
    return Volume(rows=c.integer(*ranges.rows) if ranges.rows else c.pick(SIDES),
                  cols=c.integer(*ranges.columns) if ranges.columns else c.pick(SIDES),
                  slices=c.integer(*ranges.frames) if ranges.frames else c.integer(1, MAX_SLICES))


@st.composite
def volumes(draw: st.DrawFn, ranges: VolumeSpec | None = None) -> Volume:
    """DICOM volume geometry: 64 to 512 pixels a side, 1 to 400 slices (or within ``ranges``)."""
    return draw_volume(Choices(draw), ranges)


def draw_polyline(c: Choices, plane: Plane, n_points: int) -> Polyline:
    return Polyline(tuple((round(c.floating(0, plane.width), 3), round(c.floating(0, plane.height), 3))
                          for _ in range(n_points)))


@st.composite
def polylines(draw: st.DrawFn, plane: Plane, n_points: int) -> Polyline:
    """A polyline of ``n_points`` points inside ``plane`` (3-decimal coordinates)."""
    return draw_polyline(Choices(draw), plane, n_points)


def draw_mask_shape(c: Choices, plane: Plane) -> MaskShape:
    shape = "ellipse" if c.boolean() else "rectangle"
    cx = c.integer(0, plane.width - 1) + 0.5
    cy = c.integer(0, plane.height - 1) + 0.5
    rx = c.integer(1, max(1, plane.width // 4))
    ry = c.integer(1, max(1, plane.height // 4))
    return MaskShape(shape, cx, cy, float(rx), float(ry))


@st.composite
def mask_shapes(draw: st.DrawFn, plane: Plane) -> MaskShape:
    """A filled ellipse or rectangle whose centre pixel lies inside ``plane``: never an empty mask."""
    return draw_mask_shape(Choices(draw), plane)


def draw_answer(c: Choices, schema: ClassificationSchema, minter: ids.IdMinter, at: int) -> Answer:
    if schema.kind == "text":
        return Answer(minter.mint(at), schema, text="; ".join(c.words(phrases(), 1, 4)))
    if schema.kind == "radio":
        return Answer(minter.mint(at), schema, options=(c.pick(schema.options),))
    chosen = [o for o in schema.options if c.boolean()] or [schema.options[0]]
    return Answer(minter.mint(at), schema, options=tuple(chosen))


@st.composite
def answers(draw: st.DrawFn, schema: ClassificationSchema, minter: ids.IdMinter | None = None,
            at: int = EPOCH_MIN) -> Answer:
    """An answer to ``schema``: one radio option, some checklist options, or text."""
    return draw_answer(Choices(draw), schema, minter or ids.IdMinter(1, draw(salts())), at)


def draw_feature(c: Choices, tool: Tool, volume: Volume, minter: ids.IdMinter, at: int,
                 object_answers: bool = True) -> Feature:
    """The feature (see :func:`features`); ``object_answers=False``: its keyframes answer no nested question."""
    plane = volume.plane(c.pick(PLANES))
    n_key = c.integer(1, min(3 if tool.kind == "polyline" else 2, plane.frame_count))
    n_points = c.integer(2, 6) if tool.kind == "polyline" else 0
    # Keyframes sit a few frames apart, as annotators place them: sorted and
    # distinct by construction, and inside the plane.
    frames = [c.integer(1, plane.frame_count)]
    for _ in range(n_key - 1):
        nxt = frames[-1] + c.integer(1, MAX_KEYFRAME_GAP)
        if nxt > plane.frame_count:
            break
        frames.append(nxt)
    keyframes = []
    for frame in frames:
        if tool.kind == "polyline":
            geometry: Polyline | MaskShape = draw_polyline(c, plane, n_points)
        else:
            geometry = draw_mask_shape(c, plane)
        nested = (tuple(draw_answer(c, q, minter, at) for q in tool.classifications if q.required or c.boolean())
                  if tool.classifications and object_answers else ())  # most tools ask no nested question
        keyframes.append(Keyframe(frame, geometry, nested))
    if tool.kind == "mask":  # masks do not interpolate: one segment per keyframe
        segments = tuple((kf,) for kf in keyframes)
    else:  # split the sorted keyframes into consecutive runs
        bounds = [0, *(i for i in range(1, len(keyframes)) if c.boolean()), len(keyframes)]
        segments = tuple(tuple(keyframes[a:b]) for a, b in itertools.pairwise(bounds))
    return Feature(minter.mint(at), tool, plane.name, segments)


@st.composite
def features(draw: st.DrawFn, tool: Tool, volume: Volume, minter: ids.IdMinter | None = None,
             at: int = EPOCH_MIN) -> Feature:
    """One object of ``tool`` on one plane, with keyframes grouped into segments.

    Polylines keep their point count across keyframes (so they interpolate);
    masks are keyframe-only, each keyframe its own segment.
    """
    return draw_feature(Choices(draw), tool, volume, minter or ids.IdMinter(1, draw(salts())), at)


def draw_label(c: Choices, project: Project, volume: Volume, minter: ids.IdMinter,
               created_at: int, reviews: tuple[Review, ...], updated_at: int) -> Label:
    n_features = c.integer(0, MAX_FEATURES_PER_LABEL)
    label_id = minter.mint(created_at)
    feats = tuple(draw_feature(c, c.pick(project.ontology.tools), volume, minter, created_at,
                               project.object_classifications) for _ in range(n_features))
    questions = project.ontology.classifications
    # Required questions are always answered (their draw is skipped, not made: drawn ontologies have none)
    global_answers = tuple(draw_answer(c, q, minter, created_at) for q in questions
                           if q.scope == "global" and (q.required or c.boolean()))
    per_frame = []
    for q in questions:
        if q.scope == "frame" and feats and (q.required or c.boolean()):
            feat = c.pick(feats)
            frame = c.pick(feat.keyframes).frame
            per_frame.append(FrameClassification(feat.plane, frame, draw_answer(c, q, minter, created_at)))
        elif q.scope == "frame" and q.required and not feats:  # nothing drawn to hang it on: the first slice
            per_frame.append(FrameClassification("Axial", 1, draw_answer(c, q, minter, created_at)))
    return Label(
        id=label_id, created_by=c.pick(project.people), created_at=created_at, updated_at=updated_at,
        # Labelbox times labelling to the millisecond: fractional seconds.
        seconds_to_create=c.integer(1_000, 3_600_000) / 1000,
        seconds_to_review=c.integer(1_000, 600_000) / 1000 if reviews else 0,
        skipped=not feats and c.boolean(), reviews=reviews,
        features=feats, classifications=global_answers, frame_classifications=tuple(per_frame),
    )


@st.composite
def labels(draw: st.DrawFn, project: Project, volume: Volume | None = None) -> Label:
    """A DICOM label of ``project``: features on any planes, global and per-frame classifications."""
    c = Choices(draw)
    volume = volume or draw_volume(c)
    created = project.created_at + c.integer(0, 180 * DAY)
    return draw_label(c, project, volume, ids.IdMinter(1, c.integer(0, SALT_MAX)), created, (), created)
