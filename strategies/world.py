"""Hypothesis strategies for the DICOM export world.

Small composable pieces, each drawing sizes first and contents second so
that shrinking removes rows, labels, features and keyframes before it
fiddles with coordinates.  Every ``@composite`` body stays short; the
invariants of :mod:`lbmock.world` hold by construction, not by filtering.
"""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from lbmock import ids
from lbmock.people import company_pool, person_pool, word_pool
from lbmock.world import (
    PLANES,
    Answer,
    Attachment,
    Batch,
    ClassificationSchema,
    DataRow,
    Dataset,
    Feature,
    FrameClassification,
    Keyframe,
    Label,
    MaskShape,
    MetadataSchema,
    MetadataValue,
    Ontology,
    Option,
    Organization,
    Person,
    Plane,
    Polyline,
    Project,
    Review,
    Tool,
    Volume,
    Workflow,
    WorkflowEvent,
    WorkflowStatus,
    WorkflowTask,
    World,
)
from strategies.choices import Choices

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# 2021-01-01 .. 2025-12-31: project creation dates.
EPOCH_MIN = 1_609_459_200_000
EPOCH_MAX = 1_767_139_200_000

# Labelbox's default tool palette (the sample's "#1CE6FF", "#FF34FF" lead it).
PALETTE = ("#1CE6FF", "#FF34FF", "#FF4A46", "#008941", "#006FA6", "#A30059", "#FFDBE5",
           "#7A4900", "#0000A6", "#63FFAC", "#B79762", "#004D43", "#8FB0FF", "#997D87")

MAX_FEATURES_PER_LABEL = 4
MAX_KEYFRAME_GAP = 12


# ---------------------------------------------------------------- small pieces


def words(min_size: int = 1, max_size: int = 3) -> st.SearchStrategy[list[str]]:
    """A few lower-case words from the Faker word pool."""
    return st.lists(st.sampled_from(word_pool()), min_size=min_size, max_size=max_size)


def people() -> st.SearchStrategy[tuple[str, str]]:
    """A (name, email) pair from the Faker person pool."""
    return st.sampled_from(person_pool())


SALT_MAX = 2**48
SIDES = (64, 128, 256, 512)
MAX_SLICES = 400
GAP = 2 * DAY  # longest wait between two workflow events


def salts() -> st.SearchStrategy[int]:
    """The salt of an :class:`~lbmock.ids.IdMinter` (one draw per owner)."""
    return st.integers(0, SALT_MAX)


def draw_volume(c: Choices) -> Volume:
    return Volume(rows=c.pick(SIDES), cols=c.pick(SIDES), slices=c.integer(1, MAX_SLICES))


@st.composite
def volumes(draw: st.DrawFn) -> Volume:
    """DICOM volume geometry: 64 to 512 pixels a side, 1 to 400 slices."""
    return draw_volume(Choices(draw))


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


# ---------------------------------------------------------------- ontology & project


@st.composite
def classification_schemas(draw: st.DrawFn, minter: ids.IdMinter, scope: str,
                           at: int) -> ClassificationSchema:
    """A radio, checklist or text question with its options."""
    kind = draw(st.sampled_from(("radio", "checklist", "text")))
    n_options = 0 if kind == "text" else draw(st.integers(2, 4))
    name = " ".join(draw(words(1, 2))) + (" (frame)" if scope == "frame" else "")
    options = []
    for i, w in enumerate(draw(st.lists(st.sampled_from(word_pool()), min_size=n_options,
                                        max_size=n_options, unique=True))):
        options.append(Option(minter.mint(at), minter.mint(at), w, f"{w}_{i}"))
    return ClassificationSchema(minter.mint(at), name, name.replace(" ", "_"), kind, scope, tuple(options))


@st.composite
def tools(draw: st.DrawFn, minter: ids.IdMinter, index: int, at: int) -> Tool:
    """A polyline or segmentation-mask tool, possibly with nested questions."""
    kind = draw(st.sampled_from(("polyline", "mask")))
    n_nested = draw(st.integers(0, 1))
    nested = tuple(draw(classification_schemas(minter, "object", at)) for _ in range(n_nested))
    name = f"{draw(st.sampled_from(word_pool()))} {index + 1}"
    return Tool(minter.mint(at), name, name.replace(" ", "_"), PALETTE[index % len(PALETTE)], kind, nested)


@st.composite
def projects(draw: st.DrawFn, project_id: str | None = None) -> Project:
    """A DICOM project: ontology, workflow, datasets, batches, people.

    ``project_id`` pins the id (``lbmock serve --project-id`` reuses a
    user's real id); otherwise one is minted.
    """
    n_tools = draw(st.integers(1, 4))
    n_global = draw(st.integers(0, 2))
    n_datasets = draw(st.integers(1, 3))
    n_batches = draw(st.integers(1, 3))
    n_people = draw(st.integers(2, 8))
    created = draw(st.integers(EPOCH_MIN, EPOCH_MAX))
    minter = ids.IdMinter(ids.PROJECT_SLOT, draw(salts()))
    minted_id = minter.mint(created)  # minted even when pinned, so other ids stay put
    pid = project_id or minted_id
    tools_ = tuple(draw(tools(minter, i, created)) for i in range(n_tools))
    questions = tuple(draw(classification_schemas(minter, "global" if i % 2 == 0 else "frame", created))
                      for i in range(n_global))
    crew = draw(st.lists(people(), min_size=n_people, max_size=n_people, unique=True))
    persons = tuple(Person(minter.mint(created), name, email) for name, email in crew)
    title = " ".join(draw(words(1, 3)))
    datasets = tuple(Dataset(minter.mint(created), f"{w}-{i}.dcm-series")
                     for i, w in enumerate(draw(words(n_datasets, n_datasets))))
    salt = draw(salts())
    batches = tuple(Batch(ids.uuid_from(salt, i), f"batch-{i + 1}", draw(st.integers(1, 5)))
                    for i in range(n_batches))
    workflow = Workflow(*(WorkflowTask(ids.uuid_from(salt, 100 + i), name) for i, name in enumerate(
        ("Initial labeling task", "Initial review task", "Rework (all rejected)", "Done"))))
    return Project(
        id=pid, name=f"{title} DICOM", description=f"DICOM segmentation: {title}",
        created_at=created, updated_at=created + draw(st.integers(0, 30 * DAY)),
        organization=Organization(minter.mint(created), draw(st.sampled_from(company_pool())), created),
        owner=persons[0], people=persons,
        ontology=Ontology(minter.mint(created), f"{title} ontology", tools_, questions),
        workflow=workflow, datasets=datasets, batches=batches,
        metadata_schemas=_metadata_schemas(minter, created),
        embedding_id=minter.mint(created), embedding_name="CLIP ViT-B/32", embedding_dims=8,
        consensus_expected_label_count=1,
    )


def _metadata_schemas(minter: ids.IdMinter, at: int) -> tuple[MetadataSchema, ...]:
    # "tag" and "captureDateTime" are Labelbox reserved fields with fixed ids.
    return (
        MetadataSchema("cko8s9r5v0001h2dk9elqdidh", "tag", "string"),
        MetadataSchema("cko8sbscr0003h2dk04w86hof", "captureDateTime", "datetime"),
        MetadataSchema(minter.mint(at), "slice_thickness_mm", "number"),
    )


# ---------------------------------------------------------------- annotations


def draw_answer(c: Choices, schema: ClassificationSchema, minter: ids.IdMinter, at: int) -> Answer:
    if schema.kind == "text":
        return Answer(minter.mint(at), schema, text=" ".join(c.words(word_pool(), 1, 4)))
    if schema.kind == "radio":
        return Answer(minter.mint(at), schema, options=(c.pick(schema.options),))
    chosen = [o for o in schema.options if c.boolean()] or [schema.options[0]]
    return Answer(minter.mint(at), schema, options=tuple(chosen))


@st.composite
def answers(draw: st.DrawFn, schema: ClassificationSchema, minter: ids.IdMinter | None = None,
            at: int = EPOCH_MIN) -> Answer:
    """An answer to ``schema``: one radio option, some checklist options, or text."""
    return draw_answer(Choices(draw), schema, minter or ids.IdMinter(1, draw(salts())), at)


def draw_feature(c: Choices, tool: Tool, volume: Volume, minter: ids.IdMinter, at: int) -> Feature:
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
        nested = tuple(draw_answer(c, q, minter, at) for q in tool.classifications if c.boolean())
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
    feats = tuple(draw_feature(c, c.pick(project.ontology.tools), volume, minter, created_at)
                  for _ in range(n_features))
    questions = project.ontology.classifications
    global_answers = tuple(draw_answer(c, q, minter, created_at) for q in questions
                           if q.scope == "global" and c.boolean())
    per_frame = []
    for q in questions:
        if q.scope == "frame" and feats and c.boolean():
            feat = c.pick(feats)
            frame = c.pick(feat.keyframes).frame
            per_frame.append(FrameClassification(feat.plane, frame, draw_answer(c, q, minter, created_at)))
    return Label(
        id=label_id, created_by=c.pick(project.people), created_at=created_at, updated_at=updated_at,
        seconds_to_create=c.integer(1, 3600),
        seconds_to_review=c.integer(1, 600) if reviews else 0,
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


# ---------------------------------------------------------------- workflow


def draw_workflow_history(c: Choices, project: Project, status: WorkflowStatus,
                          start: int) -> tuple[WorkflowEvent, ...]:
    wf = project.workflow
    cycles = 0 if status == WorkflowStatus.TO_LABEL else c.integer(0, 2)
    t = start + c.integer(1, GAP)
    events = [WorkflowEvent("MOVE", t, c.pick(project.people), None, wf.labeling)]
    if status == WorkflowStatus.TO_LABEL:
        return tuple(events)
    t += c.integer(1, GAP)
    events.append(WorkflowEvent("MOVE", t, c.pick(project.people), wf.labeling, wf.review))
    for i in range(cycles + (1 if status == WorkflowStatus.IN_REWORK else 0)):
        t += c.integer(1, GAP)
        events.append(WorkflowEvent("REJECT", t, c.pick(project.people), wf.review, wf.rework))
        if status == WorkflowStatus.IN_REWORK and i == cycles:
            return tuple(events)
        t += c.integer(1, GAP)
        events.append(WorkflowEvent("REWORK", t, c.pick(project.people), wf.rework, wf.review))
    if status == WorkflowStatus.DONE:
        t += c.integer(1, GAP)
        events.append(WorkflowEvent("APPROVE", t, c.pick(project.people), wf.review, None))
    return tuple(events)


@st.composite
def workflow_histories(draw: st.DrawFn, project: Project, status: WorkflowStatus,
                       start: int) -> tuple[WorkflowEvent, ...]:
    """A chronological workflow history that ends in ``status``.

    ToLabel: moved into labeling.  InReview: labelled and moved to review,
    possibly after rework cycles.  InRework: last rejected.  Done: approved.
    """
    return draw_workflow_history(Choices(draw), project, status, start)


def _reviews(minter: ids.IdMinter, history: tuple[WorkflowEvent, ...]) -> tuple[Review, ...]:
    return tuple(Review(minter.mint(e.created_at), "Approve" if e.action == "APPROVE" else "Reject",
                        e.created_at, e.created_by)
                 for e in history if e.action in ("APPROVE", "REJECT"))


# ---------------------------------------------------------------- data rows


STATUSES = tuple(WorkflowStatus)


def draw_data_row(c: Choices, project: Project, index: int) -> DataRow:
    status = c.pick(STATUSES)
    volume = draw_volume(c)
    created = project.created_at + c.integer(0, 180 * DAY)
    minter = ids.IdMinter(index + 1, c.integer(0, SALT_MAX))
    row_id = minter.mint(created)
    history = draw_workflow_history(c, project, status, created + c.integer(1, HOUR))
    row_labels: tuple[Label, ...] = ()
    if status != WorkflowStatus.TO_LABEL:
        # The label is created just before the row moves on to review, and
        # updated at its last rework.
        submitted = history[1].created_at
        reworks = [e.created_at for e in history if e.action == "REWORK"]
        created_label = submitted - c.integer(0, min(HOUR, submitted - history[0].created_at))
        row_labels = (draw_label(c, project, volume, minter, created_label, _reviews(minter, history),
                                 max([created_label, *reworks])),)
    dataset = c.pick(project.datasets)
    stem = f"{'-'.join(c.words(word_pool(), 1, 2))}-{index:06d}"
    return DataRow(
        index=index, id=row_id, global_key=f"{dataset.name}/{stem}.dcm", external_id=f"{stem}.dcm",
        row_data=f"https://storage.googleapis.com/lbmock-dicom/{dataset.name}/{stem}.dcm",
        dataset=dataset, batch=c.pick(project.batches),
        created_at=created, updated_at=created + c.integer(0, HOUR),
        created_by=c.pick(project.people), volume=volume,
        metadata=draw_metadata(c, project, created), attachments=draw_attachments(c, minter, created),
        status=status, history=history, labels=row_labels,
        embedding_seed=c.integer(0, 2**32 - 1), priority=c.integer(1, 5),
    )


@st.composite
def data_rows(draw: st.DrawFn, project: Project, index: int = 0) -> DataRow:
    """Data row number ``index`` of ``project``: a DICOM series, its workflow and labels.

    ToLabel rows have no label; every other status has exactly one.  Every
    id the row owns encodes ``index`` (see :mod:`lbmock.ids`).
    """
    return draw_data_row(Choices(draw), project, index)


METADATA_NUMBERS = (0.5, 0.625, 1.0, 1.25, 2.5, 3.0, 5.0)


def draw_metadata(c: Choices, project: Project, created: int) -> tuple[MetadataValue, ...]:
    """Some of the project's metadata fields, with values."""
    out = []
    for schema in project.metadata_schemas:
        if not c.boolean():
            continue
        if schema.kind == "string":
            value: object = "-".join(c.words(word_pool(), 1, 2))
        elif schema.kind == "datetime":
            value = created - c.integer(0, 365 * DAY)
        else:
            value = c.pick(METADATA_NUMBERS)
        out.append(MetadataValue(schema, value))
    return tuple(out)


ATTACHMENT_KINDS = ("TEXT", "IMAGE", "RAW_TEXT")


def draw_attachments(c: Choices, minter: ids.IdMinter, created: int) -> tuple[Attachment, ...]:
    """Zero to two attachments (a radiology report, a key image, a note)."""
    out = []
    for _ in range(c.integer(0, 2)):
        kind = c.pick(ATTACHMENT_KINDS)
        word = "-".join(c.words(word_pool(), 1, 2))
        value = {"TEXT": f"https://storage.googleapis.com/lbmock-dicom/reports/{word}.txt",
                 "IMAGE": f"https://storage.googleapis.com/lbmock-dicom/key-images/{word}.png",
                 "RAW_TEXT": f"Findings: {word.replace('-', ' ')}."}[kind]
        out.append(Attachment(minter.mint(created), kind, value, word))
    return tuple(out)


# ---------------------------------------------------------------- worlds


@st.composite
def worlds(draw: st.DrawFn, min_rows: int = 0, max_rows: int = 5,
           project_id: str | None = None) -> World:
    """A project and ``min_rows..max_rows`` data rows, for ``@given`` tests."""
    n_rows = draw(st.integers(min_rows, max_rows))
    project = draw(projects(project_id))
    c = Choices(draw)
    return World(project, tuple(draw_data_row(c, project, i) for i in range(n_rows)))
