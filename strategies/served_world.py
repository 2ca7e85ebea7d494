"""Worlds built from a seed, lazily, row by row: what ``lbmock serve`` serves.

Row ``i`` is drawn from :func:`lbmock.strategies.data_rows` with a seed derived
from the world seed and ``i`` alone, so any row can be produced without the
rows before it, by any process or worker, with identical bytes.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from lbmock.dicom.series import check_variants
from lbmock.dicom.user_files import FileSeries, scan_dicom_dir
from lbmock.ids import MAX_ROWS
from lbmock.ontology import derived_id, parse_ontology
from lbmock.replay import replay_world
from lbmock.strategies.projects import catalog_slices, projects, sibling_project
from lbmock.strategies.provider import derive_seed, draw_seeded, draw_seeded_with
from lbmock.strategies.rows import agreeing_with_file, draw_data_row
from lbmock.strategies.vocabulary import SALT_MAX
from lbmock.world import CachedRows, DataRow, Dataset, Project, QualityMode, RowPlan, World, exact_counts
from lbmock.world_spec import MAX_PROJECTS, ProjectSpec, VolumeSpec, WorldSpec


class SeededRows(CachedRows):
    """A read-only sequence of data rows drawn on demand, with a small LRU cache."""

    def __init__(self, project: Project, seed: int, n_rows: int, cache_size: int = 512,
                 others: tuple[Project, ...] = (), dicom_variants: frozenset[str] = frozenset(),
                 plan: RowPlan | None = None, ranges: VolumeSpec | None = None,
                 user_files: tuple[FileSeries, ...] = ()) -> None:
        if not 0 <= n_rows <= MAX_ROWS:
            raise ValueError(f"rows must be between 0 and {MAX_ROWS}, got {n_rows}")
        self.project = project
        self.others = others
        self.seed = seed
        self.n_rows = n_rows
        self.dicom_variants = dicom_variants
        self.plan = plan
        self.ranges = ranges
        self.user_files = user_files  # row i serves user_files[i % n] (world option dicom_dir)
        self._init_cache(cache_size)

    def __len__(self) -> int:
        return self.n_rows

    def __getstate__(self) -> dict:
        # what draws the rows, without the cache or the lock: a few KB, so helper processes can
        # render parts of an export from the same world.  The variants go sorted: a frozenset
        # pickles in hash order, and the pickle names the world on disk (export templates)
        state = {k: v for k, v in self.__dict__.items() if k not in ("_cache", "_lock")}
        state["dicom_variants"] = tuple(sorted(self.dicom_variants))
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.dicom_variants = frozenset(self.dicom_variants)
        self._init_cache()

    def _draw(self, index: int, whole: bool = True) -> DataRow:
        # draw_data_row is the body of the data_rows() strategy: same choices, same row.
        # whole=False: an export pass (no DICOM series, no mask shapes; every other value the same)
        if self.user_files:  # labels drawn on the file's grid; its series is the file's (nothing to draw)
            series = self.user_files[index % len(self.user_files)]
            row = draw_seeded_with(draw_data_row, derive_seed(self.seed, "row", index), self.project, index,
                                   self.others, frozenset(), series.volume, False, self.plan, self.ranges, whole)
            # the fields describing the file follow the file's own tags (left out where it states none)
            return replace(row, series=series, metadata=agreeing_with_file(row.metadata, series.tag_slice_thickness,
                                                                            series.tag_acquired_at))
        return draw_seeded_with(draw_data_row, derive_seed(self.seed, "row", index), self.project, index,
                                self.others, self.dicom_variants, None, whole, self.plan, self.ranges, whole)

    def draw(self, index: int) -> DataRow:
        """Row ``index`` drawn afresh and not cached, for one pass over many rows (an export), which
        would only evict the rows other requests come back to: without what no export renders, its
        DICOM series (~8 % of drawing a row) and its mask shapes (~12 %)."""
        return self._draw(self._position(index), whole=False)

    def _make(self, index: int) -> DataRow:
        return self._draw(index)


def seeded_world(seed: int, n_rows: int, project_id: str | None = None, *,
                 quality: QualityMode | str = QualityMode.NONE, n_projects: int = 1,
                 dicom_variants: object = (), dicom_dir: str | None = None,
                 object_classifications: bool = False) -> World:
    """The world for ``seed``: same strategies as ``@given``, drawn deterministically.

    ``quality`` makes every project a consensus or benchmark project;
    ``n_projects`` projects share the first one's datasets (their ids come
    from the seed; ``project_id`` names the first); ``dicom_variants`` names
    the hostile DICOM variants every row's series shows; ``dicom_dir`` a folder of
    the user's DICOM files the rows serve instead (:mod:`lbmock.dicom.user_files`;
    :class:`~lbmock.dicom.user_files.NoUsableDicom` when it holds none lbmock can use);
    ``object_classifications``: labels answer questions nested in objects (default: none).
    """
    mode = QualityMode(quality)
    if not 1 <= n_projects <= MAX_PROJECTS:
        raise ValueError(f"projects must be between 1 and {MAX_PROJECTS}, got {n_projects}")
    project = draw_seeded(projects(project_id, mode, 0, object_classifications), derive_seed(seed, "project"))
    others = tuple(sibling_project(project, draw_seeded(projects(None, mode, k, object_classifications),
                                                        derive_seed(seed, "project", k)))
                   for k in range(1, n_projects))
    slices = catalog_slices(project, derive_seed(seed, "slices") % SALT_MAX)
    variants, user_files = check_variants(dicom_variants), _user_files(dicom_dir)
    if user_files and variants:
        raise ValueError("DICOM variants change drawn series; a dicom_dir's files are served as they are")
    return World(project, SeededRows(project, seed, n_rows, others=others, dicom_variants=variants,
                                       user_files=user_files), seed=seed,
                 projects=(project, *others), slices=slices)


def resolve_world(spec: WorldSpec) -> World:
    """The world a :class:`~lbmock.world_spec.WorldSpec` names: the one place a spec becomes a world."""
    if spec.replay:
        return _replayed_world(spec)
    if not _shaped(spec):  # a seed alone: exactly the world seeded_world has always drawn
        return seeded_world(spec.seed, spec.rows, spec.project_id, quality=spec.quality,
                            n_projects=spec.project_count, dicom_variants=spec.dicom_variants,
                            dicom_dir=spec.dicom_dir)
    return _shaped_world(spec)


def _user_files(dicom_dir: str | None) -> tuple[FileSeries, ...]:
    return scan_dicom_dir(dicom_dir).require_usable() if dicom_dir is not None else ()


def _replayed_world(spec: WorldSpec) -> World:
    """The rows of the spec's replay files (:mod:`lbmock.replay`); the seed draws only what rows do
    not carry (organisation, people, workflow), and the two saved slices over its datasets."""
    base = draw_seeded(projects(spec.project_id, QualityMode(spec.quality)), derive_seed(spec.seed, "project"))
    world = replay_world(spec.replay, base, spec.ontology, spec.project_id, spec.seed)
    return replace(world, slices=catalog_slices(world.project, derive_seed(spec.seed, "slices") % SALT_MAX))


def _shaped(spec: WorldSpec) -> bool:
    return (spec.ontology is not None or bool(spec.project_specs) or spec.datasets is not None
            or spec.status_mix is not None or spec.labelled_fraction is not None or spec.volumes is not None
            or bool(spec.object_classifications))


def _shaped_world(spec: WorldSpec) -> World:
    """A world shaped by a world file (or the options it holds): the seed draws whatever the spec
    leaves open, with the same strategies; ontologies, names, datasets and counts are the spec's."""
    n = spec.project_count
    wanted = spec.project_specs or tuple(ProjectSpec() for _ in range(n))
    drawn: list[Project] = []
    for k, want in enumerate(wanted):
        mode = QualityMode(want.quality or spec.quality)
        pinned = want.id or (spec.project_id if k == 0 else None)
        project = draw_seeded(projects(pinned, mode, k), derive_seed(spec.seed, "project", *((k,) if k else ())))
        drawn.append(_as_specified(project, want, spec, k))
    first = drawn[0]
    if spec.datasets is not None:
        first = replace(first, datasets=tuple(
            Dataset(d.id or derived_id("dataset", str(spec.seed), str(i), d.name), d.name, d.modality)
            for i, d in enumerate(spec.datasets)))
    others = tuple(sibling_project(first, other) for other in drawn[1:])
    plan = RowPlan(
        key=f"{spec.seed}", rows=spec.rows,
        dataset_ends=tuple(itertools.accumulate(d.rows for d in spec.datasets)) if spec.datasets else None,
        status_ends=_status_ends(spec),
        project_rows=tuple((o.id, w.rows) for o, w in zip(others, wanted[1:], strict=True) if w.rows is not None))
    slices = catalog_slices(first, derive_seed(spec.seed, "slices") % SALT_MAX)
    rows = SeededRows(first, spec.seed, spec.rows, others=others, dicom_variants=check_variants(spec.dicom_variants),
                      plan=plan, ranges=spec.volumes, user_files=_user_files(spec.dicom_dir))
    return World(first, rows, seed=spec.seed, projects=(first, *others), slices=slices, plan=plan)


def _as_specified(project: Project, want: ProjectSpec, spec: WorldSpec, position: int) -> Project:
    """A drawn project with what the spec names put in: name, ontology (its own, else the world's)."""
    document = want.ontology or spec.ontology
    if want.name:
        project = replace(project, name=want.name, description=f"DICOM {want.name.lower()}")
    if document is not None:
        ontology = parse_ontology(document, project.ontology.id, f"{project.name} ontology")
        project = replace(project, ontology=ontology)
    # Nested answers: only when the world asks (every public DICOM sample has "classifications": [] on
    # its objects), for a drawn ontology and a user's alike
    return replace(project, object_classifications=bool(spec.object_classifications))


def _status_ends(spec: WorldSpec) -> tuple[int, ...] | None:
    """Cumulative row counts per workflow status (enum order), from the mix or the labelled share."""
    if spec.status_mix is not None:
        weights = [w for _s, w in spec.status_mix]
    elif spec.labelled_fraction is not None:
        labelled = spec.labelled_fraction
        weights = [1 - labelled, labelled / 3, labelled / 3, labelled / 3]  # ToLabel, then the rest evenly
    else:
        return None
    return tuple(itertools.accumulate(exact_counts(weights, spec.rows)))
