"""Check Labelbox DICOM export files against the real API's contract.

``lbmock validate FILE`` (see :func:`validate_path`) reads an export v2 NDJSON
file, a legacy ``export_labels`` JSON array, or an NDJSON file of per-frame
records, and checks every row twice:

* against the JSON Schemas in ``fixtures/schemas`` (loaded with
  :func:`schema` / :func:`validator`, which other code reuses), and
* against the invariants a schema cannot express: segment ranges run
  forwards and cover every frame of their feature, ``key_frame_feature_map``
  names exactly the features that have frames, a feature lives on one plane,
  ids that must be unique are, legacy group planes are distinct and their
  frames URLs name the label.

NDJSON is streamed line by line; a legacy array is loaded whole (with orjson).
"""

from __future__ import annotations

import codecs
import contextlib
import copy
import itertools
import os
import re
import sys
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import IO, Any, ClassVar, NamedTuple, TextIO

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from lbmock import fixtures_dir

SCHEMA_NAMES: tuple[str, ...] = ("export_v2_dicom_row", "legacy_row", "frame_record")
FORMATS: dict[str, str] = {"v2": "export_v2_dicom_row", "legacy": "legacy_row", "frames": "frame_record"}
PLANES: tuple[str, ...] = ("Axial", "Sagittal", "Coronal")

EXIT_OK, EXIT_VIOLATIONS, EXIT_UNREADABLE = 0, 1, 2

_FRAME_KEY = re.compile(r"^[1-9][0-9]*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SNIFF_BYTES = 8192


# ---------------------------------------------------------------- schemas


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


# ---------------------------------------------------------------- violations


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


def _v(parts: Iterable[str | int], message: str) -> Violation:
    return Violation(json_path(parts), message.replace("\n", "\\n"))


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "array"), (dict, "object"), (type(None), "null"))


def _json_type(value: Any) -> str:
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
        yield _v([*path, instance], f"key {instance!r} {what}")
    elif kind == "required":
        missing = [k for k in value if isinstance(instance, dict) and k not in instance]
        for key in missing:
            if (tuple(path), key) not in reported:
                reported.add((tuple(path), key))
                yield _v([*path, key], "required key is missing")
                break
    elif kind in ("anyOf", "oneOf"):
        keys = _required_only(value)
        if keys is not None:
            names = ", ".join(repr(k) for k in keys)
            if error.context:
                yield _v(path, f"needs {'one' if kind == 'anyOf' else 'exactly one'} of {names}")
            else:
                yield _v(path, f"has more than one of {names}; exactly one is allowed")
        elif error.context:
            yield from _explain(best_match(error.context), reported)
        else:
            yield _v(path, "matches more than one alternative; exactly one is allowed")
    elif kind == "type":
        types = value if isinstance(value, list) else [value]
        yield _v(path, f"expected {' or '.join(types)}, got {_json_type(instance)}")
    elif kind == "pattern":
        yield _v(path, f"{_short(instance)} does not match {value!r}{_hint(error)}")
    elif kind == "enum":
        yield _v(path, f"{_short(instance)} is not one of {', '.join(repr(x) for x in value)}")
    elif kind == "const":
        yield _v(path, f"must be {_short(value)}, got {_short(instance)}")
    elif kind == "minItems":
        yield _v(path, f"expected at least {value} item(s), got {len(instance)}")
    elif kind == "maxItems":
        yield _v(path, f"expected at most {value} item(s), got {len(instance)}")
    elif kind == "minimum":
        yield _v(path, f"{_short(instance)} is less than the minimum {value}")
    elif kind == "minLength":
        yield _v(path, "must not be empty" if value == 1 else error.message)
    elif kind == "not" and value == {}:
        sub = error.schema if isinstance(error.schema, dict) else {}
        yield _v(path, "key not allowed here" + (f" ({sub['description'].rstrip('.')})"
                                                  if "description" in sub else ""))
    else:
        yield _v(path, error.message if len(error.message) <= 200 else error.message[:197] + "...")


def schema_violations(row: Any, name: str) -> list[Violation]:
    """Every way ``row`` breaks schema ``name``, one :class:`Violation` each."""
    reported: set = set()
    return [v for error in validator(name).iter_errors(row) for v in _explain(error, reported)]


# ---------------------------------------------------------------- invariants


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unique(items: Any, path: list, key: str, what: str) -> Iterator[Violation]:
    seen: dict[str, int] = {}
    for i, item in enumerate(_list(items)):
        ident = _dict(item).get(key)
        if not isinstance(ident, str):
            continue
        if ident in seen:
            yield _v([*path, i, key], f"duplicate {what} {ident!r} (also at index {seen[ident]})")
        else:
            seen[ident] = i


def _ranges(segments: dict, plane: str, feature_id: str) -> list[tuple[int, int]] | None:
    ranges = _dict(segments.get(plane)).get(feature_id)
    if not isinstance(ranges, list):
        return None
    return [(r[0], r[1]) for r in ranges
            if isinstance(r, list) and len(r) == 2 and _int(r[0]) and _int(r[1])]


def _covered(frame: int, ranges: list[tuple[int, int]]) -> bool:
    return any(start <= frame <= end for start, end in ranges)


def _fmt_ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"[{s}, {e}]" for s, e in ranges)


def _segment_invariants(segments: dict, base: list) -> Iterator[Violation]:
    plane_of: dict[str, str] = {}
    for plane, per_feature in segments.items():
        if plane not in PLANES:
            continue
        for fid, ranges in _dict(per_feature).items():
            path = [*base, "segments", plane, fid]
            first = plane_of.setdefault(fid, plane)
            if first != plane:
                yield _v(path, f"feature {fid} has segments on {first} and on {plane}; "
                               "a feature lives on one plane")
            forward = []
            for k, r in enumerate(_list(ranges)):
                if not (isinstance(r, list) and len(r) == 2 and _int(r[0]) and _int(r[1])):
                    continue
                if r[0] > r[1]:
                    yield _v([*path, k], f"segment starts at frame {r[0]}, after it ends at frame {r[1]}")
                else:
                    forward.append((r[0], r[1], k))
            forward.sort()
            for (s0, e0, _k0), (s1, e1, k1) in itertools.pairwise(forward):
                if s1 <= e0:
                    yield _v([*path, k1], f"segment [{s1}, {e1}] overlaps segment [{s0}, {e0}]")


def _key_frames(entry: Any, path: list) -> Iterator[tuple[str | None, int, list]]:
    """``(plane or None, frame, path)`` of each key frame a map entry lists."""
    if isinstance(entry, list):
        for i, n in enumerate(entry):
            if _int(n):
                yield None, n, [*path, i]
        return
    for plane, frames in _dict(entry).items():
        if plane not in PLANES:
            continue
        if isinstance(frames, list):
            for i, n in enumerate(frames):
                if _int(n):
                    yield plane, n, [*path, plane, i]
        else:
            for key, flag in _dict(frames).items():
                if _FRAME_KEY.match(key) and flag is True:
                    yield plane, int(key), [*path, plane, key]


def _annotation_invariants(ann: dict, base: list, owner: dict[str, str], label_path: str
                           ) -> Iterator[Violation]:
    groups, segments = _dict(ann.get("groups")), _dict(ann.get("segments"))
    yield from _segment_invariants(segments, base)
    yield from _unique(ann.get("classifications"), [*base, "classifications"], "feature_id",
                       "classification feature id")
    plane_of: dict[str, str] = {}
    frames_of: dict[str, set[int]] = {}
    kind_of: dict[str, str] = {}
    told: set[tuple] = set()
    for plane, group in groups.items():  # badly named planes and frames still count as present
        if not isinstance(group, dict):
            continue
        yield from _unique(group.get("classifications"), [*base, "groups", plane, "classifications"],
                           "feature_id", "classification feature id")
        for fkey, frame in _dict(group.get("frames")).items():
            if not isinstance(frame, dict):
                continue
            n = int(fkey) if _FRAME_KEY.match(fkey) and plane in PLANES else None
            fpath = [*base, "groups", plane, "frames", fkey]
            yield from _unique(frame.get("classifications"), [*fpath, "classifications"], "feature_id",
                               "classification feature id")
            for fid, obj in _dict(frame.get("objects")).items():
                if not isinstance(obj, dict):
                    continue
                opath = [*fpath, "objects", fid]
                if isinstance(obj.get("feature_id"), str) and obj["feature_id"] != fid:
                    yield _v([*opath, "feature_id"],
                             f"is {obj['feature_id']!r} but the object is keyed by {fid!r}")
                if owner.setdefault(fid, label_path) != label_path and (fid, "owner") not in told:
                    told.add((fid, "owner"))
                    yield _v(opath, f"feature id {fid} is also used by the label at {owner[fid]}")
                first = plane_of.setdefault(fid, plane)
                if first != plane:
                    if (fid, "plane") not in told:
                        told.add((fid, "plane"))
                        yield _v(opath, f"feature {fid} has frames on {first} and on {plane}; "
                                        "a feature's frames must be on one plane")
                    continue
                if n is not None:
                    frames_of.setdefault(fid, set()).add(n)
                kind = obj.get("annotation_kind")
                if isinstance(kind, str) and kind_of.setdefault(fid, kind) != kind and (fid, "kind") not in told:
                    told.add((fid, "kind"))
                    yield _v([*opath, "annotation_kind"], f"is {kind} but feature {fid} is "
                                                          f"{kind_of[fid]} on another frame")
                yield from _classification_ids(obj, opath)
                ranges = _ranges(segments, plane, fid)
                if n is None:
                    continue
                if ranges is None:
                    if (fid, plane, "segments") not in told:
                        told.add((fid, plane, "segments"))
                        yield _v(opath, f"feature {fid} has frames on {plane} but no segments there")
                elif not _covered(n, ranges):
                    yield _v(opath, f"frame {n} of feature {fid} lies outside its segments "
                                    f"({_fmt_ranges(ranges) or 'none'})")
    kmap = ann.get("key_frame_feature_map")
    if not isinstance(kmap, dict):  # real exports sometimes drop it: nothing to compare
        return
    kpath = [*base, "key_frame_feature_map"]
    for fid in plane_of:
        if fid not in kmap:
            yield _v(kpath, f"feature {fid} has frames but is missing from key_frame_feature_map")
    for fid, entry in kmap.items():
        if fid not in plane_of:
            yield _v([*kpath, fid], f"names feature {fid}, which has no frames in this label")
            continue
        home = plane_of[fid]
        for plane, n, path in _key_frames(entry, [*kpath, fid]):
            if plane is not None and plane != home:
                yield _v(path, f"key frame {n} is on {plane}, but feature {fid}'s frames are on {home}")
            elif n not in frames_of.get(fid, ()):
                yield _v(path, f"key frame {n} of feature {fid} is missing from groups.{home}.frames")


def _classification_ids(obj: dict, path: list) -> Iterator[Violation]:
    yield from _unique(obj.get("classifications"), [*path, "classifications"], "feature_id",
                       "classification feature id")


def v2_invariants(row: Any) -> Iterator[Violation]:
    """Rules of one export v2 row that its schema cannot express."""
    if not isinstance(row, dict):
        return
    yield from _unique(row.get("attachments"), ["attachments"], "id", "attachment id")
    yield from _unique(row.get("embeddings"), ["embeddings"], "id", "embedding id")
    for i, emb in enumerate(_list(row.get("embeddings"))):
        dims = _dict(emb).get("dimensions")
        for j, val in enumerate(_list(_dict(emb).get("values"))):
            vector = _dict(val).get("value")
            if _int(dims) and isinstance(vector, list) and len(vector) != dims:
                yield _v(["embeddings", i, "values", j, "value"],
                         f"has {len(vector)} numbers but dimensions is {dims}")
    labels_seen: dict[str, str] = {}
    owner: dict[str, str] = {}
    for pid, project in _dict(row.get("projects")).items():
        for li, label in enumerate(_list(_dict(project).get("labels"))):
            if not isinstance(label, dict):
                continue
            base = ["projects", pid, "labels", li]
            here = json_path(base)
            lid = label.get("id")
            if isinstance(lid, str):
                if lid in labels_seen:
                    yield _v([*base, "id"], f"label id {lid} appears twice in this row "
                                            f"(also at {labels_seen[lid]})")
                labels_seen.setdefault(lid, here)
            ann = label.get("annotations")
            if isinstance(ann, dict):
                yield from _annotation_invariants(ann, [*base, "annotations"], owner, here)


def legacy_invariants(row: Any) -> Iterator[Violation]:
    """Rules of one legacy row that its schema cannot express."""
    if not isinstance(row, dict):
        return
    lid = row.get("ID")
    label_id = lid if isinstance(lid, str) and lid else None
    seen: dict[str, int] = {}
    for i, group in enumerate(_list(_dict(row.get("Label")).get("groups"))):
        if not isinstance(group, dict):
            continue
        name = group.get("name")
        if isinstance(name, str):
            if name in seen:
                yield _v(["Label", "groups", i, "name"],
                         f"plane {name!r} is listed twice (also groups[{seen[name]}])")
            seen.setdefault(name, i)
        frames = group.get("frames")
        if label_id and isinstance(frames, str) and label_id not in frames:
            yield _v(["Label", "groups", i, "frames"], f"frames URL does not contain the label id {label_id}")
    view = row.get("View Label")
    if label_id and isinstance(view, str) and label_id not in view:
        yield _v(["View Label"], f"does not contain the label id {label_id}")


def frame_record_invariants(row: Any) -> Iterator[Violation]:
    """Rules of one per-frame record that its schema cannot express."""
    if not isinstance(row, dict):
        return
    yield from _unique(row.get("objects"), ["objects"], "featureId", "feature id")


_INVARIANTS = {"v2": v2_invariants, "legacy": legacy_invariants, "frames": frame_record_invariants}


def validate_row(row: Any, fmt: str) -> list[Violation]:
    """Schema and invariant violations of one row of format ``fmt`` (v2, legacy or frames)."""
    return [*schema_violations(row, FORMATS[fmt]), *_INVARIANTS[fmt](row)]


class FileChecker:
    """Checks rows of one file in order, adding the rules that span rows (unique ids)."""

    _KEYS: ClassVar[dict[str, tuple[tuple[str, ...], str]]] = {
        "v2": (("data_row", "id"), "data row id"),
        "legacy": (("ID",), "label id"),
        "frames": (("frameNumber",), "frameNumber"),
    }

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.first_seen: dict[Any, int] = {}

    def check(self, row: Any, number: int) -> list[Violation]:
        out = validate_row(row, self.fmt)
        keys, what = self._KEYS[self.fmt]
        value: Any = row
        for k in keys:
            value = _dict(value).get(k)
        if isinstance(value, str) or _int(value):
            if value in self.first_seen:
                out.append(_v(list(keys), f"duplicate {what} {value} (first in row {self.first_seen[value]})"))
            else:
                self.first_seen[value] = number
        return out


# ---------------------------------------------------------------- files


class UnreadableInput(Exception):
    """The input is not something we can validate (exit code 2)."""


def _not_json(exc: orjson.JSONDecodeError, first_line: int, one_line: bool) -> UnreadableInput:
    """Where the JSON broke: ``first_line`` is the file line the parsed text starts on."""
    msg = exc.msg.split(": line ")[0] if exc.msg else "invalid JSON"
    if one_line:  # an NDJSON line: the error is on that line, wherever the parser stopped
        where = f"line {first_line}" + (f", column {exc.colno}" if exc.lineno == 1 else "")
    else:
        where = f"line {first_line + exc.lineno - 1}, column {exc.colno}"
    return UnreadableInput(f"{where}: not valid JSON ({msg})")


def _looks_binary(chunk: bytes) -> bool:
    if b"\x00" in chunk:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(chunk, final=False)
    except UnicodeDecodeError:
        return True
    return False


def _ndjson_rows(fh: IO[bytes], after: int) -> Iterator[tuple[int, Any]]:
    number = after
    for line in fh:
        number += 1
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise _not_json(exc, number, one_line=True) from None


def _whole(first: bytes, fh: IO[bytes], first_number: int) -> Any:
    try:
        return orjson.loads(first + fh.read())
    except orjson.JSONDecodeError as exc:
        raise _not_json(exc, first_number, one_line=False) from None


def _rows(fh: IO[bytes]) -> tuple[str, Iterator[tuple[int, Any]]]:
    """Sniff the format; return it with ``(row number, row)`` pairs."""
    number, first = 0, b""
    for line in iter(fh.readline, b""):
        number += 1
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if _looks_binary(line[:_SNIFF_BYTES]):
            raise UnreadableInput(f"line {number}: binary data, not JSON text")
        if line.strip():
            first = line
            break
    if not first:
        raise UnreadableInput("empty file: no JSON in it" if number == 0 else "no JSON in it (blank lines only)")
    lead = first.lstrip()[:1]
    if lead == b"[":
        doc = _whole(first, fh, number)
        if not isinstance(doc, list):  # pragma: no cover - '[' always parses to a list
            raise UnreadableInput("top-level JSON value is not an array")
        return "legacy", ((i + 1, row) for i, row in enumerate(doc))
    try:
        head = orjson.loads(first)
    except orjson.JSONDecodeError as exc:
        if first.strip() == b"{":  # one pretty-printed object, e.g. a sample row
            head = _whole(first, fh, number)
            return ("frames" if "frameNumber" in head else "v2"), iter([(number, head)])
        raise _not_json(exc, number, one_line=True) from None
    if not isinstance(head, dict):
        raise UnreadableInput(
            f"line {number}: top-level JSON value is {'an' if _json_type(head)[0] in 'aeiou' else 'a'} "
            f"{_json_type(head)}; expected one object per line (export v2 or frame-record NDJSON) "
            "or an array (legacy export)")
    fmt = "frames" if "frameNumber" in head else "v2"
    return fmt, _chain(number, head, _ndjson_rows(fh, number))


def _chain(number: int, head: Any, rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    yield number, head
    yield from rest


@contextlib.contextmanager
def _open(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    p = Path(path)
    if p.is_dir():
        raise UnreadableInput("is a directory, not an export file")
    try:
        fh = p.open("rb")
    except FileNotFoundError:
        raise UnreadableInput("no such file") from None
    except OSError as exc:
        raise UnreadableInput(f"cannot open: {exc.strerror or exc}") from None
    with fh:
        yield fh


def _silence(out: TextIO) -> None:
    """Point a closed pipe at /dev/null so the interpreter's final flush stays quiet."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())


def validate_path(path: str, out: TextIO, max_reports: int = 200, *, err: TextIO | None = None) -> int:
    """Validate the export at ``path`` (``-`` for stdin), reporting to ``out``.

    Prints ``row N: <json-path>: <message>`` per violation (at most
    ``max_reports`` of them) and a summary line.  Returns 0 when clean, 1 on
    violations, 2 (with one line on ``err``, default stderr) when the input
    cannot be read as an export at all.
    """
    err = err if err is not None else sys.stderr
    shown = "<stdin>" if path == "-" else path
    fmt, n_rows, bad_rows, n_violations = "?", 0, 0, 0
    try:
        with _open(path) as fh:
            fmt, rows = _rows(fh)
            checker = FileChecker(fmt)
            for number, row in rows:
                n_rows += 1
                violations = checker.check(row, number)
                bad_rows += bool(violations)
                for violation in violations:
                    n_violations += 1
                    if n_violations <= max_reports:
                        out.write(f"row {number}: {violation}\n")
    except BrokenPipeError:  # `lbmock validate big.ndjson | head`: the reader has seen enough
        _silence(out)
        return EXIT_VIOLATIONS if n_violations else EXIT_OK
    except UnreadableInput as exc:
        out.flush()
        print(f"lbmock validate: error: {shown}: {exc}", file=err)
        return EXIT_UNREADABLE
    except OSError as exc:
        out.flush()
        print(f"lbmock validate: error: {shown}: cannot read: {exc.strerror or exc}", file=err)
        return EXIT_UNREADABLE
    if n_violations > max_reports:
        out.write(f"... {n_violations - max(max_reports, 0)} more violation(s) not shown (--max-errors)\n")
    if n_violations:
        out.write(f"FAILED: {n_violations} violation(s) in {bad_rows} of {n_rows} rows, format {fmt}\n")
        return EXIT_VIOLATIONS
    out.write(f"OK: {n_rows} rows, format {fmt}\n")
    return EXIT_OK
