"""The contract of the real Labelbox API for DICOM exports, run against any target.

``pytest --pyargs lbmock.contract_tests`` checks the in-process mock and the threaded
server; ``--lb-target=live --lb-api-key=... --lb-project-id=...`` checks a real
deployment (``--lb-record DIR`` saves what it received, secrets stripped).

Everything asserted here is a PROPERTY that must hold for any DICOM project:
nothing is compared with values the mock generated.  The unfiltered export of
a target is fetched once and reused (``_cached``); filtered exports are
checked against it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lbmock.contract_tests import wire
from lbmock.png import PNG_SIGNATURE, Png, decode_png
from lbmock.render.common import parse_iso

PARAMS = tuple(wire.PARAM_FLAGS)
ALL_ON = dict.fromkeys(PARAMS, True)
ALL_OFF: dict[str, bool] = {}
# Two complementary mixes: every param is seen on and off next to different neighbours.
MIX_A = {"attachments": True, "metadata_fields": True, "project_details": True, "label_details": True}
MIX_B = {p: True for p in PARAMS if p not in MIX_A}
COMBOS = {"all-on": ALL_ON, "all-off": ALL_OFF, "mix-a": MIX_A, "mix-b": MIX_B}
FILTER_PARAMS = {"data_row_details": True, "project_details": True, "label_details": True}

PLANES = {"Axial": "axial", "Sagittal": "sagittal", "Coronal": "coronal"}
WORKFLOW = {"ToLabel": "TO_LABEL", "InReview": "IN_REVIEW", "InRework": "IN_REWORK", "Done": "DONE"}
SAMPLE_LABELS = 8  # labels whose legacy frames are fetched per test
SAMPLE_MASKS = 6  # mask (feature, frame) pairs downloaded per test
SAMPLE_DICOM = 2  # data rows whose row_data (a whole volume) is downloaded per test
SDK_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}Z$")  # what the SDK parses


# ---------------------------------------------------------------- caching per target

_CACHE: dict[tuple, Any] = {}


def _cached(target: Any, name: str, compute: Callable[[], Any], *, urls: bool = False) -> Any:
    """``compute()`` once per target.

    Mock targets serve one seeded world, so their payloads are shared across
    the short-lived servers of different tests; ``urls=True`` (payloads whose
    links are followed) also keys on the endpoint, since links name its host.
    """
    where = target.graphql_url if target.kind == "live" or urls else None
    key = (target.kind, target.project_id, id(target.world), where, name)
    if key not in _CACHE:
        _CACHE[key] = compute()
    return _CACHE[key]


def full_export(target: Any, *, urls: bool = False) -> list[dict]:
    """The unfiltered export with every param on."""
    return _cached(target, "v2:all-on", lambda: target.client.export(ALL_ON, record_as="all-on").rows, urls=urls)


def combo_export(target: Any, combo: str) -> list[dict]:
    if combo == "all-on":
        return full_export(target)
    return _cached(target, f"v2:{combo}", lambda: target.client.export(COMBOS[combo], record_as=combo).rows)


def legacy(target: Any) -> wire.LegacyExport:
    return _cached(target, "legacy", lambda: target.client.legacy_export(record_as="export_labels"), urls=True)


def timezone_of(target: Any) -> str:
    return _cached(target, "timezone", lambda: target.client.user_timezone())


# ---------------------------------------------------------------- schemas


def _validator(name: str) -> Any:
    try:
        from lbmock.validate import validator
    except ImportError:  # the shared helper is not there: load the schemas directly
        return _fallback_validator(name)
    return validator(name)


def _fallback_validator(name: str) -> Any:
    import json

    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    from lbmock import fixtures_dir

    folder = fixtures_dir() / "schemas"
    schemas = {p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in folder.glob("*.schema.json")}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return Draft202012Validator(schemas[name], registry=registry)


SCHEMAS = {"v2": "export_v2_dicom_row", "legacy": "legacy_row", "frames": "frame_record"}


def assert_valid(rows: list, fmt: str, what: str) -> None:
    """Every row validates against the fixtures' JSON Schema for ``fmt``."""
    validator = _validator(SCHEMAS[fmt])
    problems = []
    for i, row in enumerate(rows):
        for error in validator.iter_errors(row):
            path = "".join(f"[{p!r}]" for p in error.absolute_path)
            problems.append(f"{what} row {i}{path}: {error.message[:200]}")
    assert not problems, f"{len(problems)} schema violation(s):\n" + "\n".join(problems[:15])


# ---------------------------------------------------------------- row helpers


def project_part(row: dict, project_id: str) -> dict:
    projects = row.get("projects")
    assert isinstance(projects, dict) and project_id in projects, \
        f"row {row['data_row']['id']} lacks projects[{project_id!r}]"
    return projects[project_id]


def labels(row: dict, project_id: str) -> list[dict]:
    return project_part(row, project_id).get("labels", [])


def ids(rows: list[dict]) -> list[str]:
    return [r["data_row"]["id"] for r in rows]


def v2_objects(label: dict) -> Iterator[tuple[str, int, str, dict]]:
    """``(plane, frame, feature_id, object)`` of every object of a v2 DICOM label."""
    for plane, group in label["annotations"]["groups"].items():
        for frame, content in group.get("frames", {}).items():
            for fid, obj in content.get("objects", {}).items():
                yield plane, int(frame), fid, obj


def gap_window(instants: list[datetime], tz: str) -> tuple[str, str, datetime, datetime] | None:
    """A window holding a middle block of ``instants``, bounds 2-3 s outside the block.

    Bounds are whole seconds written in the user's timezone, as a user types
    them (``YYYY-MM-DD hh:mm:ss``).  No instant lies within 1 s of a bound (or
    of the second it names), so the answer does not depend on how the server
    rounds or includes a bound; yet the bounds hug the block, so a server that
    reads them in another timezone loses or gains rows.
    """
    zone = ZoneInfo(tz)
    times = sorted(set(instants))
    if len(times) < 3:
        return None
    fmt = "%Y-%m-%d %H:%M:%S"

    def typed(cand: datetime) -> str | None:
        text = cand.astimezone(zone).strftime(fmt)
        if datetime.strptime(text, fmt).replace(tzinfo=zone) != cand:
            return None  # a DST fold or gap: the local text would not name this instant
        return text

    def start_before(i: int) -> datetime | None:
        cand = times[i].replace(microsecond=0) - timedelta(seconds=2)
        return cand if i == 0 or times[i - 1] < cand - timedelta(seconds=1) else None

    def end_after(j: int) -> datetime | None:
        cand = times[j].replace(microsecond=0) + timedelta(seconds=3)
        return cand if j == len(times) - 1 or times[j + 1] > cand + timedelta(seconds=2) else None

    n = len(times)
    for i in sorted(range(1, n - 1), key=lambda k: abs(k - n // 3)):
        start = start_before(i)
        if start is None or typed(start) is None:
            continue
        for j in sorted(range(i, n - 1), key=lambda k: abs(k - 2 * n // 3)):
            end = end_after(j)
            if end is not None and typed(end) is not None:
                return typed(start), typed(end), start, end  # type: ignore[return-value]
    return None


# ---------------------------------------------------------------- project, user


def test_project_is_a_dicom_project(lb_target):
    project = lb_target.client.get_project()
    selected = wire.GET_PROJECT.rsplit("{", 1)[1].rstrip("}").split()
    missing = [f for f in selected if f not in project]
    assert not missing, f"GetProjectPyApi answer lacks selected fields {missing} (the SDK raises KeyError)"
    assert project["id"] == lb_target.project_id
    assert project["allowedMediaType"] == "DICOM"
    for name in ("createdAt", "updatedAt", "setupComplete", "lastActivityTime"):
        assert project[name] is None or SDK_DATETIME.match(project[name]), f"{name}={project[name]!r}"


def test_user_and_timezone(lb_target):
    user = lb_target.client.current_user()
    assert isinstance(user["id"], str) and user["id"]
    tz = lb_target.client.user_timezone()
    ZoneInfo(tz)  # an IANA name (or the SDK's "UTC" fallback)


# ---------------------------------------------------------------- task lifecycle


def test_export_task_lifecycle(lb_target):
    payload = lb_target.client.create_export_payload(ALL_OFF)
    task_id = payload["taskId"]
    assert isinstance(task_id, str) and task_id.strip()
    assert payload["isStreamable"] is True
    done = lb_target.client.wait_for_task(task_id)
    assert done.task["status"] == "COMPLETE"
    for snap in done.snapshots:
        assert snap["id"] == task_id
        assert snap["status"] in wire.TASK_STATUSES
        assert snap["type"] == "export-data-rows"
        pct = snap["completionPercentage"]
        assert isinstance(pct, int | float) and not isinstance(pct, bool), f"completionPercentage={pct!r}"
        assert 0 <= pct <= 100 and not math.isnan(pct)
        for name in ("createdAt", "updatedAt"):
            assert snap[name] is None or SDK_DATETIME.match(snap[name]), f"{name}={snap[name]!r}"
    assert [s["status"] for s in done.snapshots[:-1]] == ["IN_PROGRESS"] * (len(done.snapshots) - 1)
    again = lb_target.client.created_tasks(task_id)
    assert [t["id"] for t in again] == [task_id], "the task is not findable through user.createdTasks"
    assert again[0]["status"] == "COMPLETE"  # a finished task stays finished


# ---------------------------------------------------------------- schemas


@pytest.mark.parametrize("combo", COMBOS)
def test_v2_rows_match_the_schema(lb_target, combo):
    rows = combo_export(lb_target, combo)
    assert rows, "the project exported no rows: the contract needs a project with data rows"
    assert_valid(rows, "v2", f"export v2 ({combo})")


def test_legacy_rows_match_the_schema(lb_target):
    export = legacy(lb_target)
    assert isinstance(export.rows, list)
    assert_valid(export.rows, "legacy", "export_labels")


# ---------------------------------------------------------------- include / exclude


def _present(row: dict, pid: str, param: str) -> list[bool]:
    """Whether the field of ``param`` is present, for each place it can appear in the row."""
    if param in ("attachments", "embeddings", "metadata_fields"):
        return [param in row]
    if param == "data_row_details":
        return ["details" in row["data_row"]]
    if param == "project_details":
        return ["project_details" in project_part(row, pid)]
    return [param in label for label in labels(row, pid)]  # label_details, performance_details


@pytest.mark.parametrize("combo", COMBOS)
def test_params_include_or_leave_out_their_fields(lb_target, combo):
    rows = combo_export(lb_target, combo)
    params = COMBOS[combo]
    pid = lb_target.project_id
    for param in PARAMS:
        if param == "interpolated_frames":
            continue  # changes which frames appear, not a key: see the next test
        on = bool(params.get(param))
        flags = [flag for row in rows for flag in _present(row, pid, param)]
        if on:
            assert all(flags), f"{param} is on but its field is missing from {flags.count(False)} place(s)"
        else:
            assert not any(flags), f"{param} is off but its field is present in {sum(flags)} place(s) (must be absent)"
        if param in ("attachments", "embeddings", "metadata_fields") and on:
            assert all(isinstance(row[param], list) for row in rows)


def test_interpolated_frames_keep_key_frames_and_fill_polyline_segments(lb_target):
    """Off: key frames only; on: those plus every frame of each polyline segment."""
    pid = lb_target.project_id
    on = {lb["id"]: lb for row in full_export(lb_target) for lb in labels(row, pid)}
    off = {lb["id"]: lb for row in combo_export(lb_target, "all-off") for lb in labels(row, pid)}
    assert on.keys() == off.keys()
    for label_id, label in off.items():
        with_interp = {(p, n, f) for p, n, f, _ in v2_objects(on[label_id])}
        keyframes = {(p, n, f) for p, n, f, _ in v2_objects(label)}
        assert keyframes <= with_interp, f"label {label_id}: key frames vanish when interpolated_frames is on"
    for label_id, label in on.items():
        present = {(p, n, f) for p, n, f, _ in v2_objects(label)}
        kinds = {f: ("line" in o) for _, _, f, o in v2_objects(label)}
        for plane, per_feature in label["annotations"].get("segments", {}).items():
            for fid, ranges in per_feature.items():
                if not kinds.get(fid):
                    continue  # masks are not interpolated
                for start, end in ranges:
                    gaps = [n for n in range(start, end + 1) if (plane, n, fid) not in present]
                    assert not gaps, (f"label {label_id}: polyline {fid} lacks interpolated frames {gaps[:5]} "
                                      f"of its {plane} segment [{start}, {end}]")


# ---------------------------------------------------------------- filters


def _filtered(target: Any, items: list[dict], name: str) -> list[dict]:
    rows = target.client.export(FILTER_PARAMS, items, record_as=name).rows
    assert_valid(rows, "v2", name)
    return rows


def _subset(rows: list[dict], unfiltered: list[dict], name: str) -> None:
    extra = set(ids(rows)) - set(ids(unfiltered))
    assert not extra, f"{name}: {len(extra)} row(s) not in the unfiltered export, e.g. {sorted(extra)[:3]}"
    assert len(ids(rows)) == len(set(ids(rows))), f"{name}: a data row appears twice"


@pytest.mark.parametrize("status", list(WORKFLOW))
def test_workflow_status_filter(lb_target, status):
    pid = lb_target.project_id
    unfiltered = full_export(lb_target)
    rows = _filtered(lb_target, [wire.workflow_item(status)], f"workflow_status-{status}")
    _subset(rows, unfiltered, f"workflow_status={status}")
    wrong = [(r["data_row"]["id"], project_part(r, pid)["project_details"].get("workflow_status")) for r in rows
             if project_part(r, pid)["project_details"].get("workflow_status") != WORKFLOW[status]]
    assert not wrong, f"workflow_status={status} returned rows in other states: {wrong[:5]}"
    having = [r for r in unfiltered
              if project_part(r, pid)["project_details"].get("workflow_status") == WORKFLOW[status]]
    assert bool(rows) == bool(having), \
        f"{len(having)} row(s) are {WORKFLOW[status]} but the filter returned {len(rows)}"


def _spread(items: list, k: int = 3) -> list:
    if len(items) <= k:
        return list(items)
    if k == 1:
        return [items[len(items) // 2]]
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


@pytest.mark.parametrize("kind", ["data_row_ids", "global_keys", "batch_ids"])
def test_id_filters_select_exactly_those_rows(lb_target, kind):
    pid = lb_target.project_id
    unfiltered = full_export(lb_target)
    if kind == "data_row_ids":
        wanted = _spread(ids(unfiltered))
        expected = [r for r in unfiltered if r["data_row"]["id"] in wanted]
    elif kind == "global_keys":
        wanted = _spread([r["data_row"]["global_key"] for r in unfiltered if "global_key" in r["data_row"]])
        expected = [r for r in unfiltered if r["data_row"].get("global_key") in wanted]
    else:
        batches = [project_part(r, pid)["project_details"].get("batch_id") for r in unfiltered]
        wanted = _spread([b for b in batches if b], 1)
        expected = [r for r, b in zip(unfiltered, batches, strict=True) if b in wanted]
    if not wanted:
        pytest.skip(f"no row of this project has a value for the {kind} filter")
    rows = _filtered(lb_target, [wire.ids_item(kind, wanted)], f"filter-{kind}")
    assert sorted(ids(rows)) == sorted(ids(expected)), f"{kind}={wanted} selected the wrong rows"


def test_dataset_export_shows_the_projects_labels_as_the_project_export(lb_target):
    """Dataset.export (exportDataRowsInCatalog) with ``project_ids`` = this project: the rows asked
    for come back, each with this project's labels exactly as the project export has them."""
    pid = lb_target.project_id
    unfiltered = full_export(lb_target)
    labelled = [r for r in unfiltered if labels(r, pid)]
    if not labelled:
        pytest.skip("no labelled row in this project")
    dataset_id = labelled[0]["data_row"]["details"]["dataset_id"]
    same_dataset = [r for r in unfiltered if r["data_row"]["details"]["dataset_id"] == dataset_id]
    wanted = _spread(ids(same_dataset))
    stream = lb_target.client.catalog_export(
        ALL_ON, [wire.ids_item("data_row_ids", wanted), wire.dataset_item(dataset_id)], [pid],
        record_as="dataset-export")
    rows = stream.rows
    assert_valid(rows, "v2", "dataset export")
    assert sorted(ids(rows)) == sorted(wanted)
    by_id = {r["data_row"]["id"]: r for r in unfiltered}
    for row in rows:
        assert set(row["projects"]) <= {pid}, "project_ids names only this project"
        mine = [lb["id"] for lb in labels(by_id[row["data_row"]["id"]], pid)]
        theirs = [lb["id"] for lb in row["projects"].get(pid, {}).get("labels", [])]
        assert sorted(theirs) == sorted(mine)


def test_last_activity_at_window(lb_target):
    unfiltered = full_export(lb_target)
    activity = {r["data_row"]["id"]: parse_iso(r["data_row"]["details"]["last_activity_at"])
                for r in unfiltered if "last_activity_at" in r["data_row"].get("details", {})}
    tz = timezone_of(lb_target)
    window = gap_window(list(activity.values()), tz)
    if window is None:
        pytest.skip("no window with bounds clear of every last_activity_at")
    start, end, lo, hi = window
    rows = _filtered(lb_target, [wire.date_item("last_activity_at", start, end, tz)], "filter-last_activity_at")
    _subset(rows, unfiltered, "last_activity_at")
    for row in rows:
        seen = parse_iso(row["data_row"]["details"]["last_activity_at"])
        assert lo <= seen <= hi, f"row {row['data_row']['id']} last active {seen}, outside [{start}, {end}] {tz}"
    inside = {i for i, t in activity.items() if lo <= t <= hi}
    missing = inside - set(ids(rows))
    assert not missing, f"{len(missing)} row(s) active in [{start}, {end}] {tz} are missing, e.g. {sorted(missing)[:3]}"
    assert inside, "the chosen window should hold rows"


def test_labeled_at_window(lb_target):
    pid = lb_target.project_id
    unfiltered = full_export(lb_target)
    created = [parse_iso(lb["label_details"]["created_at"]) for r in unfiltered for lb in labels(r, pid)]
    tz = timezone_of(lb_target)
    window = gap_window(created, tz)
    if window is None:
        pytest.skip("the project has too few labels for a labeled_at window")
    start, end, lo, hi = window
    rows = _filtered(lb_target, [wire.date_item("label_created_at", start, end, tz)], "filter-labeled_at")
    _subset(rows, unfiltered, "labeled_at")
    for row in rows:
        times = [parse_iso(lb["label_details"]["created_at"]) for lb in labels(row, pid)]
        assert any(lo <= t <= hi for t in times), \
            f"row {row['data_row']['id']} has no label created in [{start}, {end}] {tz}: {times}"
    assert rows, f"labels were created in [{start}, {end}] {tz} but the filter returned no row"


def test_an_export_matching_nothing_has_a_null_header(lb_target):
    absent = "c" + "0" * 24
    task_id = lb_target.client.create_export(ALL_OFF, [wire.ids_item("data_row_ids", [absent])])
    lb_target.client.wait_for_task(task_id)
    assert lb_target.client.export_header(task_id, "RESULT") is None, "an empty stream must have a null header"


# ---------------------------------------------------------------- streaming


def test_stream_byte_offsets_are_exact(lb_target):
    task_id = lb_target.client.create_export(ALL_ON)
    lb_target.client.wait_for_task(task_id)
    walked = lb_target.client.stream(task_id, record_as="stream-offsets")  # checks start == offset, len per file
    header = walked.header
    assert header is not None, "the project exported no rows"
    total_size, total_lines = int(header["totalSize"]), int(header["totalLines"])
    assert total_size == sum(len(f.content) for f in walked.files)
    assert total_lines == len(walked.lines)
    next_offset = next_line = 0
    for i, f in enumerate(walked.files):
        assert f.offsets[0] == next_offset and f.lines[0] == next_line, f"file {i} is not contiguous"
        assert f.lines[1] >= f.lines[0]
        assert len(f.content.splitlines()) == f.lines[1] - f.lines[0] + 1, f"file {i}: line count != its lines range"
        if i < len(walked.files) - 1:
            assert f.content.endswith(b"\n"), f"file {i} does not end on a line boundary"
        next_offset, next_line = f.offsets[1] + 1, f.lines[1] + 1
    assert next_offset == total_size and next_line == total_lines
    assert all(line.strip() for line in walked.lines), "blank line in the stream"
    walked.rows  # noqa: B018 - every line is one JSON value
    for line in (total_lines - 1, 0):
        offsets, lines, _url = lb_target.client.file_from_line(task_id, line)
        holder = next(f for f in walked.files if f.lines[0] <= line <= f.lines[1])
        assert (offsets, lines) == (holder.offsets, holder.lines), f"exportFileFromLine({line}) is the wrong file"
    errors = lb_target.client.export_header(task_id, "ERRORS")
    assert errors is None or int(errors["totalSize"]) > 0, "an empty ERRORS stream must have a null header"


# ---------------------------------------------------------------- legacy export, frames, masks


def test_legacy_export_polls_then_returns_an_array(lb_target):
    export = legacy(lb_target)
    *waiting, final = export.answers
    for answer in waiting:
        assert answer["shouldPoll"] is True or answer["downloadUrl"] is None
    assert final["shouldPoll"] is False and isinstance(final["downloadUrl"], str)
    assert isinstance(export.rows, list)
    for row in export.rows:
        groups = row["Label"]["groups"]
        names = [g["name"] for g in groups]
        assert set(names) <= set(PLANES.values()) and len(names) == len(set(names)), names
        assert all(re.match(r"^https?://", g["frames"]) for g in groups)


def _sample(target: Any) -> list[tuple[dict, dict]]:
    """(v2 label, legacy row) pairs of labels in both exports: some with polylines, some with masks."""
    pid = target.project_id
    by_id = {row["ID"]: row for row in legacy(target).rows}
    lines, masks = [], []
    for row in full_export(target, urls=True):
        for label in labels(row, pid):
            if label["id"] not in by_id:
                continue
            objs = [o for *_, o in v2_objects(label)]
            if any("line" in o for o in objs) and len(lines) < SAMPLE_LABELS // 2:
                lines.append((label, by_id[label["id"]]))
            elif any("mask" in o for o in objs) and len(masks) < SAMPLE_LABELS // 2:
                masks.append((label, by_id[label["id"]]))
    return lines + masks


def _legacy_objects(target: Any, legacy_row: dict) -> dict[tuple[str, int, str], dict]:
    """Legacy frame objects keyed (v2 plane name, frame, feature id); records schema-checked."""
    out = {}
    for group in legacy_row["Label"]["groups"]:
        plane = next(k for k, v in PLANES.items() if v == group["name"])
        records = _cached(target, f"frames:{group['frames']}", urls=True,
                          compute=lambda g=group: target.client.get_frames(
                              g["frames"], record_as=f"{legacy_row['ID']}-{g['name']}"))
        assert_valid(records, "frames", f"frames of {legacy_row['ID']}/{group['name']}")
        numbers = [rec["frameNumber"] for rec in records]
        assert all(isinstance(n, int) and n >= 1 for n in numbers), numbers
        assert len(numbers) == len(set(numbers)), f"{legacy_row['ID']}/{group['name']}: a frame appears twice"
        for rec in records:
            for obj in rec["objects"]:
                out[(plane, rec["frameNumber"], obj["featureId"])] = obj
    return out


def test_legacy_frames_decode(lb_target):
    sample = _sample(lb_target)
    if not sample:
        pytest.skip("no label of this project has annotations in both exports")
    for _label, legacy_row in sample:
        _legacy_objects(lb_target, legacy_row)


def test_polylines_agree_between_formats(lb_target):
    compared = 0
    for label, legacy_row in _sample(lb_target):
        old = _legacy_objects(lb_target, legacy_row)
        for plane, frame, fid, obj in v2_objects(label):
            if "line" not in obj or (plane, frame, fid) not in old:
                continue
            where = f"{label['id']} {plane} frame {frame} feature {fid}"
            points = [c for p in old[(plane, frame, fid)].get("line", []) for c in (p["x"], p["y"])]
            expected = [c for p in obj["line"] for c in (p["x"], p["y"])]
            assert len(points) == len(expected), f"{where}: {len(points) // 2} vs {len(expected) // 2} points"
            assert points == pytest.approx(expected, abs=1e-3), where  # the API prints 3 decimals
            compared += 1
    if not compared:
        pytest.skip("no polyline appears in both exports")


def _png(target: Any, url: str) -> Png:
    data = target.client.get_mask(url)
    assert data.startswith(PNG_SIGNATURE), f"{wire.strip_url(url)} is not a PNG"
    try:
        return decode_png(data)
    except ValueError as exc:
        pytest.fail(f"{wire.strip_url(url)}: {exc}")


def test_masks_decode_and_agree_between_formats(lb_target):
    compared = 0
    for label, legacy_row in _sample(lb_target):
        old = _legacy_objects(lb_target, legacy_row)
        for plane, frame, fid, obj in v2_objects(label):
            if "mask" not in obj or (plane, frame, fid) not in old or compared >= SAMPLE_MASKS:
                continue
            new_png = _png(lb_target, obj["mask"]["url"])
            old_png = _png(lb_target, old[(plane, frame, fid)]["instanceURI"])
            where = f"{label['id']} {plane} frame {frame} feature {fid}"
            assert new_png.size == old_png.size, f"{where}: v2 {new_png.size} vs legacy {old_png.size}"
            for image in (new_png, old_png):
                assert image.size[0] > 0 and image.size[1] > 0
                assert image.mode in ("L", "P"), f"{where}: mode {image.mode}, not an 8-bit single-channel image"
                assert image.pixels.any(), f"{where}: the mask is empty"
            assert (new_png.gray() == old_png.gray()).all(), f"{where}: pixels differ"
            compared += 1
    if not compared:
        pytest.skip("no mask appears in both exports")


# ---------------------------------------------------------------- the DICOM behind the labels


def _mask_sizes(target: Any, row: dict) -> dict[str, tuple[int, int]]:
    """(width, height) of one mask PNG per plane the row's first label has masks on."""
    sizes: dict[str, tuple[int, int]] = {}
    for label in labels(row, target.project_id)[:1]:
        for plane, _frame, _fid, obj in v2_objects(label):
            if "mask" in obj and plane not in sizes:
                sizes[plane] = _png(target, obj["mask"]["url"]).size
    return sizes


def _dicom_sample(target: Any) -> list[tuple[dict, dict[str, tuple[int, int]]]]:
    """Rows with masks (and their mask sizes), smallest masks first: their volumes are downloaded."""
    candidates = []
    for row in full_export(target, urls=True):
        if any("mask" in o for label in labels(row, target.project_id)[:1] for *_, o in v2_objects(label)):
            candidates.append(row)
        if len(candidates) >= 3 * SAMPLE_DICOM:
            break
    sized = [(row, _mask_sizes(target, row)) for row in candidates]
    sized.sort(key=lambda pair: min(w * h for w, h in pair[1].values()))
    return sized[:SAMPLE_DICOM]


def test_row_data_downloads_as_dicom_matching_the_mask_planes(lb_target):
    """row_data is a DICOM file (pydicom parses it, no Authorization sent); its Rows, Columns and
    NumberOfFrames agree with every plane's mask PNG size and frame numbers (README conventions)."""
    sample = _dicom_sample(lb_target)
    if not sample:
        pytest.skip("no data row of this project has a mask")
    for row, sizes in sample:
        header = _cached(lb_target, f"dicom:{row['data_row']['id']}", urls=True,
                         compute=lambda r=row: lb_target.client.download_dicom(r["data_row"]["row_data"]))
        where = f"data row {row['data_row']['id']}"
        assert header.pixel_bytes in (0, 0xFFFFFFFF) or header.pixel_bytes >= header.rows * header.columns * \
            header.frames, f"{where}: Pixel Data shorter than Rows x Columns x NumberOfFrames"
        expected = {"Axial": (header.columns, header.rows), "Sagittal": (header.rows, header.frames),
                    "Coronal": (header.columns, header.frames)}
        for plane, size in sizes.items():
            assert size == expected[plane], f"{where}: {plane} mask is {size}, the volume says {expected[plane]}"
        counts = {"Axial": header.frames, "Sagittal": header.columns, "Coronal": header.rows}
        for label in labels(row, lb_target.project_id):
            for plane, frame, fid, _obj in v2_objects(label):
                assert 1 <= frame <= counts[plane], f"{where}: {plane} frame {frame} of {fid} is outside the volume"


# ---------------------------------------------------------------- error contract


def _post(target: Any, query: str, variables: Any = None, headers: dict | None = None) -> tuple[int, Any]:
    status, body = target.client.graphql_raw(query, variables, headers=headers)
    assert status < 500, f"HTTP {status} for a client mistake: the SDK retries 5xx for 120 s"
    return status, body


def _codes(body: Any) -> list:
    errors = body.get("errors") if isinstance(body, dict) else None
    return [(e.get("extensions") or {}).get("code") for e in errors or []]


@pytest.mark.parametrize("case", ["wrong-key", "no-key"])
def test_bad_key_is_401_authentication_error(lb_target, case):
    headers = {"Accept": "application/json", "Content-Type": "application/json", "X-User-Agent": "python-sdk 7.17.0"}
    if case == "wrong-key":  # the plugin's mock targets accept only their own key, as the real API does
        headers["Authorization"] = "Bearer lbmock-contract-wrong-key.eyJub3QiOiJ2YWxpZCJ9.x"
    status, body = _post(lb_target, wire.GET_USER, {}, headers)
    assert status == 401, f"HTTP {status}: {str(body)[:200]}"
    assert "AUTHENTICATION_ERROR" in _codes(body), body


def test_unknown_project_is_resource_not_found(lb_target):
    _status, body = _post(lb_target, wire.GET_PROJECT, {"param_0": "c" + "0" * 24})
    assert "RESOURCE_NOT_FOUND" in _codes(body), body
    data = body.get("data") if isinstance(body, dict) else None
    assert data is None or data.get("project") is None
    with pytest.raises(wire.GraphQLFailure) as failure:
        lb_target.client.get_project("c" + "0" * 24)
    assert "RESOURCE_NOT_FOUND" in failure.value.codes


def test_invalid_field_is_graphql_validation_failed(lb_target):
    status, body = _post(lb_target, "query GetUserPyApi{user{idDoesNotExist}}", {})
    assert 400 <= status < 500 or status == 200
    assert "GRAPHQL_VALIDATION_FAILED" in _codes(body), body

