"""The contract's JSON Schemas (``fixtures/schemas``), loaded once, with their validators."""

from __future__ import annotations

import copy
from functools import cache, lru_cache
from pathlib import Path

import orjson
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from lbmock import fixtures_dir

SCHEMA_NAMES: tuple[str, ...] = ("export_v2_dicom_row", "legacy_row", "frame_record")
FORMATS: dict[str, str] = {"v2": "export_v2_dicom_row", "legacy": "legacy_row", "frames": "frame_record"}


def _schema_file(name: str) -> Path:
    base = name.removesuffix(".json").removesuffix(".schema")
    if base not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return fixtures_dir() / "schemas" / f"{base}.schema.json"


@cache
def _load(name: str) -> dict:
    return orjson.loads(_schema_file(name).read_bytes())


def schema(name: str) -> dict:
    """The JSON Schema called ``name`` (e.g. ``"export_v2_dicom_row"``), as a fresh dict."""
    return copy.deepcopy(_load(name))


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resources = [(_load(n)["$id"], Resource.from_contents(_load(n))) for n in SCHEMA_NAMES]
    return Registry().with_resources(resources)


@cache
def validator(name: str, definition: str | None = None) -> Draft202012Validator:
    """A Draft 2020-12 validator for schema ``name``, or for one of its ``$defs``.

    ``validator("export_v2_dicom_row", "dicom_object")`` checks a single v2
    object; format assertions are off (the schemas use patterns instead).
    """
    root = _load(name)
    if definition is None:
        return Draft202012Validator(root, registry=_registry())
    if definition not in root.get("$defs", {}):
        raise KeyError(f"schema {name!r} has no $defs/{definition}")
    wrapper = {"$schema": root["$schema"], "$ref": f"{root['$id']}#/$defs/{definition}"}
    return Draft202012Validator(wrapper, registry=_registry())
