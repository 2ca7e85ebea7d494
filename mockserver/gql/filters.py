"""Export filters as the SDK encodes them -> :class:`lbmock.export.ExportFilters`, and the
``where`` of the SDK's list queries (``client.get_projects`` / ``get_datasets``) -> :class:`ListWhere`.

Dates arrive as the user typed them (``2023-02-03``, ``2023-02-03 10:00:00``
or ISO with an offset) plus the user's timezone, and are evaluated in that
timezone.  A date-only upper bound covers its whole day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lbmock.export import ExportFilters, LegacyWindow, TimeRange
from lbmock.mockserver.errors import BadInput
from lbmock.world import WorkflowStatus

MAX_IDS = 2000  # the real API's (and the SDK's) limit per id filter
DATE_TYPES = {"data_row_last_activity_at": "last_activity_at", "labeled_at": "labeled_at"}
# Dataset.export adds {"type": "dataset", "ids": [its id]} to the filters the user gave.
ID_TYPES = {"data_row_id": "data_row_ids", "global_key": "global_keys", "batch": "batch_ids",
            "dataset": "dataset_ids"}
QUEUE_STATUSES = {"InReview", "InRework", "Done"}


def _zone(name: object) -> timezone | ZoneInfo:
    if name in (None, "", "UTC"):
        return timezone.utc
    if not isinstance(name, str):
        raise BadInput(f"timezone must be a string, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"unknown timezone {name!r}") from None


def parse_bound(text: object, tz: timezone | ZoneInfo, upper: bool) -> int:
    """Epoch ms of a filter bound; a date-only or whole-second upper bound is inclusive."""
    if not isinstance(text, str):
        raise BadInput(f"a date must be a string, got {text!r}")
    value = text.strip()
    for fmt, step in (("%Y-%m-%d", timedelta(days=1)), ("%Y-%m-%d %H:%M:%S", timedelta(seconds=1)),
                      ("%Y-%m-%dT%H:%M:%S%z", timedelta(seconds=1)), ("%Y-%m-%dT%H:%M:%S", timedelta(seconds=1))):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        ms = int(parsed.timestamp() * 1000)
        return ms + int(step.total_seconds() * 1000) - 1 if upper else ms
    raise BadInput(f"incorrect date {text!r}: use YYYY-MM-DD, 'YYYY-MM-DD hh:mm:ss' or ISO 8601 with an offset")


def _date_range(value: object) -> TimeRange:
    if not isinstance(value, Mapping):
        raise BadInput("a date filter's value must be an object with operator and value")
    op, tz = value.get("operator"), _zone(value.get("timezone"))
    inner = value.get("value")
    if op == "BETWEEN":
        if not isinstance(inner, Mapping) or "min" not in inner or "max" not in inner:
            raise BadInput("BETWEEN needs value {min, max}")
        return TimeRange(parse_bound(inner["min"], tz, False), parse_bound(inner["max"], tz, True))
    if op == "GREATER_THAN_OR_EQUAL":
        return TimeRange(parse_bound(inner, tz, False), None)
    if op == "LESS_THAN_OR_EQUAL":
        return TimeRange(None, parse_bound(inner, tz, True))
    raise BadInput(f"unknown date operator {op!r}: use BETWEEN, GREATER_THAN_OR_EQUAL or LESS_THAN_OR_EQUAL")


def _intersect(a: TimeRange | None, b: TimeRange) -> TimeRange:
    if a is None:
        return b
    starts = [x for x in (a.start, b.start) if x is not None]
    ends = [x for x in (a.end, b.end) if x is not None]
    return TimeRange(max(starts) if starts else None, min(ends) if ends else None)


def parse_search_query(items: object) -> ExportFilters:
    """``input.filters.searchQuery.query`` -> ExportFilters (every item ANDed)."""
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise BadInput("searchQuery.query must be a list")
    ranges: dict[str, TimeRange | None] = {"last_activity_at": None, "labeled_at": None}
    id_sets: dict[str, frozenset[str] | None] = dict.fromkeys(ID_TYPES.values())
    statuses: frozenset[WorkflowStatus] | None = None
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
            raise BadInput(f"searchQuery.query[{i}] must be an object with a string 'type'")
        kind = item["type"]
        if kind in DATE_TYPES:
            ranges[DATE_TYPES[kind]] = _intersect(ranges[DATE_TYPES[kind]], _date_range(item.get("value")))
        elif kind in ID_TYPES:
            ids = item.get("ids")
            if not isinstance(ids, list) or not ids or not all(isinstance(x, str) for x in ids):
                raise BadInput(f"{kind} filter needs a non-empty list of string ids")
            if len(ids) > MAX_IDS:
                raise BadInput(f"{kind} filter only supports a max of {MAX_IDS} items")
            if item.get("operator", "is") != "is":
                raise BadInput(f"{kind} filter supports only operator 'is'")
            current = id_sets[ID_TYPES[kind]]
            id_sets[ID_TYPES[kind]] = frozenset(ids) if current is None else current & frozenset(ids)
        elif kind in ("task_queue_status", "task_queue_not_exist"):
            if kind == "task_queue_not_exist":
                wanted = frozenset({WorkflowStatus.TO_LABEL})
            elif item.get("status") in QUEUE_STATUSES:
                wanted = frozenset({WorkflowStatus(item["status"])})
            else:
                raise BadInput(f"task_queue_status must be one of {sorted(QUEUE_STATUSES)}, got {item.get('status')!r}")
            statuses = wanted if statuses is None else statuses & wanted
        else:
            raise BadInput(f"unsupported filter type {kind!r}")
    return ExportFilters(last_activity_at=ranges["last_activity_at"], labeled_at=ranges["labeled_at"],
                         statuses=statuses, **id_sets)


def parse_legacy_filters(filters: Mapping | None) -> LegacyWindow:
    """``exportLabels(data: {filters: {labelCreatedAt, lastActivityAt}})`` -> LegacyWindow (UTC)."""
    if not filters:
        return LegacyWindow()

    def window(key: str) -> TimeRange | None:
        value = filters.get(key)
        if not value:
            return None
        start, end = value.get("start"), value.get("end")
        return TimeRange(parse_bound(start, timezone.utc, False) if start else None,
                         parse_bound(end, timezone.utc, True) if end else None)

    return LegacyWindow(created=window("labelCreatedAt"), last_activity=window("lastActivityAt"))


# What the SDK's list queries (Client._get_all, 3.40.1 to 7.17.0) send that lbmock filters on:
# ``Entity.uid == x`` and ``Entity.name == x``, with the ``deleted == False`` every list adds, nested as
# {AND: [a, b]}.  Any other field or operator (name_not, createdAt_gt, description, OR...) is refused.
LIST_WHERE_FIELDS = {"id": str, "name": str, "deleted": bool}


@dataclass(frozen=True)
class ListWhere:
    """The conditions of a list query's ``where``, every one to hold (AND): (field, value) pairs."""

    equal: tuple[tuple[str, str | bool], ...] = ()

    def matches(self, item_id: str, name: str | None) -> bool:
        values = {"id": item_id, "name": name, "deleted": False}  # nothing in a world is deleted
        return all(values[field] == value for field, value in self.equal)


def parse_list_where(where: object, what: str) -> ListWhere:
    """``projects(where: ...)`` (``what``: "projects") -> :class:`ListWhere`; :class:`BadInput` naming
    what lbmock does not filter on.  Walked with a stack: a ``where`` sent as a variable may nest deeply."""
    equal: list[tuple[str, str | bool]] = []
    pending: list[object] = [where if where is not None else {}]
    while pending:
        node = pending.pop()
        if not isinstance(node, Mapping):
            _refuse_where(what, f"must be an object such as {{name: \"x\"}}, got {node!r:.80}")
        for key, value in node.items():
            if key == "AND":
                if not isinstance(value, list):
                    _refuse_where(what, f"AND must be a list of conditions, got {value!r:.80}")
                pending.extend(reversed(value))
            elif key in LIST_WHERE_FIELDS:
                if not isinstance(value, LIST_WHERE_FIELDS[key]):
                    _refuse_where(what, f"`{key}` must be a {LIST_WHERE_FIELDS[key].__name__}, got {value!r:.80}")
                equal.append((key, value))
            else:
                _refuse_where(what, f"`{key:.60}` is not supported")
    return ListWhere(tuple(equal))


def _refuse_where(what: str, problem: str) -> NoReturn:
    raise BadInput(f"{what}(where:) {problem}: lbmock filters client.get_{what}(where=...) by name and id, "
                   "compared with == and joined with &; list them all and filter in Python for anything else")
