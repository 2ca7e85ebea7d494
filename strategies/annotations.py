"""Strategies for what annotators draw: volumes, polylines, mask shapes,
answers to classification questions, features (objects on a plane, keyframes
grouped into segments) and labels.

Each strategy is a thin ``@composite`` around a ``draw_x(Choices, ...)``
body, which served worlds call directly (same choices, same values).
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import strategies as st

from lbmock import ids
from lbmock.medical import phrases
from lbmock.strategies.choices import Choices
from lbmock.strategies.vocabulary import DAY, EPOCH_MIN, SALT_MAX, salts
from lbmock.world import (
    MASK_NOT_DRAWN,
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


# Organic anatomy.  What annotators paint, one keyframe at a time, in 20ths: smooth blobs (10),
# blobs with holes (3), structures in several pieces (3), blobs cut by the image border (1), and
# the shapes of old, each rare: a rectangle, an ellipse, a single voxel (1 each).  Those come
# first, so that Hypothesis shrinks a failing world towards the simplest shape that still fails.
MAX_LOBE_SUM = 0.45      # blob: the outline's radius stays within 1 +- this (smooth, star-shaped)
HOLED_LOBE_SUM = 0.12    # a holed blob wobbles less, so its holes stay inside it
MIN_HOLED_RADIUS = 8     # pixels: below this a hole would be a pixel or two, not a hole
_HALF = 0.7071067811865476  # the eight directions a hole may lie in (literals: no libm, same on every host)
DIRECTIONS = ((1.0, 0.0), (_HALF, _HALF), (0.0, 1.0), (-_HALF, _HALF),
              (-1.0, 0.0), (-_HALF, -_HALF), (0.0, -1.0), (_HALF, -_HALF))


def _centre(c: Choices, plane: Plane) -> tuple[float, float]:
    """A pixel centre inside ``plane``: the pixel a shape always sets."""
    return c.integer(0, plane.width - 1) + 0.5, c.integer(0, plane.height - 1) + 0.5


def _radii(c: Choices, plane: Plane, low: int = 1, fraction: int = 4) -> tuple[float, float]:
    return (float(c.integer(low, max(low, plane.width // fraction))),
            float(c.integer(low, max(low, plane.height // fraction))))


def _lobes(c: Choices, budget: float) -> tuple[tuple[int, float, float], ...]:
    """2 to 4 harmonics (k = 2..6, increasing) whose coefficients' magnitudes sum to at most ``budget``."""
    ks = sorted({c.integer(2, 6) for _ in range(c.integer(2, 4))})
    share = budget / (2 * len(ks))
    return tuple((k, round(c.floating(-share, share), 4), round(c.floating(-share, share), 4)) for k in ks)


def draw_blob(c: Choices, plane: Plane, at_border: bool = False) -> MaskShape:
    """A smooth blob; ``at_border``: centred on an edge pixel, so the image border cuts it."""
    cx, cy = _centre(c, plane)
    if at_border:
        side = c.integer(0, 3)
        if side < 2:
            cx = 0.5 if side == 0 else plane.width - 0.5
        else:
            cy = 0.5 if side == 2 else plane.height - 0.5
    rx, ry = _radii(c, plane)
    return MaskShape("blob", cx, cy, rx, ry, _lobes(c, MAX_LOBE_SUM))


def draw_holed_blob(c: Choices, plane: Plane) -> MaskShape:
    """A blob with one or two holes inside it, never over its centre (a plane too small for a
    visible hole gets a plain blob)."""
    if min(plane.width, plane.height) // 4 < MIN_HOLED_RADIUS:
        return draw_blob(c, plane)
    cx, cy = _centre(c, plane)
    rx, ry = _radii(c, plane, low=MIN_HOLED_RADIUS)
    holes = []
    first = c.integer(0, 7)
    for n in range(c.integer(1, 2)):
        # centre at 0.35..0.55 of the radius; size 0.15..0.25: the hole spans 0.1..0.8 of the
        # radius, clear of the centre and inside an outline that never dips below 0.88
        ux, uy = DIRECTIONS[(first + 4 * n) % 8]  # a second hole lies on the opposite side
        d, e = c.floating(0.35, 0.55), c.floating(0.15, 0.25)
        holes.append(MaskShape("ellipse", round(cx + d * rx * ux, 4), round(cy + d * ry * uy, 4),
                               round(e * rx, 4), round(e * ry, 4)))
    return MaskShape("blob", cx, cy, rx, ry, _lobes(c, HOLED_LOBE_SUM), holes=tuple(holes))


def draw_structure_in_pieces(c: Choices, plane: Plane) -> MaskShape:
    """A blob and one to three smaller blobs elsewhere on the plane: several components (pieces
    that happen to meet merge, as they would on a real image)."""
    main = draw_blob(c, plane)
    parts = []
    for _ in range(c.integer(1, 3)):
        px, py = _centre(c, plane)
        prx, pry = _radii(c, plane, fraction=8)
        parts.append(MaskShape("blob", px, py, prx, pry, _lobes(c, MAX_LOBE_SUM)))
    return replace(main, parts=tuple(parts))


def draw_overlapping_shape(c: Choices, plane: Plane, other: MaskShape) -> MaskShape:
    """A blob half to twice ``other``'s size, centred within a third of a radius of ``other``'s
    centre: the two overlap (the default world's test counts them)."""
    cx = min(max(int(other.cx + c.floating(-0.33, 0.33) * other.rx), 0), plane.width - 1) + 0.5
    cy = min(max(int(other.cy + c.floating(-0.33, 0.33) * other.ry), 0), plane.height - 1) + 0.5
    rx = float(max(1, round(other.rx * c.floating(0.5, 2.0))))
    ry = float(max(1, round(other.ry * c.floating(0.5, 2.0))))
    return MaskShape("blob", cx, cy, rx, ry, _lobes(c, MAX_LOBE_SUM))


def draw_mask_shape(c: Choices, plane: Plane) -> MaskShape:
    """One keyframe's mask, from the mix above."""
    roll = c.integer(0, 19)
    if roll < 3:
        cx, cy = _centre(c, plane)
        if roll == 2:
            return MaskShape("rectangle", cx, cy, 0.5, 0.5)  # a single voxel
        rx, ry = _radii(c, plane)
        return MaskShape("rectangle" if roll == 0 else "ellipse", cx, cy, rx, ry)
    if roll < 13:
        return draw_blob(c, plane)
    if roll < 16:
        return draw_holed_blob(c, plane)
    if roll < 19:
        return draw_structure_in_pieces(c, plane)
    return draw_blob(c, plane, at_border=True)


@st.composite
def mask_shapes(draw: st.DrawFn, plane: Plane) -> MaskShape:
    """A mask keyframe as annotators paint them: mostly smooth blobs, some with holes, some in
    several pieces, some cut by the border; rarely an ellipse, a rectangle or a single voxel.
    Its centre pixel lies inside ``plane`` and is always set: never an empty mask."""
    return draw_mask_shape(Choices(draw), plane)


@st.composite
def blobs(draw: st.DrawFn, plane: Plane, at_border: bool = False) -> MaskShape:
    """A smooth blob (``at_border``: centred on an edge pixel, cut by the image border)."""
    return draw_blob(Choices(draw), plane, at_border)


@st.composite
def holed_blobs(draw: st.DrawFn, plane: Plane) -> MaskShape:
    """A blob with one or two holes inside it (a plain blob on planes too small for a visible hole)."""
    return draw_holed_blob(Choices(draw), plane)


@st.composite
def structures_in_pieces(draw: st.DrawFn, plane: Plane) -> MaskShape:
    """A blob and one to three smaller blobs elsewhere on ``plane``."""
    return draw_structure_in_pieces(Choices(draw), plane)


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
                 object_answers: bool = True, over: Feature | None = None, shapes: bool = True) -> Feature:
    """The feature (see :func:`features`); ``object_answers=False``: its keyframes answer no nested question.

    ``over`` (a mask feature, for a mask ``tool``): the new structure's first keyframe lies on
    ``over``'s first keyframe and overlaps it, as neighbouring organs' masks do.  Mask shapes are
    drawn apart (:meth:`Choices.apart`): ``shapes=False`` (an export pass, which renders mask URLs,
    never shapes) leaves them :data:`~lbmock.world.MASK_NOT_DRAWN`, every other value the same.
    """
    if over is not None and tool.kind == "mask":
        plane = volume.plane(over.plane)
        beneath = over.keyframes[0]
    else:
        plane, beneath = volume.plane(c.pick(PLANES)), None
    n_key = c.integer(1, min(3 if tool.kind == "polyline" else 2, plane.frame_count))
    n_points = c.integer(2, 6) if tool.kind == "polyline" else 0
    # Keyframes sit a few frames apart, as annotators place them: sorted and
    # distinct by construction, and inside the plane.
    frames = [beneath.frame if beneath is not None else c.integer(1, plane.frame_count)]
    for _ in range(n_key - 1):
        nxt = frames[-1] + c.integer(1, MAX_KEYFRAME_GAP)
        if nxt > plane.frame_count:
            break
        frames.append(nxt)
    keyframes = []
    undrawn = None if shapes else MASK_NOT_DRAWN
    for frame in frames:
        if tool.kind == "polyline":
            geometry: Polyline | MaskShape = draw_polyline(c, plane, n_points)
        elif beneath is not None and frame == beneath.frame:
            geometry = c.apart(draw_overlapping_shape, plane, beneath.geometry, undrawn=undrawn)
        else:
            geometry = c.apart(draw_mask_shape, plane, undrawn=undrawn)
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
               created_at: int, reviews: tuple[Review, ...], updated_at: int, shapes: bool = True) -> Label:
    """A label (see :func:`labels`); ``shapes=False``: its mask shapes undrawn (see :func:`draw_feature`)."""
    n_features = c.integer(0, MAX_FEATURES_PER_LABEL)
    label_id = minter.mint(created_at)
    drawn: list[Feature] = []
    for _ in range(n_features):
        tool = c.pick(project.ontology.tools)
        masks = [f for f in drawn if f.tool.kind == "mask"]
        # a quarter of the masks drawn after another lie over it: overlapping structures
        over = c.pick(masks) if tool.kind == "mask" and masks and c.integer(0, 3) == 3 else None
        drawn.append(draw_feature(c, tool, volume, minter, created_at, project.object_classifications, over,
                                  shapes))
    feats = tuple(drawn)
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
