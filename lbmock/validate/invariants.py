"""The invariants a schema cannot express, per row and across the rows of one file."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from lbmock.validate.explanations import Violation, json_path, schema_violations, violation
from lbmock.validate.schemas import FORMATS

PLANES: tuple[str, ...] = ("Axial", "Sagittal", "Coronal")

_FRAME_KEY = re.compile(r"^[1-9][0-9]*$")


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unique(items: Any, path: list, key: str, what: str) -> Iterator[Violation]:
    seen: dict[str, int] = {}
    for i, item in enumerate(_list(items)):
        ident = _dict(item).get(key)
        if not isinstance(ident, str):
            continue
        if ident in seen:
            yield violation([*path, i, key], f"duplicate {what} {ident!r} (also at index {seen[ident]})")
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
                yield violation(path, f"feature {fid} has segments on {first} and on {plane}; "
                               "a feature lives on one plane")
            forward = []
            for k, r in enumerate(_list(ranges)):
                if not (isinstance(r, list) and len(r) == 2 and _int(r[0]) and _int(r[1])):
                    continue
                if r[0] > r[1]:
                    yield violation([*path, k], f"segment starts at frame {r[0]}, after it ends at frame {r[1]}")
                else:
                    forward.append((r[0], r[1], k))
            forward.sort()
            for (s0, e0, _k0), (s1, e1, k1) in itertools.pairwise(forward):
                if s1 <= e0:
                    yield violation([*path, k1], f"segment [{s1}, {e1}] overlaps segment [{s0}, {e0}]")


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
                    yield violation([*opath, "feature_id"],
                             f"is {obj['feature_id']!r} but the object is keyed by {fid!r}")
                if owner.setdefault(fid, label_path) != label_path and (fid, "owner") not in told:
                    told.add((fid, "owner"))
                    yield violation(opath, f"feature id {fid} is also used by the label at {owner[fid]}")
                first = plane_of.setdefault(fid, plane)
                if first != plane:
                    if (fid, "plane") not in told:
                        told.add((fid, "plane"))
                        yield violation(opath, f"feature {fid} has frames on {first} and on {plane}; "
                                        "a feature's frames must be on one plane")
                    continue
                if n is not None:
                    frames_of.setdefault(fid, set()).add(n)
                kind = obj.get("annotation_kind")
                if isinstance(kind, str) and kind_of.setdefault(fid, kind) != kind and (fid, "kind") not in told:
                    told.add((fid, "kind"))
                    yield violation([*opath, "annotation_kind"], f"is {kind} but feature {fid} is "
                                                          f"{kind_of[fid]} on another frame")
                yield from _classification_ids(obj, opath)
                ranges = _ranges(segments, plane, fid)
                if n is None:
                    continue
                if ranges is None:
                    if (fid, plane, "segments") not in told:
                        told.add((fid, plane, "segments"))
                        yield violation(opath, f"feature {fid} has frames on {plane} but no segments there")
                elif not _covered(n, ranges):
                    yield violation(opath, f"frame {n} of feature {fid} lies outside its segments "
                                    f"({_fmt_ranges(ranges) or 'none'})")
    kmap = ann.get("key_frame_feature_map")
    if not isinstance(kmap, dict):  # real exports sometimes drop it: nothing to compare
        return
    kpath = [*base, "key_frame_feature_map"]
    for fid in plane_of:
        if fid not in kmap:
            yield violation(kpath, f"feature {fid} has frames but is missing from key_frame_feature_map")
    for fid, entry in kmap.items():
        if fid not in plane_of:
            yield violation([*kpath, fid], f"names feature {fid}, which has no frames in this label")
            continue
        home = plane_of[fid]
        for plane, n, path in _key_frames(entry, [*kpath, fid]):
            if plane is not None and plane != home:
                yield violation(path, f"key frame {n} is on {plane}, but feature {fid}'s frames are on {home}")
            elif n not in frames_of.get(fid, ()):
                yield violation(path, f"key frame {n} of feature {fid} is missing from groups.{home}.frames")


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
                yield violation(["embeddings", i, "values", j, "value"],
                         f"has {len(vector)} numbers but dimensions is {dims}")
    labels_seen: dict[str, str] = {}
    owner: dict[str, str] = {}
    for pid, project in _dict(row.get("projects")).items():
        yield from _benchmark_invariants(_list(_dict(project).get("labels")), ["projects", pid, "labels"])
        for li, label in enumerate(_list(_dict(project).get("labels"))):
            if not isinstance(label, dict):
                continue
            base = ["projects", pid, "labels", li]
            here = json_path(base)
            lid = label.get("id")
            if isinstance(lid, str):
                if lid in labels_seen:
                    yield violation([*base, "id"], f"label id {lid} appears twice in this row "
                                            f"(also at {labels_seen[lid]})")
                labels_seen.setdefault(lid, here)
            ann = label.get("annotations")
            if isinstance(ann, dict):
                yield from _annotation_invariants(ann, [*base, "annotations"], owner, here)


def _benchmark_invariants(labels: list, path: list) -> Iterator[Violation]:
    """A benchmark score goes with a reference to another label of the same project on the
    row, and the referenced (gold) label is not itself scored against a benchmark."""
    performance = {i: _dict(_dict(lb).get("performance_details")) for i, lb in enumerate(labels)}
    ids = {_dict(lb).get("id"): i for i, lb in enumerate(labels)}
    for i, perf in performance.items():
        ref, score = perf.get("benchmark_reference_label"), perf.get("benchmark_score")
        where = [*path, i, "performance_details"]
        if (ref is None) != (score is None):
            yield violation(where, "benchmark_score and benchmark_reference_label come together")
        if ref is None:
            continue
        if ref not in ids or ids[ref] == i:
            yield violation([*where, "benchmark_reference_label"],
                            f"names {ref}, which is not another label of this project on this row")
        elif "benchmark_reference_label" in performance[ids[ref]] or "benchmark_score" in performance[ids[ref]]:
            yield violation([*where, "benchmark_reference_label"],
                            f"names {ref}, a label that is itself scored against a benchmark")


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
                yield violation(["Label", "groups", i, "name"],
                         f"plane {name!r} is listed twice (also groups[{seen[name]}])")
            seen.setdefault(name, i)
        frames = group.get("frames")
        if label_id and isinstance(frames, str) and label_id not in frames:
            yield violation(["Label", "groups", i, "frames"], f"frames URL does not contain the label id {label_id}")
    view = row.get("View Label")
    if label_id and isinstance(view, str) and label_id not in view:
        yield violation(["View Label"], f"does not contain the label id {label_id}")
    to_label, to_create = row.get("Seconds to Label"), row.get("Seconds to Create")
    if _number(to_label) and _number(to_create) and to_label + 0.001 < to_create:
        yield violation(["Seconds to Label"], f"is {to_label}, less than Seconds to Create ({to_create}): "
                                              "it includes creating the label")


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
        out.extend(self.seen(row_key(row, self.fmt), number))
        return out

    def seen(self, key: str | int | None, number: int) -> list[Violation]:
        """The rule across rows, given the row's :func:`row_key` (rows checked elsewhere, in order)."""
        if key is None:
            return []
        if key in self.first_seen:
            keys, what = self._KEYS[self.fmt]
            return [violation(list(keys), f"duplicate {what} {key} (first in row {self.first_seen[key]})")]
        self.first_seen[key] = number
        return []


def row_key(row: Any, fmt: str) -> str | int | None:
    """The value that must be unique across a file's rows of format ``fmt``, if the row has one."""
    value: Any = row
    for k in FileChecker._KEYS[fmt][0]:
        value = _dict(value).get(k)
    return value if isinstance(value, str) or _int(value) else None
