"""The contract's JSON Schemas (``fixtures/schemas``), loaded once, with their validators."""

from __future__ import annotations

import copy
import os
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

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


class FastValidator(Protocol):
    def is_valid(self, instance: Any) -> bool: ...


# Python's ``\S`` also refuses U+001C..U+001F and U+0085, which jsonschema-rs's ``\s`` calls non-space:
# spelled out, the compiled validator never passes a string ``re`` fails (it fails U+FEFF too; such
# rows fall back to jsonschema, which has the last word).
_PY_NON_SPACE = r"[^\s\x1c-\x1f\x85]"


def _conservative(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (v.replace(r"\S", _PY_NON_SPACE) if k == "pattern" and isinstance(v, str) else _conservative(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_conservative(v) for v in node]
    return node


@cache
def fast_validator(name: str) -> FastValidator | None:
    """A compiled (jsonschema-rs) validator for schema ``name``, or None without jsonschema-rs.

    Only a yes/no gate: a row it passes has no schema violations; any other row is explained
    by :func:`validator` (jsonschema), so the messages are jsonschema's.  ``LBMOCK_PURE_VALIDATE=1``
    turns it off.
    """
    if os.environ.get("LBMOCK_PURE_VALIDATE"):
        return None
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - a core dependency; the pure path still works
        return None
    return jsonschema_rs.Draft202012Validator(_conservative(_load(name)), validate_formats=False)
