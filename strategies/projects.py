"""Strategies for a project: ontology (tools, classification schemas),
workflow, datasets, batches, people and metadata schemas."""

from __future__ import annotations

from hypothesis import strategies as st

from lbmock import ids
from lbmock.people import company_pool, word_pool
from lbmock.world import (
    Batch,
    ClassificationSchema,
    Dataset,
    MetadataSchema,
    Ontology,
    Option,
    Organization,
    Person,
    Project,
    Tool,
    Workflow,
    WorkflowTask,
)
from strategies.vocabulary import DAY, EPOCH_MAX, EPOCH_MIN, people, salts, words

# Labelbox's default tool palette (the sample's "#1CE6FF", "#FF34FF" lead it).
PALETTE = ("#1CE6FF", "#FF34FF", "#FF4A46", "#008941", "#006FA6", "#A30059", "#FFDBE5",
           "#7A4900", "#0000A6", "#63FFAC", "#B79762", "#004D43", "#8FB0FF", "#997D87")


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
