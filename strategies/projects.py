"""Strategies for a project: ontology (tools, classification schemas),
workflow, datasets, batches, people and metadata schemas; the medical
vocabulary (:mod:`lbmock.medical`) names tools, questions, datasets and
projects.  Also: other projects of the same organisation, and saved slices."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from lbmock import ids, medical
from lbmock.ontology import PALETTE
from lbmock.people import company_pool
from lbmock.strategies.vocabulary import DAY, EPOCH_MAX, EPOCH_MIN, people, salts
from lbmock.world import (
    Batch,
    CatalogSlice,
    ClassificationSchema,
    Dataset,
    MetadataSchema,
    Ontology,
    Option,
    Organization,
    Person,
    Project,
    QualityMode,
    Tool,
    Workflow,
    WorkflowStatus,
    WorkflowTask,
)


@st.composite
def classification_schemas(draw: st.DrawFn, minter: ids.IdMinter, scope: str,
                           at: int) -> ClassificationSchema:
    """A radio, checklist or text question a radiologist answers, with its options
    (from the medical vocabulary's questions of ``scope``: global, frame or object)."""
    template = draw(st.sampled_from(medical.questions(scope)))
    options = tuple(Option(minter.mint(at), minter.mint(at), name, medical.value_of(name))
                    for name in template.options)
    return ClassificationSchema(minter.mint(at), template.name, medical.value_of(template.name), template.kind,
                                scope, options)


@st.composite
def tools(draw: st.DrawFn, minter: ids.IdMinter, index: int, at: int, taken: frozenset[str] = frozenset()) -> Tool:
    """A segmentation-mask tool for an anatomical structure, or a polyline tool for
    a finding, possibly with a nested question; its name is not in ``taken``."""
    kind = draw(st.sampled_from(("polyline", "mask")))
    n_nested = draw(st.integers(0, 1))
    nested = tuple(draw(classification_schemas(minter, "object", at)) for _ in range(n_nested))
    pool = medical.structures() if kind == "mask" else medical.findings()
    name = draw(st.sampled_from([n for n in pool if n not in taken]))
    return Tool(minter.mint(at), name, medical.value_of(name), PALETTE[index % len(PALETTE)], kind, nested)


# The precomputed embedding every data row has (export-quick-reference's sample).
EMBEDDING_ID = "c200000000000000000000000"
EMBEDDING_NAME = "Image Embedding V2 (CLIP ViT-B/32)"
EMBEDDING_DIMS = 512


# Each project of a world mints its ids from its own block of counters (a project mints
# fewer than 100), so two projects never share an id even when their salts and dates agree.
PROJECT_ID_BLOCK = 120


@st.composite
def projects(draw: st.DrawFn, project_id: str | None = None,
             quality: QualityMode = QualityMode.NONE, position: int = 0,
             object_classifications: bool = False) -> Project:
    """A DICOM project: ontology, workflow, datasets, batches, people.

    ``project_id`` pins the id (``lbmock serve --project-id`` reuses a
    user's real id); otherwise one is minted.  ``quality`` makes it a
    consensus (2 or 3 labels expected per measured row) or benchmark project.
    ``position`` is its place among the world's projects (0: the first).
    ``object_classifications``: its labels answer questions nested in objects
    (off by default: no public DICOM sample has any).
    """
    n_tools = draw(st.integers(1, 4))
    n_global = draw(st.integers(0, 2))
    n_datasets = draw(st.integers(1, 3))
    n_batches = draw(st.integers(1, 3))
    n_people = draw(st.integers(2, 8))
    created = draw(st.integers(EPOCH_MIN, EPOCH_MAX))
    minter = ids.IdMinter(ids.PROJECT_SLOT, draw(salts()), counter=position * PROJECT_ID_BLOCK)
    minted_id = minter.mint(created)  # minted even when pinned, so other ids stay put
    pid = project_id or minted_id
    tools_: list[Tool] = []
    for i in range(n_tools):
        tools_.append(draw(tools(minter, i, created, frozenset(t.name for t in tools_))))
    questions = tuple(draw(classification_schemas(minter, "global" if i % 2 == 0 else "frame", created))
                      for i in range(n_global))
    crew = draw(st.lists(people(), min_size=n_people, max_size=n_people, unique=True))
    persons = tuple(Person(minter.mint(created), name, email) for name, email in crew)
    title = draw(st.sampled_from(medical.project_titles()))
    datasets = tuple(Dataset(minter.mint(created), name) for name in draw(
        st.lists(st.sampled_from(medical.dataset_names()), min_size=n_datasets, max_size=n_datasets, unique=True)))
    salt = draw(salts())
    batches = tuple(Batch(ids.uuid_from(salt, i), f"batch-{i + 1}", draw(st.integers(1, 5)))
                    for i in range(n_batches))
    workflow = Workflow(*(WorkflowTask(ids.uuid_from(salt, 100 + i), name) for i, name in enumerate(
        ("Initial labeling task", "Initial review task", "Rework (all rejected)", "Done"))))
    project = Project(
        id=pid, name=title, description=f"DICOM {title.lower()}",
        created_at=created, updated_at=created + draw(st.integers(0, 30 * DAY)),
        organization=Organization(minter.mint(created), draw(st.sampled_from(company_pool())), created),
        owner=persons[0], people=persons,
        ontology=Ontology(minter.mint(created), f"{title} ontology", tuple(tools_), questions),
        workflow=workflow, datasets=datasets, batches=batches,
        metadata_schemas=_metadata_schemas(minter, created),
        embedding_id=EMBEDDING_ID, embedding_name=EMBEDDING_NAME, embedding_dims=EMBEDDING_DIMS,
        object_classifications=object_classifications,
    )
    if quality is QualityMode.CONSENSUS:
        return replace(project, quality=quality, consensus_expected_label_count=draw(st.integers(2, 3)))
    return replace(project, quality=quality)


def sibling_project(first: Project, other: Project) -> Project:
    """``other`` as another project of ``first``'s organisation: same datasets, metadata
    schemas and owner (the API key's user), its own ontology, workflow, batches and crew."""
    crew = tuple(p for p in other.people if p.email != first.owner.email)
    return replace(other, organization=first.organization, owner=first.owner, people=(first.owner, *crew),
                   datasets=first.datasets, metadata_schemas=first.metadata_schemas)


def catalog_slices(first: Project, salt: int) -> tuple[CatalogSlice, ...]:
    """The saved Catalog queries of a world: the first dataset's series, and every
    row some project finished (a pure function of the project: nothing to draw)."""
    minter = ids.IdMinter(ids.PROJECT_SLOT, salt, counter=ids.MAX_IDS_PER_OWNER - 2)  # above every project's block
    at = first.updated_at
    dataset = first.datasets[0]
    return (
        CatalogSlice(minter.mint(at), f"{dataset.name} series", f"Every series of the {dataset.name} dataset",
                     at, dataset_ids=frozenset({dataset.id})),
        CatalogSlice(minter.mint(at), "Done in any project", "Series whose labels were approved in some project", at,
                     statuses=frozenset({WorkflowStatus.DONE})),
    )


def _metadata_schemas(minter: ids.IdMinter, at: int) -> tuple[MetadataSchema, ...]:
    # "tag" and "captureDateTime" are Labelbox reserved fields with fixed ids.
    return (
        MetadataSchema("cko8s9r5v0001h2dk9elqdidh", "tag", "string"),
        MetadataSchema("cko8sbscr0003h2dk04w86hof", "captureDateTime", "datetime"),
        MetadataSchema(minter.mint(at), "slice_thickness_mm", "number"),
    )
