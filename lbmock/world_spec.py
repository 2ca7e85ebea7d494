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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lbmock.ids import MAX_ROWS
from lbmock.world import QualityMode


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
           unset: str = "", flag: str | None = None, repeatable: bool = False) -> dict:
    """Field metadata of a world option (``unset``: what a default of None means)."""
    return {"option": Option(help, check, from_text or (lambda text: text), unset, flag, repeatable)}


@dataclass(frozen=True)
class WorldSpec:
    """The served world, by name: same spec, same bytes, in any process or worker."""

    seed: int = field(default=0, metadata=option("the world's seed (same seed, same bytes)", _whole(),
                                                 _int_text))
    rows: int = field(default=100, metadata=option("data rows in the world", _whole(0, MAX_ROWS), _int_text))
    project_id: str | None = field(default=None, metadata=option(
        "serve the world under this project id (e.g. your real one)", _optional_text,
        unset="an id derived from the seed"))
    quality: str = field(default="none", metadata=option(
        "none, consensus or benchmark: in consensus and benchmark projects some rows are labelled several "
        "times, by different labellers, with agreement scores", _quality))
    projects: int = field(default=1, metadata=option(
        "projects sharing the datasets (ids from the seed; --project-id names the first)",
        _whole(1, MAX_PROJECTS), _int_text))
    dicom_variants: tuple[str, ...] = field(default=(), metadata=option(
        "a hostile DICOM variant every row's series shows (repeatable): reversed-slices, anisotropic, "
        "offset-origin, mr-rescale, oblique", _dicom_variants, lambda text: [text], unset="none",
        flag="--dicom-variant", repeatable=True))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # checked, and normalised (JSON lists become tuples: specs are keys)
            object.__setattr__(self, f.name, f.metadata["option"].check(f.name, getattr(self, f.name)))

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
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> WorldSpec:
        return dataclasses.replace(self, **changes)


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seed``, ``--rows``, ``--project-id`` ... : one argument per world option."""
    for name, default, opt in WorldSpec.options():
        flag = opt.flag or "--" + name.replace("_", "-")
        if opt.repeatable:  # each value checked alone (from_text makes it a one-item list)
            parser.add_argument(flag, dest=name, action="append", default=None, metavar="NAME",
                                help=f"{opt.help} (default: {opt.unset})", type=_argument_type(name, opt))
            continue
        shown = "%(default)s" if default is not None else opt.unset
        parser.add_argument(flag, dest=name, default=default,
                            help=f"{opt.help} (default: {shown})", type=_argument_type(name, opt))


def world_spec_from_args(args: argparse.Namespace) -> WorldSpec:
    values = {}
    for name, default, opt in WorldSpec.options():
        value = getattr(args, name)
        if opt.repeatable:  # one checked tuple per flag given
            value = default if value is None else tuple(v for given in value for v in given)
        values[name] = value
    return WorldSpec(**values)


def _argument_type(name: str, opt: Option) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return opt.check(name.replace("_", "-"), opt.from_text(text))
        except SpecError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse
