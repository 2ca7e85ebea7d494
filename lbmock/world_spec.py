"""What names a served world: a seed, a row count, a project id, and the world options to come.

A :class:`WorldSpec` is pure data.  The one function that turns it into a
:class:`~lbmock.world.World` is :func:`lbmock.strategies.served_world.resolve_world`.

Each field carries an :class:`Option` (help text and how a value is read from
the command line and from JSON), so a new world option is one field here: it
then reaches ``lbmock serve``/``generate`` arguments, ``POST /_mock/world``,
the ``lb_world`` pytest marker and the shared state without further code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbmock import defaults
from lbmock.ids import MAX_ROWS
from lbmock.world import QualityMode, WorkflowStatus


class SpecError(ValueError):
    """A world option with a value it cannot take (the message names the option)."""


@dataclass(frozen=True)
class Option:
    """How one world option is described and read."""

    help: str
    check: Callable[[str, Any], Any]  # (option name, JSON value) -> value, or SpecError
    from_text: Callable[[str], Any] = lambda text: text  # command-line text -> JSON value
    unset: str = ""  # what a default of None means, for --help
    flag: str | None = None  # the command-line flag, when not the field's name
    repeatable: bool = False  # a flag given once per value (a tuple of them)
    cli: bool = True  # False: tables of a world file (and JSON) only, no flag
    metavar: str | None = None  # what --help calls the value, when not the field's name


def _whole(lo: int | None = None, hi: int | None = None) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise SpecError(f"{name} must be a whole number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise SpecError(f"{name} must be between {lo} and {hi}")
        return value

    return check


def _int_text(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SpecError(f"not a whole number: {text!r}") from None


def _optional_text(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise SpecError(f"{name} must be a string")
    return value


def _dicom_variants(name: str, value: Any) -> tuple[str, ...]:
    """Variant names as a tuple in catalogue order (so equal choices make equal specs)."""
    from lbmock.dicom.series import VARIANTS, check_variants

    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise SpecError(f"{name} must be a list of variant names ({', '.join(VARIANTS)}), got {value!r}")
    if not all(isinstance(v, str) for v in value):
        raise SpecError(f"{name} must be a list of variant names, got {value!r}")
    try:
        chosen = check_variants(value)
    except ValueError as exc:
        raise SpecError(f"{name}: {exc}") from None
    return tuple(v for v in VARIANTS if v in chosen)


QUALITY_MODES = tuple(mode.value for mode in QualityMode)
MAX_PROJECTS = 10


def _quality(name: str, value: Any) -> str:
    if value not in QUALITY_MODES:
        raise SpecError(f"{name} must be one of {', '.join(QUALITY_MODES)}, got {value!r}")
    return value


def option(help: str, check: Callable[[str, Any], Any], from_text: Callable[[str], Any] | None = None,
           unset: str = "", flag: str | None = None, repeatable: bool = False, cli: bool = True,
           metavar: str | None = None) -> dict:
    """Field metadata of a world option (``unset``: what a default of None means)."""
    return {"option": Option(help, check, from_text or (lambda text: text), unset, flag, repeatable, cli, metavar)}


def _dicom_dir(name: str, value: Any) -> str | None:
    """A folder holding a DICOM file lbmock can serve, as an absolute path (every worker then names
    the same one).  Scanned here, so a folder with none fails where the option is given."""
    from lbmock.dicom.user_files import NoUsableDicom, scan_dicom_dir

    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SpecError(f"{name} must be a folder's path, got {value!r}")
    if not os.path.isdir(value):
        raise SpecError(f"{name}: {value} is not a folder")
    try:
        scan_dicom_dir(value).require_usable()
    except NoUsableDicom as exc:
        raise SpecError(f"{name}: {exc}") from None
    return os.path.abspath(value)


# ---------------------------------------------------------------- the options a world file adds


def _table(name: str, value: Any, keys: Mapping[str, Callable[[str, Any], Any]],
           required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A checked table: each key's checker run on its value; unknown keys name the valid ones."""
    if not isinstance(value, Mapping):
        raise SpecError(f"{name} must be a table (an object), got {value!r}")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise SpecError(f"{name}.{unknown[0]}: unknown key; valid keys: {', '.join(keys)}")
    missing = [k for k in required if value.get(k) is None]
    if missing:
        raise SpecError(f"{name}.{missing[0]}: missing")
    return {k: check(f"{name}.{k}", value[k]) if value.get(k) is not None else None for k, check in keys.items()}


def _ontology(name: str, value: Any) -> str | None:
    """A Labelbox ontology document (``normalized``, an object or its JSON text), checked, kept as
    compact JSON text in its own key order (specs are hashable keys; the document is served verbatim)."""
    if value is None:
        return None
    from lbmock.ontology import OntologyError, parse_ontology

    try:
        parse_ontology(value, "check", "check")
    except OntologyError as exc:
        raise SpecError(f"{name}: {exc}") from None
    document = json.loads(value) if isinstance(value, str) else value
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _ontology_file(text: str) -> str:
    """``--ontology FILE``: the file's JSON text (checked by _ontology)."""
    try:
        return Path(text).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the ontology file {text}: {exc.strerror}") from None


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _fraction(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise SpecError(f"{name} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _flag(name: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise SpecError(f"{name} must be true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class ProjectSpec:
    """One project of a world file (``[[projects]]``); None: drawn from the seed."""

    id: str | None = None
    name: str | None = None
    ontology: str | None = None  # the ontology document's JSON text (a file's path in a world file)
    quality: str | None = None  # none, consensus or benchmark (default: the world's)
    rows: int | None = None  # further projects: how many of the world's rows they hold (default: 2 in 3)


PROJECT_KEYS = {"id": _optional_text, "name": _text, "ontology": _ontology, "quality": _quality,
                "rows": _whole(0, MAX_ROWS)}


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a world file (``[[datasets]]``): its rows are exactly ``rows``."""

    name: str
    rows: int
    id: str | None = None
    modality: str | None = None  # CT or MR (default: what the name announces, else drawn)


def _modality(name: str, value: Any) -> str:
    if value not in ("CT", "MR"):
        raise SpecError(f"{name} must be CT or MR, got {value!r}")
    return value


DATASET_KEYS = {"name": _text, "rows": _whole(0, MAX_ROWS), "id": _optional_text, "modality": _modality}


def _range(lo: float, hi: float, whole: bool) -> Callable[[str, Any], tuple]:
    def check(name: str, value: Any) -> tuple:
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or any(isinstance(v, bool) or not isinstance(v, int if whole else (int, float)) for v in value)):
            raise SpecError(f"{name} must be [low, high] ({'whole numbers' if whole else 'numbers'}), got {value!r}")
        low, high = value
        if not lo <= low <= high <= hi:
            raise SpecError(f"{name} must satisfy {lo} <= low <= high <= {hi}, got {value!r}")
        return (low, high) if whole else (float(low), float(high))

    return check


def _modalities(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise SpecError(f"{name} must be a non-empty list of CT, MR, got {value!r}")
    return tuple(m for m in ("CT", "MR") if m in {_modality(f"{name}[{i}]", v) for i, v in enumerate(value)})


@dataclass(frozen=True)
class VolumeSpec:
    """Ranges the DICOM volumes are drawn from (``[volumes]``); None: today's draws."""

    modalities: tuple[str, ...] | None = None
    rows: tuple[int, int] | None = None
    columns: tuple[int, int] | None = None
    frames: tuple[int, int] | None = None
    spacing: tuple[float, float] | None = None  # mm: pixel spacing and slice step


VOLUME_KEYS = {"modalities": _modalities, "rows": _range(1, 4096, True), "columns": _range(1, 4096, True),
               "frames": _range(1, 2000, True), "spacing": _range(0.01, 50.0, False)}


def _projects(name: str, value: Any) -> int | tuple[ProjectSpec, ...]:
    """A number of projects, or one table per project (a world file's ``[[projects]]``)."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (Mapping, ProjectSpec)) for v in value):
        if len(value) > MAX_PROJECTS:
            raise SpecError(f"{name}: at most {MAX_PROJECTS} projects, got {len(value)}")
        return tuple(v if isinstance(v, ProjectSpec) else ProjectSpec(**_table(f"{name}[{i}]", v, PROJECT_KEYS))
                     for i, v in enumerate(value))
    return _whole(1, MAX_PROJECTS)(name, value)


def _datasets(name: str, value: Any) -> tuple[DatasetSpec, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError(f"{name} must be a non-empty list of tables (name, rows, id, modality), got {value!r}")
    out = tuple(v if isinstance(v, DatasetSpec) else DatasetSpec(**_table(f"{name}[{i}]", v, DATASET_KEYS,
                                                                            ("name", "rows")))
                for i, v in enumerate(value))
    names = [d.name for d in out]
    if len(set(names)) != len(names):
        raise SpecError(f"{name}: dataset names must differ, got {names}")
    return out


STATUS_NAMES = tuple(s.value for s in WorkflowStatus)


def _status_mix(name: str, value: Any) -> tuple[tuple[str, float], ...] | None:
    """{"Done": 60, "ToLabel": 20, ...}: weights of the workflow statuses (any scale), as sorted pairs."""
    if value is None:
        return None
    pairs = value.items() if isinstance(value, Mapping) else value
    try:
        mix = {str(k): v for k, v in pairs}
    except (TypeError, ValueError):
        raise SpecError(f"{name} must map statuses ({', '.join(STATUS_NAMES)}) to weights, got {value!r}") from None
    for status, weight in mix.items():
        if status not in STATUS_NAMES:
            raise SpecError(f"{name}.{status}: unknown status; valid keys: {', '.join(STATUS_NAMES)}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise SpecError(f"{name}.{status} must be a weight >= 0, got {weight!r}")
    if not sum(mix.values()):
        raise SpecError(f"{name}: the weights add up to 0")
    return tuple((s, float(mix.get(s, 0))) for s in STATUS_NAMES)


def _status_mix_text(text: str) -> dict[str, float]:
    """``--status-mix Done=60,ToLabel=20``."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        status, _, weight = part.partition("=")
        try:
            out[status.strip()] = float(weight)
        except ValueError:
            raise SpecError(f"--status-mix: {part!r} is not STATUS=WEIGHT") from None
    return out


def _replay(name: str, value: Any) -> tuple[str, ...]:
    """Replay files as absolute paths (every worker, whatever its folder, reads the same files)."""
    paths = (value,) if isinstance(value, str) else value
    if not isinstance(paths, (list, tuple)) or not all(isinstance(p, str) and p for p in paths):
        raise SpecError(f"{name} must be a list of paths of export v2 NDJSON files, got {value!r}")
    for path in paths:
        if not Path(path).is_file():
            raise SpecError(f"{name}: cannot read the replay file {path}: no such file")
    return tuple(str(Path(p).absolute()) for p in paths)


def _volumes(name: str, value: Any) -> VolumeSpec | None:
    if value is None or isinstance(value, VolumeSpec):
        return value
    return VolumeSpec(**_table(name, value, VOLUME_KEYS))


@dataclass(frozen=True)
class WorldSpec:
    """The served world, by name: same spec, same bytes, in any process or worker."""

    # within JSON's 64-bit integers: the seed is stored in the state and answered by /_mock/health
    seed: int = field(default=defaults.SEED, metadata=option("the world's seed (same seed, same bytes)",
                                                 _whole(-(2**63), 2**64 - 1), _int_text))
    rows: int = field(default=defaults.ROWS, metadata=option("data rows in the world", _whole(0, MAX_ROWS), _int_text))
    project_id: str | None = field(default=None, metadata=option(
        "serve the world under this project id (e.g. your real one)", _optional_text,
        unset="an id derived from the seed"))
    quality: str = field(default="none", metadata=option(
        "none, consensus or benchmark: in consensus and benchmark projects some rows are labelled several "
        "times, by different labellers, with agreement scores", _quality))
    projects: int | tuple[ProjectSpec, ...] = field(default=1, metadata=option(
        "projects sharing the datasets (ids from the seed; --project-id names the first); in a world file, "
        "one [[projects]] table each (id, name, ontology, quality, rows)", _projects, _int_text))
    dicom_variants: tuple[str, ...] = field(default=(), metadata=option(
        "a hostile DICOM variant every row's series shows (repeatable): reversed-slices, anisotropic, "
        "offset-origin, mr-rescale, oblique, signed-pixels, bits-stored-12, pixel-padding, odd-sizes, "
        "feet-first, prone, thickness-not-spacing, shuffled-frames, missing-slice, gantry-tilt; one transfer "
        "syntax of rle-lossless, deflated, jpeg-ls-lossless, jpeg2000-lossless, jpeg-lossless; "
        "extended-offset-table, monochrome1",
        _dicom_variants, lambda text: [text], unset="none",
        flag="--dicom-variant", repeatable=True))
    ontology: str | None = field(default=None, metadata=option(
        "your Labelbox ontology (a JSON file of project.ontology().normalized): labels use only its tools and "
        "options, with its ids, names and colours; every project without its own uses it",
        _ontology, _ontology_file, unset="drawn from the seed", flag="--ontology"))
    object_classifications: bool = field(default=False, metadata=option(
        "answer questions nested in DICOM objects (true/false; default false, for drawn ontologies and yours "
        "alike): every public DICOM sample has none; the DICOM import notebook lists such answers as not supported",
        _flag, cli=False))
    datasets: tuple[DatasetSpec, ...] | None = field(default=None, metadata=option(
        "the datasets, each with name, rows (exactly), and optionally id and modality", _datasets,
        unset="drawn from the seed", cli=False))
    status_mix: tuple[tuple[str, float], ...] | None = field(default=None, metadata=option(
        "weights of the first project's workflow statuses, e.g. Done=60,InReview=20,ToLabel=20: counts are "
        "exact (largest remainder)", _status_mix, _status_mix_text, unset="drawn per row"))
    labelled_fraction: float | None = field(default=None, metadata=option(
        "the share of the first project's rows that have a label (all but ToLabel)", _fraction, float,
        unset="drawn per row"))
    volumes: VolumeSpec | None = field(default=None, metadata=option(
        "ranges the DICOM volumes are drawn from: modalities, rows, columns, frames, spacing", _volumes,
        unset="64-512 a side, 1-400 frames, CT or MR", cli=False))
    dicom_dir: str | None = field(default=None, metadata=option(
        "a folder of your own DICOM files: each row's row_data serves one of them byte for byte (sorted by "
        "path, row i gets file i mod n) and its labels fit that file's geometry; files lbmock cannot use are "
        "listed at start", _dicom_dir, unset="none: every row's DICOM is drawn", metavar="DIR"))
    replay: tuple[str, ...] = field(default=(), metadata=option(
        "serve the export v2 rows of this NDJSON file (as the SDK's stream yields them) instead of drawn "
        "rows, repeatable; masks and row_data from an assets folder beside it", _replay, lambda text: [text],
        unset="none", flag="--replay", repeatable=True, metavar="FILE.ndjson"))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # checked, and normalised (JSON lists become tuples: specs are keys)
            object.__setattr__(self, f.name, f.metadata["option"].check(f.name, getattr(self, f.name)))
        if self.datasets is not None:  # the datasets' rows are the world's rows
            total = sum(d.rows for d in self.datasets)
            if self.rows not in (total, WorldSpec.rows):
                raise SpecError(f"rows is {self.rows} but the datasets hold {total}; give one or make them agree")
            object.__setattr__(self, "rows", total)
        for i, project in enumerate(self.project_specs[1:], 1):
            if project.rows is not None and project.rows > self.rows:
                raise SpecError(f"projects[{i}].rows: {project.rows} is more than the world's {self.rows} rows")
        if self.project_specs and self.project_specs[0].rows not in (None, self.rows):
            raise SpecError(f"projects[0].rows: the first project holds every row ({self.rows})")
        if self.status_mix is not None and self.labelled_fraction is not None:
            weights = dict(self.status_mix)
            to_label = weights["ToLabel"] / sum(weights.values())
            if abs((1 - to_label) - self.labelled_fraction) > 1 / max(self.rows, 1):
                raise SpecError(f"labelled_fraction {self.labelled_fraction} disagrees with status_mix, whose "
                                f"labelled share (all but ToLabel) is {1 - to_label:.3f}; give one or make them agree")
        if self.dicom_dir is not None and self.dicom_variants:
            raise SpecError("dicom_variants change drawn series; the files of a dicom_dir are served as they are")

    @property
    def project_count(self) -> int:
        return self.projects if isinstance(self.projects, int) else len(self.projects)

    @property
    def project_specs(self) -> tuple[ProjectSpec, ...]:
        """One ProjectSpec per project (all None fields when the world file names none)."""
        if isinstance(self.projects, int):
            return ()
        return self.projects

    @staticmethod
    def options() -> list[tuple[str, Any, Option]]:
        """(name, default, option) of every field, in order."""
        return [(f.name, f.default, f.metadata["option"]) for f in dataclasses.fields(WorldSpec)]

    @classmethod
    def from_json(cls, body: Mapping[str, Any], base: WorldSpec | None = None) -> WorldSpec:
        """The spec a JSON object names; absent options keep ``base``'s values (default: the defaults)."""
        known = {name for name, _d, _o in cls.options()}
        unknown = sorted(set(body) - known)
        if unknown:
            raise SpecError(f"unknown world option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return dataclasses.replace(base or cls(), **dict(body))

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (tables as objects, ranges as lists): ``from_json`` reads it back equal."""
        out = dataclasses.asdict(self)
        if out["status_mix"] is not None:
            out["status_mix"] = dict(out["status_mix"])
        if out["volumes"] is not None:
            out["volumes"] = {k: v for k, v in out["volumes"].items() if v is not None}
        for table in ("projects", "datasets"):
            if isinstance(out[table], (list, tuple)):
                out[table] = [{k: v for k, v in item.items() if v is not None} for item in out[table]]
        return out

    def replace(self, **changes: Any) -> WorldSpec:
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------- world files

WORLD_FILE_SCHEMA = "world_file.schema.json"  # in lbmock's fixtures/schemas: editors complete world files with it


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text as a dict: tomllib, or tomli on Python 3.10 (a dependency there); its
    TOMLDecodeError (a ValueError) when the text is not TOML."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def load_world_file(path: str | Path) -> WorldSpec:
    """The world a TOML world file describes: its keys are :class:`WorldSpec`'s options; ontology
    values are paths of JSON files, relative to the world file.  Errors name the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the world file: {exc.strerror}") from None
    try:
        document = parse_toml(text)
    except ValueError as exc:  # TOMLDecodeError
        raise SpecError(f"{path}: not TOML: {exc}") from None
    try:
        known = [name for name, _d, _o in WorldSpec.options()]
        unknown = sorted(set(document) - set(known))
        if unknown:
            raise SpecError(f"{unknown[0]}: unknown key; valid keys: {', '.join(known)}")

        def read_ontology(key: str, value: Any) -> Any:
            if not isinstance(value, str):
                raise SpecError(f"{key} must be the path of a JSON file (project.ontology().normalized)")
            where = path.parent / value
            try:
                return where.read_text(encoding="utf-8")
            except OSError as exc:
                raise SpecError(f"{key}: cannot read {where}: {exc.strerror}") from None

        if "ontology" in document:
            document["ontology"] = read_ontology("ontology", document["ontology"])
        if isinstance(document.get("dicom_dir"), str):  # like ontology files: relative to the world file
            document["dicom_dir"] = str(path.parent / document["dicom_dir"])
        if isinstance(document.get("replay"), (str, list)):  # paths relative to the world file
            given = document["replay"]
            document["replay"] = [str(path.parent / p) if isinstance(p, str) else p
                                  for p in ([given] if isinstance(given, str) else given)]
        if isinstance(document.get("projects"), list):
            for i, project in enumerate(document["projects"]):
                if isinstance(project, dict) and "ontology" in project:
                    project["ontology"] = read_ontology(f"projects[{i}].ontology", project["ontology"])
        return WorldSpec(**document)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """``--world FILE``, ``--seed``, ``--rows``, ``--project-id`` ... : one argument per world option."""
    parser.add_argument("--world", metavar="FILE.toml", default=None, dest="world_file",
                        help="a world file (TOML): projects, ontologies, datasets, status mix, volumes; flags "
                             "given as well override it (default: none)")
    for name, default, opt in WorldSpec.options():
        if not opt.cli:
            continue
        flag = opt.flag or "--" + name.replace("_", "-")
        if opt.repeatable:  # each value checked alone (from_text makes it a one-item list)
            parser.add_argument(flag, dest=name, action="append", default=None, metavar=opt.metavar or "NAME",
                                help=f"{opt.help} (default: {opt.unset})", type=_argument_type(name, opt))
            continue
        shown = "%(default)s" if default is not None else opt.unset
        parser.add_argument(flag, dest=name, default=default, metavar=opt.metavar,
                            help=f"{opt.help} (default: {shown})", type=_argument_type(name, opt))


def world_spec_from_args(args: argparse.Namespace) -> WorldSpec:
    """The spec the arguments name: ``--world``'s file, with the flags given beside it on top."""
    base = load_world_file(args.world_file) if getattr(args, "world_file", None) else None
    values = {}
    for name, default, opt in WorldSpec.options():
        if not opt.cli:
            continue
        value = getattr(args, name)
        if opt.repeatable:  # one checked tuple per flag given
            value = default if value is None else tuple(v for given in value for v in given)
        if base is None or value != default:  # beside a world file, only the flags that say something
            values[name] = value
    return dataclasses.replace(base, **values) if base is not None else WorldSpec(**values)


def _argument_type(name: str, opt: Option) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return opt.check(name.replace("_", "-"), opt.from_text(text))
        except SpecError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse
