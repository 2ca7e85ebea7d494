"""Strategies for data rows (a DICOM series with its metadata, attachments,
workflow and labels) and for whole worlds (a project and its rows)."""

from __future__ import annotations

from hypothesis import strategies as st

from lbmock import ids
from lbmock.people import word_pool
from lbmock.world import Attachment, DataRow, Label, MetadataValue, Project, WorkflowStatus, World
from strategies.annotations import draw_label, draw_volume
from strategies.choices import Choices
from strategies.projects import projects
from strategies.vocabulary import DAY, HOUR, SALT_MAX
from strategies.workflow import draw_workflow_history, reviews_of

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
        row_labels = (draw_label(c, project, volume, minter, created_label, reviews_of(minter, history),
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


@st.composite
def worlds(draw: st.DrawFn, min_rows: int = 0, max_rows: int = 5,
           project_id: str | None = None) -> World:
    """A project and ``min_rows..max_rows`` data rows, for ``@given`` tests."""
    n_rows = draw(st.integers(min_rows, max_rows))
    project = draw(projects(project_id))
    c = Choices(draw)
    return World(project, tuple(draw_data_row(c, project, i) for i in range(n_rows)))
