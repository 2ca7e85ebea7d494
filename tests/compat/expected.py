"""What each SDK release should observe, computed in the test process from the seeded world.

Nothing here is hard-coded from a generated world: cases pick ids, batches and
date windows out of ``seeded_world(seed, rows, project_id)``, and expected
selections come from :class:`lbmock.export.ExportFilters` / ``selected_rows``
and :class:`lbmock.export.LegacyWindow`.

Date semantics (the mock's contract, re-implemented here rather than imported
from ``mockserver`` so the server is checked against an independent reading):
a bound is ``YYYY-MM-DD`` or ``YYYY-MM-DD hh:mm:ss`` wall-clock time in the
request's timezone (export v2: the user's timezone the SDK sends along;
``export_labels``: UTC); a date-only upper bound covers its whole day and a
whole-second upper bound its whole second.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from lbmock.contract_tests.wire import placeholder_sign
from lbmock.export import ExportFilters, LegacyWindow, TimeRange, selected_rows, v2_lines
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.world import DataRow, WorkflowStatus, World

RELEASES = ("3.40.1", "3.72.2", "7.17.0")
STREAMING = ("3.72.2", "7.17.0")  # project.export + ExportTask streams
LEGACY = ("3.40.1", "3.72.2")  # project.export_labels (removed in 7.x)

# The SDK's params keys -> ExportParams fields; 3.40.1 does not know the last two and drops them.
SDK_PARAMS = {"attachments", "metadata_fields", "data_row_details", "project_details", "label_details",
              "performance_details", "embeddings", "interpolated_frames"}
SDK_PARAMS_340 = SDK_PARAMS - {"embeddings", "interpolated_frames"}
OPTIONAL_ROW_KEYS = ("attachments", "metadata_fields", "embeddings")


def is_340(release: str) -> bool:
    return release.startswith("3.40")


# ---------------------------------------------------------------- dates


def zone(name: str) -> timezone | ZoneInfo:
    return timezone.utc if name == "UTC" else ZoneInfo(name)


def bound_ms(text: str, tz_name: str, upper: bool) -> int:
    tz = zone(tz_name)
    for fmt, step in (("%Y-%m-%d %H:%M:%S", timedelta(seconds=1)), ("%Y-%m-%d", timedelta(days=1))):
        try:
            wall = datetime.strptime(text, fmt)
        except ValueError:
            continue
        ms = int(wall.replace(tzinfo=tz).timestamp() * 1000)
        return ms + int(step.total_seconds() * 1000) - 1 if upper else ms
    raise ValueError(f"not a date the SDK sends: {text!r}")


def window(pair: list | None, tz_name: str) -> TimeRange | None:
    if not pair:
        return None
    start, end = pair
    if start is None and end is None:
        return None
    return TimeRange(None if start is None else bound_ms(start, tz_name, False),
                     None if end is None else bound_ms(end, tz_name, True))


def wall_second(ms: int, tz_name: str, plus_seconds: int = 0) -> str:
    """``ms`` as wall-clock ``YYYY-MM-DD hh:mm:ss`` in ``tz_name``, floored to the second."""
    moment = datetime.fromtimestamp(ms // 1000 + plus_seconds, tz=zone(tz_name))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def wall_day(ms: int, tz_name: str) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=zone(tz_name)).strftime("%Y-%m-%d")


# ---------------------------------------------------------------- the reference page


def page_literals(page_code: str) -> dict:
    """The page's ``export_params`` and ``filters`` (plain literals), read off its code."""
    out = {}
    for stmt in ast.parse(page_code).body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Dict):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = ast.literal_eval(stmt.value)
    return out


# ---------------------------------------------------------------- export v2


def export_params(sdk_params: dict | None, release: str) -> ExportParams:
    known = SDK_PARAMS_340 if is_340(release) else SDK_PARAMS
    sdk_params = sdk_params or {}
    return ExportParams(**{name: bool(sdk_params.get(name, False)) for name in known})


def export_filters(sdk_filters: dict | None, release: str, user_tz: str) -> ExportFilters:
    """What the server should select for ``filters`` as this release encodes them.

    3.40.1 has no id, batch or workflow filters (it drops those keys) and sends
    ``label_created_at`` without a timezone (so the server reads it as UTC).
    """
    f = sdk_filters or {}
    labeled_tz = "UTC" if is_340(release) else user_tz
    out = ExportFilters(last_activity_at=window(f.get("last_activity_at"), user_tz),
                        labeled_at=window(f.get("label_created_at"), labeled_tz))
    if is_340(release):
        return out
    status = f.get("workflow_status")
    return replace(
        out,
        data_row_ids=frozenset(f["data_row_ids"]) if f.get("data_row_ids") else None,
        global_keys=frozenset(f["global_keys"]) if f.get("global_keys") else None,
        batch_ids=frozenset(f["batch_ids"]) if f.get("batch_ids") else None,
        statuses=frozenset({WorkflowStatus(status)}) if status else None,
    )


def expected_rows(world: World, filters: ExportFilters) -> list[DataRow]:
    return list(selected_rows(world, filters))


def server_urls(base_url: str) -> Urls:
    """Links as the server at ``base_url`` renders them, signed with the placeholder (see run_driver)."""
    return Urls.served_at(base_url, sign=placeholder_sign)


def rendered_rows(world: World, rows: Iterable[DataRow], params: ExportParams, base_url: str) -> list[dict]:
    """Rows exactly as the server should serve them (links point at the server)."""
    return [json.loads(line) for line in v2_lines(world, rows, params, server_urls(base_url))]


@dataclass(frozen=True)
class Case:
    """One export the driver runs: SDK ``params`` and ``filters``, plus whether rows come back whole."""

    name: str
    filters: dict | None = None
    params: dict | None = field(default_factory=dict)
    full: bool = False
    # the same strings read in UTC select something else (proves the timezone is honoured)
    tz_sensitive: bool = False

    def to_plan(self) -> dict:
        return {"name": self.name, "filters": self.filters, "params": self.params, "full": self.full}


def filter_cases(world: World, user_tz: str) -> list[Case]:
    rows = list(world)
    n = len(rows)
    activity = sorted(r.last_activity_at for r in rows)
    created = sorted(lb.created_at for r in rows for lb in r.labels)

    def at(values: list[int], fraction: float) -> int:
        return values[min(len(values) - 1, int(len(values) * fraction))]

    picked = [rows[i] for i in sorted({n // 17, n // 4, n // 2 - 1, (2 * n) // 3, n - 2})]
    with_keys = [r for r in rows if r.global_key is not None]  # some rows have no global key
    m = len(with_keys)
    keyed = [with_keys[i] for i in sorted({1, m // 5, m // 2 + 3, m - 7}) if 0 <= i < m]
    batch = rows[n // 3].batch.id
    cases = [
        Case("data_row_ids", {"data_row_ids": [r.id for r in reversed(picked)]}),
        Case("global_keys", {"global_keys": [r.global_key for r in keyed[::-1]]}),
        Case("batch_ids", {"batch_ids": [batch]}),
        *(Case(f"workflow_{s.value}", {"workflow_status": s.value}) for s in WorkflowStatus),
        # Wall-clock bounds in the user's timezone, at instants the world holds: an upper bound
        # equal to a row's second includes that row here, and would exclude it read as UTC.
        Case("activity_between", {"last_activity_at": [wall_second(at(activity, .2), user_tz),
                                                       wall_second(at(activity, .75), user_tz)]}, tz_sensitive=True),
        Case("activity_from", {"last_activity_at": [wall_second(at(activity, .4), user_tz, plus_seconds=1), None]},
             tz_sensitive=True),
        Case("activity_until", {"last_activity_at": [None, wall_second(at(activity, .5), user_tz)]},
             tz_sensitive=True),
        Case("activity_days", {"last_activity_at": [wall_day(at(activity, .1), user_tz),
                                                    wall_day(at(activity, .6), user_tz)]}),
        Case("labeled_between", {"label_created_at": [wall_second(at(created, .15), user_tz),
                                                      wall_second(at(created, .7), user_tz)]}, tz_sensitive=True),
        Case("labeled_from", {"label_created_at": [wall_second(at(created, .45), user_tz, plus_seconds=1), None]},
             tz_sensitive=True),
        Case("labeled_until", {"label_created_at": [None, wall_second(at(created, .55), user_tz)]},
             tz_sensitive=True),
        Case("combined", {"last_activity_at": [wall_second(at(activity, .25), user_tz), None],
                          "batch_ids": [batch], "workflow_status": "InReview"}),
        Case("empty", {"last_activity_at": ["2001-01-01", "2001-01-02"]}),
    ]
    return cases


# ---------------------------------------------------------------- legacy export_labels


def legacy_window(kwargs: dict, release: str) -> LegacyWindow:
    """``export_labels(**kwargs)`` as this release encodes it (3.40.1 drops ``last_activity_end``)."""
    created = window([kwargs.get("start"), kwargs.get("end")], "UTC")
    activity_end = None if is_340(release) else kwargs.get("last_activity_end")
    activity = window([kwargs.get("last_activity_start"), activity_end], "UTC")
    return LegacyWindow(created=created, last_activity=activity)


def legacy_label_ids(world: World, win: LegacyWindow) -> list[str]:
    return [label.id for row in world for label in win.labels(row)]


def legacy_cases(world: World) -> list[dict]:
    created = sorted(lb.created_at for r in world for lb in r.labels)
    activity = sorted(r.last_activity_at for r in world)
    return [
        {"name": "created_days", "kwargs": {"start": wall_day(created[len(created) // 5], "UTC"),
                                            "end": wall_day(created[(3 * len(created)) // 5], "UTC")}},
        {"name": "activity_window", "kwargs": {
            "last_activity_start": wall_second(activity[len(activity) // 3], "UTC"),
            "last_activity_end": wall_second(activity[(2 * len(activity)) // 3], "UTC")}},
    ]


def page_export_labels_calls(page_code: str) -> list[dict]:
    """The keyword arguments of each ``project.export_labels(...)`` call on the page, in order."""
    calls = []
    for node in ast.walk(ast.parse(page_code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "export_labels":
            calls.append((node.lineno, {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}))
    return [kwargs for _, kwargs in sorted(calls, key=lambda c: c[0])]


FILTER_CASE_NAMES = ("data_row_ids", "global_keys", "batch_ids", "workflow_ToLabel", "workflow_InReview",
                     "workflow_InRework", "workflow_Done", "activity_between", "activity_from", "activity_until",
                     "activity_days", "labeled_between", "labeled_from", "labeled_until", "combined", "empty")


# ---------------------------------------------------------------- choosing a world


def unsuitable(world: World, user_tz: str, file_bytes: int, page_params: dict, page_filters: dict) -> str | None:
    """Why this world cannot exercise every check of the suite (None when it can).

    The suite needs masks and interpolable polylines among the rows the page
    exports, every workflow status, several batches, filter and legacy windows
    that select some rows but not all, timezone-sensitive windows that read
    differently in UTC, and a page export spanning several files.
    """
    rows = list(world)
    n = len(rows)
    page_rows = expected_rows(world, export_filters(page_filters, "7.17.0", user_tz))
    features = [f for r in page_rows for lb in r.labels for f in lb.features]
    if not any(f.tool.kind == "mask" for f in features):
        return "no mask among the page's rows"
    if not any(f.tool.kind == "polyline" and len(list(f.frames(interpolated=True))) > len(f.keyframes)
               for f in features):
        return "no interpolable polyline among the page's rows"
    if {r.status for r in rows} != set(WorkflowStatus):
        return "not every workflow status occurs"
    if len({r.batch.id for r in rows}) < 2:
        return "a single batch"
    for case in filter_cases(world, user_tz):
        for release in ("3.40.1", "7.17.0"):
            selected = expected_rows(world, export_filters(case.filters, release, user_tz))
            if case.name == "empty":
                trivial = bool(selected)
            else:  # 3.40.1 drops id, batch and workflow filters: it may select every row
                trivial = not selected or (len(selected) == n and not is_340(release))
            if trivial:
                return f"filter case {case.name} selects {len(selected)} of {n} rows under {release}"
        if case.tz_sensitive and [r.id for r in expected_rows(world, export_filters(case.filters, "7.17.0", "UTC"))] \
                == [r.id for r in expected_rows(world, export_filters(case.filters, "7.17.0", user_tz))]:
            return f"filter case {case.name} reads the same in UTC"
    n_labels = sum(len(r.labels) for r in rows)
    for case in legacy_cases(world):
        by_release = [legacy_label_ids(world, legacy_window(case["kwargs"], r)) for r in LEGACY]
        if not all(0 < len(ids) < n_labels for ids in by_release):
            return f"legacy case {case['name']} selects none or all labels"
        if case["name"] == "activity_window" and by_release[0] == by_release[1]:
            return "legacy activity window does not tell 3.40.1 (drops last_activity_end) from 3.72.2"
    size = sum(len(line) for line in v2_lines(world, page_rows, export_params(page_params, "7.17.0"), Urls()))
    if size <= 2 * file_bytes:
        return f"the page export holds {size} bytes, not several files of {file_bytes}"
    return None
