"""Violations, and schema errors explained in a reader's words (a JSONPath and a message)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import orjson
from jsonschema.exceptions import ValidationError, best_match

from lbmock.validate.schemas import fast_validator, validator

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Violation(NamedTuple):
    """One broken rule: where (a JSONPath into the row) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def json_path(parts: Iterable[str | int]) -> str:
    """``$.projects.cl…labels[0].annotations.groups.Axial.frames['6']``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            quoted = orjson.dumps(part).decode()[1:-1].replace('\\"', '"').replace("'", "\\'")
            out.append(f"['{quoted}']")
    return "".join(out)


def violation(parts: Iterable[str | int], message: str) -> Violation:
    return Violation(json_path(parts), message.replace("\n", "\\n"))


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "array"), (dict, "object"), (type(None), "null"))


def json_type(value: Any) -> str:
    for py, name in _JSON_TYPES:
        if isinstance(value, py):
            return name
    return type(value).__name__


def _required_only(alternatives: Any) -> list[str] | None:
    """The key names if every alternative is just ``{"required": [key]}``."""
    if not isinstance(alternatives, list):
        return None
    keys = []
    for alt in alternatives:
        if not (isinstance(alt, dict) and set(alt) == {"required"} and len(alt["required"]) == 1):
            return None
        keys.append(alt["required"][0])
    return keys


def _hint(error: ValidationError) -> str:
    sub = error.schema if isinstance(error.schema, dict) else {}
    return f" (expected {sub['title']})" if "title" in sub else ""


def _explain(error: ValidationError, reported: set) -> Iterator[Violation]:
    """Turn one jsonschema error into precise, one-line violations."""
    path: list[str | int] = list(error.absolute_path)
    kind, value, instance = error.validator, error.validator_value, error.instance
    if "propertyNames" in error.absolute_schema_path:  # the instance is the offending key
        sub = error.schema if isinstance(error.schema, dict) else {}
        if kind == "pattern":
            what = f"does not match {value!r}"
            if "description" in sub:
                what += f" ({sub['description'].rstrip('.')})"
        elif kind == "enum":
            what = "is not one of " + ", ".join(repr(x) for x in value)
        else:
            what = error.message
        yield violation([*path, instance], f"key {instance!r} {what}")
    elif kind == "required":
        missing = [k for k in value if isinstance(instance, dict) and k not in instance]
        for key in missing:
            if (tuple(path), key) not in reported:
                reported.add((tuple(path), key))
                yield violation([*path, key], "required key is missing")
                break
    elif kind in ("anyOf", "oneOf"):
        keys = _required_only(value)
        if keys is not None:
            names = ", ".join(repr(k) for k in keys)
            if error.context:
                yield violation(path, f"needs {'one' if kind == 'anyOf' else 'exactly one'} of {names}")
            else:
                yield violation(path, f"has more than one of {names}; exactly one is allowed")
        elif error.context:
            yield from _explain(best_match(error.context), reported)
        else:
            yield violation(path, "matches more than one alternative; exactly one is allowed")
    elif kind == "type":
        types = value if isinstance(value, list) else [value]
        yield violation(path, f"expected {' or '.join(types)}, got {json_type(instance)}")
    elif kind == "pattern":
        yield violation(path, f"{_short(instance)} does not match {value!r}{_hint(error)}")
    elif kind == "enum":
        yield violation(path, f"{_short(instance)} is not one of {', '.join(repr(x) for x in value)}")
    elif kind == "const":
        yield violation(path, f"must be {_short(value)}, got {_short(instance)}")
    elif kind == "minItems":
        yield violation(path, f"expected at least {value} item(s), got {len(instance)}")
    elif kind == "maxItems":
        yield violation(path, f"expected at most {value} item(s), got {len(instance)}")
    elif kind == "minimum":
        yield violation(path, f"{_short(instance)} is less than the minimum {value}")
    elif kind == "minLength":
        yield violation(path, "must not be empty" if value == 1 else error.message)
    elif kind == "not" and value == {}:
        sub = error.schema if isinstance(error.schema, dict) else {}
        yield violation(path, "key not allowed here" + (f" ({sub['description'].rstrip('.')})"
                                                  if "description" in sub else ""))
    else:
        yield violation(path, error.message if len(error.message) <= 200 else error.message[:197] + "...")


def schema_violations(row: Any, name: str) -> list[Violation]:
    """Every way ``row`` breaks schema ``name``, one :class:`Violation` each."""
    fast = fast_validator(name)
    if fast is not None:  # compiled, ~1000x jsonschema on a clean row; it only says yes or no
        with contextlib.suppress(Exception):  # a value it cannot take (an int past 64 bits): jsonschema decides
            if fast.is_valid(row):
                return []
    return explain_schema_errors(row, name)


def explain_schema_errors(row: Any, name: str) -> list[Violation]:
    """:func:`schema_violations` through jsonschema alone (the reference the compiled gate must agree with)."""
    reported: set = set()
    return [v for error in validator(name).iter_errors(row) for v in _explain(error, reported)]
