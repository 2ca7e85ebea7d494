"""Strategies for data rows (a DICOM series with its metadata, attachments, and
its workflow and labels in each project it is in) and for whole worlds (projects
sharing datasets, their rows, saved slices)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from lbmock import ids, medical
from lbmock.dicom.series import ODD_SIZES, check_variants
from lbmock.strategies.annotations import draw_label, draw_volume
from lbmock.strategies.choices import Choices
from lbmock.strategies.dicom import (
    dataset_modality,
    draw_acquisition_time,
    draw_dicom_series,
    draw_series_geometry,
    draw_variants,
    encodable,
)
from lbmock.strategies.projects import catalog_slices, projects, sibling_project
from lbmock.strategies.vocabulary import DAY, HOUR, SALT_MAX, salts
from lbmock.strategies.workflow import draw_workflow_history, reviews_of
from lbmock.world import (
    SERIES_NOT_DRAWN,
    Attachment,
    DataRow,
    Label,
    MetadataValue,
    Project,
    ProjectRow,
    QualityMode,
    RowPlan,
    Volume,
    WorkflowEvent,
    WorkflowStatus,
    World,
    dataset_for_row,
    row_joins,
)
from lbmock.world_spec import VolumeSpec

STATUSES = tuple(WorkflowStatus)
# Which optional identifiers a row has: about half have both, some one, some neither
# (export glossary: global_key and external_id appear "If utilized").
ID_PATTERNS = ((True, True), (True, True), (True, True), (True, False), (False, True), (False, False))
SCORE_STEPS = 1000  # agreement scores have three decimals


def _labels_of(c: Choices, project: Project, volume: Volume, minter: ids.IdMinter,
               history: tuple[WorkflowEvent, ...], shapes: bool = True) -> tuple[Label, ...]:
    """The label a row gets in a project once it has left labelling: created just before the
    row moves on to review, updated at its last rework."""
    submitted = history[1].created_at
    reworks = [e.created_at for e in history if e.action == "REWORK"]
    created_label = submitted - c.integer(0, min(HOUR, submitted - history[0].created_at))
    return (draw_label(c, project, volume, minter, created_label, reviews_of(minter, history),
                       max([created_label, *reworks]), shapes),)


def draw_quality_labels(c: Choices, project: Project, volume: Volume, minter: ids.IdMinter,
                        history: tuple[WorkflowEvent, ...], first: Label, shapes: bool = True) -> tuple[Label, ...]:
    """``first`` alone, or (on about half the rows of a consensus or benchmark project)
    ``first`` and labels by other labellers, with their agreement scores.

    Consensus: up to ``consensus_expected_label_count`` labels, each with a
    ``consensus_score``.  Benchmark: ``first`` is the gold label; one or two
    more labels carry a ``benchmark_score`` and reference it.  Every label is
    submitted before the row moves on to review; only ``first`` is reviewed.
    """
    if project.quality is QualityMode.NONE or not c.boolean():
        return (first,)
    wanted = project.consensus_expected_label_count - 1 if project.quality is QualityMode.CONSENSUS else 2
    others = [p for p in project.people if p != first.created_by]
    n_more = min(c.integer(1, max(1, wanted)), len(others))
    start, submitted = history[0].created_at, history[1].created_at
    extra = []
    for _ in range(n_more):
        author = others.pop(c.integer(0, len(others) - 1))
        created = submitted - c.integer(0, min(HOUR, submitted - start))
        extra.append(replace(draw_label(c, project, volume, minter, created, (), created, shapes), created_by=author))
    if project.quality is QualityMode.CONSENSUS:
        return tuple(replace(lb, consensus_score=c.integer(0, SCORE_STEPS) / SCORE_STEPS) for lb in (first, *extra))
    gold = replace(first, is_benchmark=True)
    return (gold, *(replace(lb, benchmark_score=c.integer(0, SCORE_STEPS) / SCORE_STEPS,
                            benchmark_reference_label=gold.id) for lb in extra))


def draw_project_row(c: Choices, project: Project, volume: Volume, minter: ids.IdMinter,
                     created: int, status: WorkflowStatus | None = None, shapes: bool = True) -> ProjectRow:
    """The row's life in a further project of the organisation (drawn after everything the
    first project draws, so adding projects never changes the first project's rows);
    ``status``: the one a plan gives (else drawn); ``shapes=False``: mask shapes undrawn."""
    status = _status(c, status)
    history = draw_workflow_history(c, project, status, created + c.integer(1, DAY))
    labels: tuple[Label, ...] = ()
    if status != WorkflowStatus.TO_LABEL:
        (first,) = _labels_of(c, project, volume, minter, history, shapes)
        labels = draw_quality_labels(c, project, volume, minter, history, first, shapes)
    return ProjectRow(project.id, c.pick(project.batches), status, history, labels, c.integer(1, 5))


def _status(c: Choices, planned: WorkflowStatus | None) -> WorkflowStatus:
    drawn = c.pick(STATUSES)  # drawn even when planned: the draws after it stay where they were
    return planned or drawn


def draw_data_row(c: Choices, project: Project, index: int, others: tuple[Project, ...] = (),
                  dicom_variants: frozenset[str] = frozenset(), volume: Volume | None = None,
                  with_series: bool = True, plan: RowPlan | None = None,
                  ranges: VolumeSpec | None = None, shapes: bool = True) -> DataRow:
    """The row (see :func:`data_rows`); ``with_series=False`` leaves its DICOM series undrawn
    (:data:`~lbmock.world.SERIES_NOT_DRAWN`), and ``shapes=False`` its mask shapes
    (:data:`~lbmock.world.MASK_NOT_DRAWN`), for an export pass, which renders neither: every other
    value is the same.
    ``plan`` fixes its dataset, status and further projects (a world file's exact counts);
    ``ranges`` bounds its volume's size, spacing and modality."""
    status = _status(c, plan.status(index) if plan is not None else None)
    volume = volume or encodable(draw_volume(c, ranges, ODD_SIZES in dicom_variants), dicom_variants)
    created = project.created_at + c.integer(0, 180 * DAY)
    minter = ids.IdMinter(index + 1, c.integer(0, SALT_MAX))
    row_id = minter.mint(created)
    history = draw_workflow_history(c, project, status, created + c.integer(1, HOUR))
    row_labels: tuple[Label, ...] = ()
    if status != WorkflowStatus.TO_LABEL:
        row_labels = _labels_of(c, project, volume, minter, history, shapes)
    dataset = dataset_for_row(project.datasets, index, plan)
    stem = f"{'-'.join(c.words(medical.series_words(), 1, 2))}-{index:06d}"
    folder = medical.slug_of(dataset.name)
    batch = c.pick(project.batches)
    updated = created + c.integer(0, HOUR)
    created_by = c.pick(project.people)
    metadata = draw_metadata(c, project, created)
    attachments = draw_attachments(c, minter, created)
    embedding_seed, priority = c.integer(0, 2**32 - 1), c.integer(1, 5)
    # Draws a single-project world without quality measures never makes come last.
    has_key, has_external = c.pick(ID_PATTERNS)
    if row_labels:
        row_labels = draw_quality_labels(c, project, volume, minter, history, row_labels[0], shapes)
    memberships = [ProjectRow(project.id, batch, status, history, row_labels, priority)]
    for other in others:
        if row_joins(other.id, index, plan):
            memberships.append(draw_project_row(c, other, volume, minter, created, shapes=shapes))
    # when the series was acquired: the file's dates and the row's captureDateTime (both passes draw it)
    acquired = draw_acquisition_time(c, created)
    # last: no earlier draw changed, and so it can be left out without changing any other value
    if with_series:
        series = draw_dicom_series(c, volume, dicom_variants, created, dataset_modality(dataset, ranges), ranges,
                                   acquired)
        thickness: float | None = series.geometry.slice_thickness
    else:  # the geometry is the series' first draw: the same thickness, without the rest of the series
        series, thickness = SERIES_NOT_DRAWN, draw_series_geometry(c, dicom_variants, ranges).slice_thickness
    metadata = agreeing_with_file(metadata, thickness, acquired)
    return DataRow(
        index=index, id=row_id, global_key=f"{folder}/{stem}.dcm" if has_key else None,
        external_id=f"{stem}.dcm" if has_external else None,
        dataset=dataset, created_at=created, updated_at=updated, created_by=created_by, volume=volume,
        metadata=metadata, attachments=attachments, memberships=tuple(memberships), embedding_seed=embedding_seed,
        series=series,
    )


@st.composite
def data_rows(draw: st.DrawFn, project: Project, index: int = 0, others: tuple[Project, ...] = (),
              dicom_variants: object = ()) -> DataRow:
    """Data row number ``index`` of ``project`` (and maybe of the ``others``): a DICOM
    series, its workflow and labels in each project.

    ToLabel rows have no label; every other status has one, or in consensus
    and benchmark projects sometimes several.  Every id the row owns encodes
    ``index`` (see :mod:`lbmock.ids`).  ``dicom_variants`` names hostile
    variants every row's series shows (:data:`lbmock.dicom.series.VARIANTS`).
    """
    return draw_data_row(Choices(draw), project, index, others, check_variants(dicom_variants))


METADATA_NUMBERS = (0.5, 0.625, 1.0, 1.25, 2.5, 3.0, 5.0)


SLICE_THICKNESS_FIELD = "slice_thickness_mm"
CAPTURE_DATETIME_FIELD = "captureDateTime"  # Labelbox's reserved field: when the asset was captured


def agreeing_with_file(metadata: tuple[MetadataValue, ...], thickness: float | None,
                       acquired_at: int | None) -> tuple[MetadataValue, ...]:
    """``metadata`` with the fields that describe the DICOM file set from the file served: the
    slice-thickness field to its SliceThickness, captureDateTime to its acquisition date and time
    (epoch ms).  A field whose value the file does not state (``None``) is left out: a field that
    names what the file holds must never contradict it."""
    from_file = {SLICE_THICKNESS_FIELD: thickness, CAPTURE_DATETIME_FIELD: acquired_at}
    out = []
    for m in metadata:
        if m.schema.name not in from_file:
            out.append(m)
        elif from_file[m.schema.name] is not None:
            out.append(MetadataValue(m.schema, from_file[m.schema.name]))  # (replace() costs 4 µs a row)
    return tuple(out)


def draw_metadata(c: Choices, project: Project, created: int) -> tuple[MetadataValue, ...]:
    """Some of the project's metadata fields, with values (a number field's value is drawn even
    where the row's series then sets it, see :func:`agreeing_with_file`, so later draws stay put)."""
    out = []
    for schema in project.metadata_schemas:
        if not c.boolean():
            continue
        if schema.kind == "string":
            value: object = "-".join(c.words(medical.series_words(), 1, 2))
        elif schema.kind == "datetime":
            value = created - c.integer(0, 365 * DAY)
        else:
            value = c.pick(METADATA_NUMBERS)
        out.append(MetadataValue(schema, value))
    return tuple(out)


# Current attachment types only (the SDK's AttachmentType: TEXT was removed, TEXT_URL replaces it).
ATTACHMENT_KINDS = ("TEXT_URL", "IMAGE", "RAW_TEXT", "PDF_URL")


def draw_attachments(c: Choices, minter: ids.IdMinter, created: int) -> tuple[Attachment, ...]:
    """Zero to two attachments (a radiology report, a key image, a note)."""
    out = []
    for _ in range(c.integer(0, 2)):
        kind = c.pick(ATTACHMENT_KINDS)
        words = c.words(medical.phrases(), 1, 2)
        name = medical.slug_of(words[0])
        value = {"TEXT_URL": f"https://storage.googleapis.com/lbmock-dicom/reports/{name}.txt",
                 "PDF_URL": f"https://storage.googleapis.com/lbmock-dicom/reports/{name}.pdf",
                 "IMAGE": f"https://storage.googleapis.com/lbmock-dicom/key-images/{name}.png",
                 "RAW_TEXT": f"Findings: {'; '.join(words)}."}[kind]
        out.append(Attachment(minter.mint(created), kind, value, name))
    return tuple(out)


@st.composite
def worlds(draw: st.DrawFn, min_rows: int = 0, max_rows: int = 5, project_id: str | None = None,
           quality: QualityMode | None = None, n_projects: int | None = None, dicom_variants: object = (),
           object_classifications: bool = False) -> World:
    """Projects and ``min_rows..max_rows`` data rows, for ``@given`` tests.

    ``quality`` and ``n_projects`` fix the quality mode and the number of
    projects; left ``None``, they are drawn (any mode, one or two projects), so
    consumers meet rows labelled several times and rows in several projects.
    ``dicom_variants``: hostile DICOM variants every row's series shows;
    ``object_classifications``: labels answer questions nested in objects (default: none).
    """
    variants = check_variants(dicom_variants)
    n_rows = draw(st.integers(min_rows, max_rows))
    mode = quality if quality is not None else draw(st.sampled_from(tuple(QualityMode)))
    count = n_projects if n_projects is not None else draw(st.integers(1, 2))
    project = draw(projects(project_id, mode, 0, object_classifications))
    others = tuple(sibling_project(project, draw(projects(None, mode, k, object_classifications)))
                   for k in range(1, count))
    c = Choices(draw)
    rows = tuple(draw_data_row(c, project, i, others, variants) for i in range(n_rows))
    return World(project, rows, projects=(project, *others), slices=catalog_slices(project, draw(salts())))


SMALL_SIDES = (8, 16, 24, 32, 48)


@st.composite
def dicom_volumes(draw: st.DrawFn, variants: object = None, max_slices: int = 24) -> DataRow:
    """A data row with a small volume (8 to 48 pixels a side): its DICOM series and its labels.

    What a converter consumes, small enough to materialise: render its file
    with :func:`lbmock.dicom.part10.part10_bytes`, its label map with
    :func:`lbmock.labelmap.label_slices`.  ``variants`` as for
    :func:`lbmock.strategies.dicom.dicom_series` (None: any mix).
    """
    project = draw(projects())
    c = Choices(draw)
    chosen = draw_variants(c, variants)
    if ODD_SIZES in chosen:  # odd rows, columns no power of two, in the small range
        rows, cols = 2 * c.integer(4, 23) + 1, c.integer(9, 47)  # >= 81 pixels: pyjpegls encodes no tinier frame
        volume = Volume(rows=rows, cols=cols + 1 if cols & (cols - 1) == 0 else cols, slices=c.integer(1, max_slices))
    else:
        volume = Volume(rows=c.pick(SMALL_SIDES), cols=c.pick(SMALL_SIDES), slices=c.integer(1, max_slices))
    return draw_data_row(c, project, 0, (), chosen, encodable(volume, chosen))
