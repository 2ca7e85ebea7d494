"""The canonical DICOM export world: plain, immutable data, no I/O.

Every payload lbmock serves (export v2 rows, legacy rows, per-frame records,
mask PNGs) is a *view* rendered from these objects by :mod:`lbmock.render`.
Nothing here knows about JSON, HTTP or Hypothesis.

Conventions (documented once, relied on everywhere):

* Timestamps are integer milliseconds since the Unix epoch, UTC.
* Frame numbers are **1-based**: frame ``n`` of a plane with ``frame_count``
  frames satisfies ``1 <= n <= frame_count``.  Labelbox's sample export keys
  frames by number with no frame 0 anywhere, and Labelbox numbers video
  frames (the model DICOM planes share) from 1.
* Plane geometry follows the DICOM volume: a volume of ``rows`` x ``cols``
  pixels per slice and ``slices`` slices has an Axial plane of ``cols`` x
  ``rows`` (width x height) with ``slices`` frames, a Sagittal plane of
  ``rows`` x ``slices`` with ``cols`` frames and a Coronal plane of
  ``cols`` x ``slices`` with ``rows`` frames.
"""

from __future__ import annotations

import bisect
import enum
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal, Protocol

from lbmock.frozen import slot_init
from lbmock.ids import row_index_of  # on the classes every data row builds: ~40% cheaper to construct

PLANES: tuple[str, ...] = ("Axial", "Sagittal", "Coronal")
FIRST_FRAME = 1

ToolKind = Literal["polyline", "mask"]
ClassificationKind = Literal["radio", "checklist", "text"]
ClassificationScope = Literal["global", "frame", "object"]


class QualityMode(str, enum.Enum):
    """How a project measures label quality (Labelbox's consensus and benchmarks).

    ``consensus``: some data rows are labelled by several labellers, each label
    scored against the others.  ``benchmark``: some data rows carry a gold
    label that the other labels on the row are scored against.
    """

    NONE = "none"
    CONSENSUS = "consensus"
    BENCHMARK = "benchmark"


class WorkflowStatus(str, enum.Enum):
    """Where a data row sits in the project's workflow (Labelbox's names)."""

    TO_LABEL = "ToLabel"
    IN_REVIEW = "InReview"
    IN_REWORK = "InRework"
    DONE = "Done"


# ---------------------------------------------------------------- people, org


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    created_at: int


# ---------------------------------------------------------------- ontology


@dataclass(frozen=True, slots=True)
class Option:
    schema_id: str  # featureSchemaId
    feature_id: str  # answers carry the option's feature id in exports
    name: str
    value: str
    schema_node_id: str = ""  # a user ontology's schemaNodeId ("": derived when served)


@dataclass(frozen=True, slots=True)
class ClassificationSchema:
    schema_id: str
    name: str
    value: str
    kind: ClassificationKind
    scope: ClassificationScope
    options: tuple[Option, ...] = ()
    required: bool = False  # always answered where the world draws answers
    schema_node_id: str = ""


@dataclass(frozen=True, slots=True)
class Tool:
    schema_id: str
    name: str
    value: str
    color: str  # "#RRGGBB", upper-case hex as in Labelbox exports
    kind: ToolKind
    classifications: tuple[ClassificationSchema, ...] = ()
    required: bool = False
    schema_node_id: str = ""

    @property
    def annotation_kind(self) -> str:
        return "DICOMPolyline" if self.kind == "polyline" else "DICOMSegmentationMask"


@dataclass(frozen=True, slots=True)
class Ontology:
    id: str
    name: str
    tools: tuple[Tool, ...]
    classifications: tuple[ClassificationSchema, ...]  # global and per-frame
    # The user's ``normalized`` document (compact JSON), served verbatim; None: a drawn ontology,
    # served as rendered by lbmock.ontology.normalized.
    source: str | None = None


# ---------------------------------------------------------------- project


@dataclass(frozen=True, slots=True)
class WorkflowTask:
    """A node of the project's workflow (ids are UUIDs, as in exports)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Dataset:
    id: str
    name: str
    modality: str | None = None  # a world file's; None: what the name announces, else drawn per row


@dataclass(frozen=True, slots=True)
class Batch:
    id: str  # a UUID, as in Labelbox's project_details.batch_id
    name: str
    priority: int


@dataclass(frozen=True, slots=True)
class MetadataSchema:
    schema_id: str
    name: str
    kind: Literal["string", "number", "datetime", "enum"]
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class Workflow:
    labeling: WorkflowTask
    review: WorkflowTask
    rework: WorkflowTask
    done: WorkflowTask


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    description: str
    created_at: int
    updated_at: int
    organization: Organization
    owner: Person  # the user the API key belongs to
    people: tuple[Person, ...]
    ontology: Ontology
    workflow: Workflow
    datasets: tuple[Dataset, ...]
    batches: tuple[Batch, ...]
    metadata_schemas: tuple[MetadataSchema, ...]
    embedding_id: str
    embedding_name: str
    embedding_dims: int
    consensus_expected_label_count: int = 1
    quality: QualityMode = QualityMode.NONE
    # Whether labels answer questions nested in objects: off unless a world asks, as every public DICOM
    # sample has "classifications": [] on its objects; the DICOM import notebook lists radio, checklist and
    # text classifications as not supported
    object_classifications: bool = False


# ---------------------------------------------------------------- geometry


@slot_init
@dataclass(frozen=True, slots=True)
class Plane:
    name: str
    width: int
    height: int
    frame_count: int


@slot_init
@dataclass(frozen=True, slots=True)
class Volume:
    """A DICOM series: ``rows`` x ``cols`` pixels per slice, ``slices`` slices."""

    rows: int
    cols: int
    slices: int

    def plane(self, name: str) -> Plane:
        if name == "Axial":
            return Plane(name, self.cols, self.rows, self.slices)
        if name == "Sagittal":
            return Plane(name, self.rows, self.slices, self.cols)
        if name == "Coronal":
            return Plane(name, self.cols, self.slices, self.rows)
        raise KeyError(name)


# ---------------------------------------------------------------- the DICOM series behind a row
#
# Numbers are Python floats whose shortest repr is a short decimal (0.734, -12.5): they are
# written to DICOM's decimal strings exactly, so every reader parses back the very same floats.

Modality = Literal["CT", "MR"]
Vector = tuple[float, float, float]


@slot_init
@dataclass(frozen=True, slots=True)
class SeriesGeometry:
    """Where the voxels are, in DICOM patient coordinates (LPS, millimetres).

    ``row_cosine`` is the direction of increasing column index (DICOM's
    ImageOrientationPatient[0:3]), ``column_cosine`` that of increasing row
    index ([3:6]).  ``row_spacing`` is the distance between rows and
    ``column_spacing`` between columns (PixelSpacing, in that order).
    Frame ``f`` (1-based, file order) is centred on
    ``origin + (f - 1) * slice_step * (row_cosine x column_cosine)``;
    ``slice_step`` is negative when positions run against frame order.
    ``thickness`` is SliceThickness when it differs from the spacing (variant
    ``thickness-not-spacing``); None: the spacing, as most series have it.

    Irregular grids (lbmock.dicom.geometry: the grid a label map is written on): ``slots`` gives
    each file frame its place on the regular grid of slices (frame ``f`` is centred on
    ``origin + slots[f - 1] * slice_step * (normal + shear * column_cosine)``): a permutation for
    frames stored out of spatial order, a skipped slot for a missing slice; None: ``f - 1``.
    ``shear`` (gantry tilt) moves each next slice along the column cosine by ``shear`` times the
    step, so the grid's third axis is not perpendicular to the frames; None: 0.
    """

    row_cosine: Vector
    column_cosine: Vector
    row_spacing: float
    column_spacing: float
    slice_step: float
    origin: Vector
    # keyword-only with a default: every series built before this field is built the same way
    thickness: float | None = field(default=None, kw_only=True)
    slots: tuple[int, ...] | None = field(default=None, kw_only=True)
    shear: float | None = field(default=None, kw_only=True)

    @property
    def slice_thickness(self) -> float:
        """SliceThickness (mm): the nominal thickness, not the distance between slices."""
        return abs(self.slice_step) if self.thickness is None else self.thickness

    @property
    def slice_spacing(self) -> float:
        """SpacingBetweenSlices (mm): the distance between adjacent frame centres."""
        return abs(self.slice_step)


@slot_init
@dataclass(frozen=True, slots=True)
class DicomSeries:
    """One multi-frame DICOM image: the volume behind a data row."""

    volume: Volume
    modality: Modality
    patient_id: str
    patient_name: str
    study_uid: str
    series_uid: str
    sop_uid: str
    frame_of_reference_uid: str
    acquired_at: int  # epoch ms: study, series, acquisition and content date/time
    geometry: SeriesGeometry
    rescale_slope: float
    rescale_intercept: float
    window_center: float
    window_width: float
    noise_seed: int  # the phantom's noise, frame by frame
    # Pixel encoding and patient position (hostile variants, lbmock.dicom.series); keyword-only with
    # defaults, so a plain series (and lbmock.dicom.user_files.FileSeries) is built as before.
    pixel_representation: int = field(default=0, kw_only=True)  # 1: signed, two's complement
    bits_stored: int = field(default=16, kw_only=True)           # of BitsAllocated 16
    pixel_padding: bool = field(default=False, kw_only=True)     # PixelPaddingValue outside the field of view
    patient_position: str = field(default="HFS", kw_only=True)   # HFS, FFS, HFP or FFP
    transfer_syntax: str = field(default="1.2.840.10008.1.2.1", kw_only=True)  # Explicit VR Little Endian
    extended_offset_table: bool = field(default=False, kw_only=True)  # encapsulated frames located by (7FE0,0001)
    photometric_interpretation: str = field(default="MONOCHROME2", kw_only=True)  # or MONOCHROME1 (Enhanced XA)

    @property
    def rescale_type(self) -> str:
        return "HU" if self.modality == "CT" else "US"  # US: unspecified units


@slot_init
@dataclass(frozen=True, slots=True)
class Polyline:
    points: tuple[tuple[float, float], ...]  # (x, y) in plane pixels


@slot_init
@dataclass(frozen=True, slots=True)
class MaskShape:
    """A filled region of a plane, as an annotator paints it; rasterises to a non-empty binary image.

    The outline is an ellipse, a rectangle, or a *blob*: an ellipse whose radius wobbles with the
    angle, ``r(theta) = 1 + sum(a * cos(k * theta) + b * sin(k * theta) for k, a, b in lobes)`` in
    units of ``(rx, ry)`` (the coefficients' magnitudes sum below 1, so the outline is smooth and
    star-shaped about the centre).  ``holes`` are cut out of it; ``parts`` are further components, painted after the
    holes are cut.  ``(cx, cy)`` lies inside the plane and its pixel is always set, so the
    region is never empty (see :func:`lbmock.labelmap.rasterise`).
    """

    shape: Literal["ellipse", "rectangle", "blob"]
    cx: float
    cy: float
    rx: float
    ry: float
    lobes: tuple[tuple[int, float, float], ...] = ()  # blob: (harmonic k, cosine and sine coefficients)
    holes: tuple[MaskShape, ...] = ()
    parts: tuple[MaskShape, ...] = ()

    @property
    def reach(self) -> float:
        """How far the outline reaches from the centre, in units of ``(rx, ry)`` (its own parts aside)."""
        return 1.0 + sum(abs(a) + abs(b) for _k, a, b in self.lobes)


@slot_init
@dataclass(frozen=True, slots=True)
class RecordedMask:
    """A mask known only from a replayed export (``lbmock.replay``): its PNG is an asset of the
    recording (``assets/masks/<feature id>/<frame>.png``), never drawn; ``url`` is the recorded link."""

    url: str


Geometry = Polyline | MaskShape | RecordedMask


# ---------------------------------------------------------------- annotations


@slot_init
@dataclass(frozen=True, slots=True)
class Answer:
    """A classification answer: radio -> one option, checklist -> several,
    text -> a string."""

    feature_id: str
    schema: ClassificationSchema
    options: tuple[Option, ...] = ()
    text: str | None = None


@slot_init
@dataclass(frozen=True, slots=True)
class Keyframe:
    frame: int
    geometry: Geometry
    classifications: tuple[Answer, ...] = ()


@slot_init
@dataclass(frozen=True, slots=True)
class Feature:
    """One annotated object on one plane, alive over one or more segments.

    Each segment is a run of keyframes; the segment covers the frame range
    from its first to its last keyframe.  Segments never overlap.
    """

    feature_id: str
    tool: Tool
    plane: str
    segments: tuple[tuple[Keyframe, ...], ...]

    @property
    def keyframes(self) -> tuple[Keyframe, ...]:
        return tuple(kf for seg in self.segments for kf in seg)

    def segment_ranges(self) -> list[tuple[int, int]]:
        return [(seg[0].frame, seg[-1].frame) for seg in self.segments]

    def frames(self, interpolated: bool) -> Iterator[tuple[int, Geometry, bool, tuple[Answer, ...]]]:
        """Yield ``(frame, geometry, is_keyframe, classifications)`` in frame order.

        With ``interpolated`` the frames between keyframes of a segment are
        included, their polylines linearly interpolated (masks are never
        interpolated: their segments are single keyframes).
        """
        for seg in self.segments:
            for i, kf in enumerate(seg):
                yield kf.frame, kf.geometry, True, kf.classifications
                if not interpolated or i + 1 == len(seg):
                    continue
                nxt = seg[i + 1]
                span = nxt.frame - kf.frame
                for step in range(1, span):
                    yield (kf.frame + step, interpolate(kf.geometry, nxt.geometry, step / span),
                           False, kf.classifications)


def interpolate(a: Geometry, b: Geometry, t: float) -> Geometry:
    """Linear interpolation between two keyframe geometries of one feature."""
    if isinstance(a, Polyline) and isinstance(b, Polyline):
        return Polyline(tuple(
            (round(ax + (bx - ax) * t, 3), round(ay + (by - ay) * t, 3))
            for (ax, ay), (bx, by) in zip(a.points, b.points, strict=True)
        ))
    return a  # masks hold their keyframe's shape


@slot_init
@dataclass(frozen=True, slots=True)
class FrameClassification:
    plane: str
    frame: int
    answer: Answer


@slot_init
@dataclass(frozen=True, slots=True)
class Review:
    id: str
    action: Literal["Approve", "Reject"]
    created_at: int
    created_by: Person


@slot_init
@dataclass(frozen=True, slots=True)
class Label:
    """One labeller's label of a data row in one project.

    Quality fields (all ``None``/``False`` outside consensus and benchmark
    rows): ``consensus_score`` is this label's agreement with the other labels
    of a row labelled several times; on a benchmark row the gold label has
    ``is_benchmark`` and every other label a ``benchmark_score`` against it and
    its id in ``benchmark_reference_label``.  Scores lie in ``[0, 1]``.
    """

    id: str
    created_by: Person
    created_at: int
    updated_at: int
    seconds_to_create: float  # seconds, millisecond precision
    seconds_to_review: float
    skipped: bool
    reviews: tuple[Review, ...]
    features: tuple[Feature, ...]
    classifications: tuple[Answer, ...]  # global
    frame_classifications: tuple[FrameClassification, ...]
    consensus_score: float | None = None
    benchmark_score: float | None = None
    benchmark_reference_label: str | None = None
    is_benchmark: bool = False

    @property
    def seconds_to_label(self) -> float:
        """The legacy "Seconds to Label": creating the label plus reviewing it."""
        return round(self.seconds_to_create + self.seconds_to_review, 3)

    def feature(self, feature_id: str) -> Feature | None:
        for f in self.features:
            if f.feature_id == feature_id:
                return f
        return None

    @property
    def last_activity_at(self) -> int:
        return max([self.updated_at, *(r.created_at for r in self.reviews)])


# ---------------------------------------------------------------- data rows


@slot_init
@dataclass(frozen=True, slots=True)
class MetadataValue:
    schema: MetadataSchema
    value: str | float | int | Option  # datetime values are epoch ms (int)


@slot_init
@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    type: str  # a current Labelbox AttachmentType: IMAGE, RAW_TEXT, TEXT_URL, PDF_URL, VIDEO, HTML, ...
    value: str
    name: str


@slot_init
@dataclass(frozen=True, slots=True)
class WorkflowEvent:
    action: Literal["MOVE", "APPROVE", "REJECT", "REWORK"]
    created_at: int
    created_by: Person
    previous_task: WorkflowTask | None
    next_task: WorkflowTask | None


@slot_init
@dataclass(frozen=True, slots=True)
class ProjectRow:
    """A data row as one project sees it: its batch, workflow and labels there."""

    project_id: str
    batch: Batch
    status: WorkflowStatus
    history: tuple[WorkflowEvent, ...]  # chronological, oldest first
    labels: tuple[Label, ...]
    priority: int

    @property
    def task_name(self) -> str:
        return self.history[-1].next_task.name if self.history and self.history[-1].next_task else "Done"

    @property
    def last_activity_at(self) -> int:
        times = [e.created_at for e in self.history] + [lb.last_activity_at for lb in self.labels]
        return max(times, default=0)


class _NotDrawn:
    """What a row drawn for an export pass leaves undrawn because no export renders it: its DICOM
    series (~8 % of drawing a row) and its mask shapes (~12 %; an export holds mask URLs).  Any
    use of it is a bug, so every use says so."""

    __slots__ = ("_name", "_what")

    def __init__(self, name: str, what: str) -> None:
        self._name, self._what = name, what

    def __getattr__(self, name: str) -> object:
        raise AttributeError(f"this data row was drawn for an export pass, without its {self._what} "
                             f"(World.row_in_pass); use World.row for .{name}")

    def __repr__(self) -> str:
        return self._name


SERIES_NOT_DRAWN: Any = _NotDrawn("SERIES_NOT_DRAWN", "DICOM series")
MASK_NOT_DRAWN: Any = _NotDrawn("MASK_NOT_DRAWN", "mask shape")  # a mask keyframe's geometry in an export pass


@slot_init
@dataclass(frozen=True, slots=True)
class RecordedRow:
    """The export v2 row a replayed data row was read from (``lbmock.replay``): exports serve this
    JSON itself (compact text), its URLs pointed at the mock, rather than rendering the parsed row.
    ``assets`` is the folder holding its mask PNGs and DICOM file (``<file's folder>/assets``)."""

    text: str
    assets: str


@slot_init
@dataclass(frozen=True, slots=True)
class DataRow:
    """A DICOM series in a dataset, and its life in every project it belongs to.

    ``memberships[0]`` is the world's first project (every row belongs to it);
    ``status``, ``history``, ``labels``, ``batch``, ``priority`` and
    ``task_name`` are shortcuts to it.  ``global_key`` and ``external_id`` are
    ``None`` when the row has none (exports then leave the key out).
    """

    index: int  # position in the world; also encoded in every id of the row
    id: str
    global_key: str | None
    external_id: str | None
    dataset: Dataset
    created_at: int
    updated_at: int
    created_by: Person
    volume: Volume
    metadata: tuple[MetadataValue, ...]
    attachments: tuple[Attachment, ...]
    memberships: tuple[ProjectRow, ...]
    embedding_seed: int
    series: DicomSeries  # the multi-frame DICOM image behind the row; row_data (a signed URL) is rendered
    recorded: RecordedRow | None = None  # a replayed row: the recording it serves (lbmock.replay)

    @property
    def primary(self) -> ProjectRow:
        return self.memberships[0]

    @property
    def status(self) -> WorkflowStatus:
        return self.memberships[0].status

    @property
    def history(self) -> tuple[WorkflowEvent, ...]:
        return self.memberships[0].history

    @property
    def labels(self) -> tuple[Label, ...]:
        return self.memberships[0].labels

    @property
    def batch(self) -> Batch:
        return self.memberships[0].batch

    @property
    def priority(self) -> int:
        return self.memberships[0].priority

    @property
    def task_name(self) -> str:
        return self.memberships[0].task_name

    def with_labels(self, labels: tuple[Label, ...]) -> DataRow:
        """This row with other labels in its first project (tests build rows this way)."""
        return replace(self, memberships=(replace(self.memberships[0], labels=labels), *self.memberships[1:]))

    def in_project(self, project_id: str) -> ProjectRow | None:
        for membership in self.memberships:
            if membership.project_id == project_id:
                return membership
        return None

    @property
    def all_labels(self) -> Iterator[Label]:
        for membership in self.memberships:
            yield from membership.labels

    @property
    def last_activity_at(self) -> int:
        """Any activity on the row, in any project (export ``details.last_activity_at``)."""
        return max([self.updated_at, *(m.last_activity_at for m in self.memberships)])

    def label(self, label_id: str) -> Label | None:
        for lb in self.all_labels:
            if lb.id == label_id:
                return lb
        return None


@dataclass(frozen=True, slots=True)
class CatalogSlice:
    """A saved Catalog query: the rows of some datasets, optionally only those
    with a workflow status in some project.  ``lbmock`` seeds a couple."""

    id: str
    name: str
    description: str
    created_at: int
    dataset_ids: frozenset[str] | None = None
    statuses: frozenset[WorkflowStatus] | None = None


# ---------------------------------------------------------------- row placement

# Which dataset holds a row, and which further projects a row is in, are pure
# functions of ids and the row's index (not drawn): a dataset's or a project's
# rows are then known, and counted, without drawing a single row.


def _spread(key: str, index: int) -> int:
    # the hash of repr((key, index)), spelled out as it prints (no tuple per row)
    return int.from_bytes(hashlib.blake2b(f"({key!r}, {index})".encode(), digest_size=4).digest(), "big")


def dataset_for_row(datasets: Sequence[Dataset], index: int, plan: RowPlan | None = None) -> Dataset:
    """The dataset holding data row ``index`` (a plan's exact counts, else a hash of the index)."""
    if plan is not None and plan.dataset_ends is not None:
        return datasets[plan.bucket("datasets", index, plan.dataset_ends)]
    return datasets[_spread(datasets[0].id, index) % len(datasets)]


def row_joins(project_id: str, index: int, plan: RowPlan | None = None) -> bool:
    """Whether data row ``index`` is in a further project's batches (a plan's exact count, else two
    rows in three; every row is in the world's first project)."""
    wanted = plan.rows_of(project_id) if plan is not None else None
    if wanted is not None:
        return plan.position(f"project {project_id}", index) < wanted
    return _spread(project_id, index) % 3 != 0


def _feistel(key: str, bits: int, value: int) -> int:
    """A bijection on [0, 2**bits) (four rounds of a balanced Feistel network keyed by ``key``)."""
    half = bits // 2
    mask = (1 << half) - 1
    left, right = value >> half, value & mask
    for round_ in range(4):
        digest = hashlib.blake2b(f"{key}|{round_}|{right}".encode(), digest_size=8).digest()
        left, right = right, left ^ (int.from_bytes(digest, "big") & mask)
    return (left << half) | right


@dataclass(frozen=True, slots=True)
class RowPlan:
    """Where a world file puts rows: exact dataset counts, an exact status mix, exact row counts
    of further projects.  Each is a pure function of the row's index: its position in a keyed
    permutation of ``0..rows-1`` falls in one bucket of cumulative counts, so any row is placed
    without the others, and counts are exact.  None: drawn or hashed as without a plan."""

    key: str
    rows: int
    dataset_ends: tuple[int, ...] | None = None  # cumulative rows per dataset
    status_ends: tuple[int, ...] | None = None  # cumulative rows per WorkflowStatus, in enum order
    project_rows: tuple[tuple[str, int], ...] = ()  # (further project id, its rows)

    def rows_of(self, project_id: str) -> int | None:
        return next((n for pid, n in self.project_rows if pid == project_id), None)

    def position(self, what: str, index: int) -> int:
        """Row ``index``'s place in the permutation named ``what`` (cycle-walking to stay below rows)."""
        bits = max(2, (max(self.rows - 1, 1)).bit_length() + 1) & ~1  # even: the network is balanced
        value = index
        while True:
            value = _feistel(f"{self.key}|{what}", bits, value)
            if value < self.rows:
                return value

    def bucket(self, what: str, index: int, ends: tuple[int, ...]) -> int:
        return bisect.bisect_right(ends, self.position(what, index))

    def status(self, index: int) -> WorkflowStatus | None:
        """The first project's status of row ``index``, when the plan fixes the mix."""
        if self.status_ends is None:
            return None
        return tuple(WorkflowStatus)[self.bucket("status", index, self.status_ends)]


def exact_counts(weights: Sequence[float], total: int) -> tuple[int, ...]:
    """``total`` split in proportion to ``weights``, in whole numbers (largest remainder; ties to
    the earlier weight): the counts add up to ``total`` exactly."""
    whole = sum(weights)
    shares = [w * total / whole for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in by_remainder[:total - sum(counts)]:
        counts[i] += 1
    return tuple(counts)


# ---------------------------------------------------------------- the world


class RowSource(Protocol):
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> DataRow: ...


class CachedRows:
    """A read-only sequence of rows made on demand by ``_make`` (drawn, or read from a file), the
    ``cache_size`` most recently used kept (``_cache`` and ``_lock`` are not part of a pickle)."""

    _cache: OrderedDict[int, DataRow]
    _lock: threading.Lock
    _cache_size: int

    def _init_cache(self, cache_size: int | None = None) -> None:
        if cache_size is not None:
            self._cache_size = cache_size
        self._cache = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        raise NotImplementedError

    def _make(self, index: int) -> DataRow:
        raise NotImplementedError

    def _position(self, index: int) -> int:
        if not isinstance(index, int):
            raise TypeError("row indices are integers")
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return index

    def __getitem__(self, index: int) -> DataRow:
        index = self._position(index)
        with self._lock:
            row = self._cache.get(index)
            if row is not None:
                self._cache.move_to_end(index)
                return row
        row = self._make(index)
        with self._lock:
            self._cache[index] = row
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return row

    def __iter__(self) -> Iterator[DataRow]:
        for i in range(len(self)):
            yield self[i]


@dataclass(frozen=True)
class World:
    """The organisation's projects, its data rows, and saved slices.

    ``project`` is the first project: every data row belongs to it, and
    single-project code (project exports, ``export_labels``) serves it.
    ``projects`` lists every project (first is ``project``); they share the
    first project's datasets.  ``rows`` is any indexable sequence: a tuple for
    worlds drawn inside ``@given``, or a lazy, cached, per-row-seeded source for
    served worlds (see :func:`lbmock.strategies.seeded_world`) so that row ``i``
    never needs rows ``0..i-1``.
    """

    project: Project
    rows: Sequence[DataRow] | RowSource
    seed: int | None = None
    projects: tuple[Project, ...] = ()
    slices: tuple[CatalogSlice, ...] = ()
    plan: RowPlan | None = None  # a world file's exact counts (None: rows placed by hashes)

    def __post_init__(self) -> None:
        if not self.projects:
            object.__setattr__(self, "projects", (self.project,))
        elif self.projects[0] != self.project:
            raise ValueError("World.projects must start with World.project")

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[DataRow]:
        for i in range(len(self.rows)):
            yield self.rows[i]

    def row(self, index: int) -> DataRow:
        return self.rows[index]

    def index_of(self, entity_id: str) -> int | None:
        """The index of the row owning an id (a data row's, label's or feature's), or None.
        Every id lbmock mints names its row (:mod:`lbmock.ids`); a replayed world looks ids up."""
        index = row_index_of(entity_id)
        return index if index is not None and index < len(self) else None

    def row_in_pass(self, index: int) -> DataRow:
        """Row ``index`` for a pass over many rows (an export): a lazy source draws it without
        caching it, and may leave what no export renders undrawn (:data:`SERIES_NOT_DRAWN`,
        :data:`MASK_NOT_DRAWN`; see :meth:`lbmock.strategies.served_world.SeededRows.draw`)."""
        draw = getattr(self.rows, "draw", None)
        return draw(index) if draw is not None else self.rows[index]

    @property
    def datasets(self) -> tuple[Dataset, ...]:
        return self.project.datasets

    @property
    def quality(self) -> QualityMode:
        return self.project.quality

    def project_by_id(self, project_id: str) -> Project | None:
        for project in self.projects:
            if project.id == project_id:
                return project
        return None

    def dataset_by_id(self, dataset_id: str) -> Dataset | None:
        for dataset in self.datasets:
            if dataset.id == dataset_id:
                return dataset
        return None

    def slice_by_id(self, slice_id: str) -> CatalogSlice | None:
        for saved in self.slices:
            if saved.id == slice_id:
                return saved
        return None

    def dataset_at(self, index: int) -> Dataset:
        """The dataset of row ``index``, without drawing the row."""
        return dataset_for_row(self.datasets, index, self.plan)

    def in_project_at(self, project_id: str, index: int) -> bool:
        """Whether row ``index`` belongs to the project, without drawing the row."""
        return project_id == self.project.id or row_joins(project_id, index, self.plan)

    @cached_property
    def _counts(self) -> dict[str, int]:
        return {}

    def row_count(self, owner_id: str) -> int:
        """How many rows a project or dataset has (counted once per owner, without drawing rows)."""
        if owner_id == self.project.id:
            return len(self)
        if owner_id not in self._counts:
            plan = self.plan
            if self.dataset_by_id(owner_id) is not None:
                if plan is not None and plan.dataset_ends is not None:  # exact: no row to place
                    k = [d.id for d in self.datasets].index(owner_id)
                    self._counts[owner_id] = plan.dataset_ends[k] - (plan.dataset_ends[k - 1] if k else 0)
                else:
                    self._counts[owner_id] = sum(self.dataset_at(i).id == owner_id for i in range(len(self)))
            elif self.project_by_id(owner_id) is not None:
                wanted = plan.rows_of(owner_id) if plan is not None else None
                self._counts[owner_id] = wanted if wanted is not None else sum(
                    row_joins(owner_id, i) for i in range(len(self)))
            else:
                return 0
        return self._counts[owner_id]
