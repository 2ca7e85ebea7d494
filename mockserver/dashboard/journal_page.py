"""The Journal page: the requests the mock answered, newest first, filtered by operation, path,
status and whether anything matched them, one page at a time (the journal holds up to
10,000 entries; a page shows 100).  ``journal/rows`` answers the same table's rows alone, which
the page's script fetches every couple of seconds (auto-refresh)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import orjson
from flask import render_template, request
from werkzeug.wrappers import Response

from lbmock.mockserver.backend.journal import JournalEntry
from lbmock.mockserver.handlers.common import backend, small_number

PAGE = 100
MAX_PAGE = 500
VARIABLES_SHOWN = 4000  # characters of an entry's variables shown; the JSON API has them whole
STATUS_CLASS = re.compile(r"[1-5]xx")
UNMATCHED_OPTIONS = ("", "only", "none")
SUGGESTED_FROM = 1000  # the operation filter suggests the operations of this many newest entries


class QueryError(ValueError):
    """A filter the page cannot apply (answered 400, with the form to fix it)."""


@dataclass(frozen=True)
class JournalQuery:
    operation: str = ""
    path: str = ""  # a prefix of the request path
    status: str = ""  # "", a status ("404") or a class ("4xx")
    unmatched: str = ""  # "": any; "only": requests nothing matched; "none": the others
    before: int | None = None  # show entries older than this sequence number (the next page)
    limit: int = PAGE

    @classmethod
    def from_args(cls) -> JournalQuery:
        args = request.args
        status = args.get("status", "").strip().lower()
        if status and not STATUS_CLASS.fullmatch(status) and small_number(status, 3) is None:
            raise QueryError(f"status must be a number such as 404 or a class such as 4xx, got {status!r}")
        unmatched = args.get("unmatched", "").strip().lower()
        if unmatched in ("1", "true", "yes"):
            unmatched = "only"  # the JSON API's ?unmatched=1
        if unmatched not in UNMATCHED_OPTIONS:
            raise QueryError(f"unmatched must be 'only', 'none' or empty, got {unmatched!r}")
        before = limit = None
        if args.get("before"):
            before = small_number(args["before"])
            if before is None:
                raise QueryError(f"before must be a sequence number, got {args['before']!r}")
        if args.get("limit"):
            limit = small_number(args["limit"], 4)
            if limit is None or not 1 <= limit <= MAX_PAGE:
                raise QueryError(f"limit must be a number from 1 to {MAX_PAGE}, got {args['limit']!r}")
        return cls(operation=args.get("operation", "").strip(), path=args.get("path", "").strip(), status=status,
                   unmatched=unmatched, before=before, limit=limit or PAGE)

    @property
    def filtered(self) -> bool:
        return bool(self.operation or self.path or self.status or self.unmatched)

    def params(self, **changes: object) -> dict[str, object]:
        """The query string of this view (with ``changes``), without empty fields."""
        values = {"operation": self.operation, "path": self.path, "status": self.status,
                  "unmatched": self.unmatched, "before": self.before,
                  "limit": self.limit if self.limit != PAGE else None, **changes}
        return {k: v for k, v in values.items() if v not in (None, "")}


def _keeps(query: JournalQuery, fields: dict[str, Any]) -> bool:
    """Whether a stored entry (its fields as stored) passes the page's filters."""
    if query.operation and fields.get("operation") != query.operation:
        return False
    if query.path and not str(fields.get("path", "")).startswith(query.path):
        return False
    status = fields.get("status", 0)
    if query.status and (status // 100 != int(query.status[0]) if STATUS_CLASS.fullmatch(query.status)
                         else status != int(query.status)):
        return False
    # the near-miss reason of a request nothing matched (journal entries carry it as "unmatched")
    return not query.unmatched or bool(fields.get("unmatched")) == (query.unmatched == "only")


def _row(seq: int, fields: dict[str, Any]) -> dict[str, object]:
    entry = JournalEntry(seq=seq, **fields)
    at = dt.datetime.fromtimestamp(entry.at_ms / 1000, dt.timezone.utc)
    variables = None
    if entry.variables not in (None, {}):
        text = orjson.dumps(entry.variables, option=orjson.OPT_INDENT_2).decode()
        variables = text if len(text) <= VARIABLES_SHOWN else text[:VARIABLES_SHOWN] + "\n… (cut: see /_mock/journal)"
    return {"seq": entry.seq, "time": at.strftime("%H:%M:%S.") + f"{at.microsecond // 1000:03d}",
            "date": at.strftime("%Y-%m-%d %H:%M:%S UTC"), "method": entry.method, "path": entry.path,
            "operation": entry.operation, "status": entry.status, "duration_ms": entry.duration_ms,
            "client": entry.client, "unmatched": fields.get("unmatched"), "variables": variables}


def _select(query: JournalQuery) -> tuple[list[dict[str, object]], int, int | None, list[str]]:
    """(the page's rows, newest first; how many entries match; ``before`` of the next page or None;
    the operations of the newest entries, which the operation filter suggests).

    Unfiltered, only the page's entries are read; filtered, every entry's stored fields are
    tested (no entry is built but those shown)."""
    journal = backend().journal
    everything = journal.newest() if query.filtered else None
    recent = everything[:SUGGESTED_FROM] if everything is not None else journal.newest(SUGGESTED_FROM)
    operations = sorted({str(fields["operation"]) for _seq, fields in recent if fields.get("operation")})
    if everything is not None:
        matching = [(seq, fields) for seq, fields in everything if _keeps(query, fields)]
        count = len(matching)
        older = [(seq, fields) for seq, fields in matching if query.before is None or seq < query.before]
        page, more = older[:query.limit], len(older) > query.limit
    else:
        found = journal.newest(query.limit + 1, query.before)
        page, more, count = found[:query.limit], len(found) > query.limit, journal.size()
    return [_row(seq, fields) for seq, fields in page], count, page[-1][0] if more and page else None, operations


def _render(template: str, query: JournalQuery | None, error: str | None, status: int) -> tuple[str, int]:
    rows, count, older, operations = _select(query or JournalQuery())
    return render_template(template, title="Journal", query=query or JournalQuery(), rows=rows, count=count,
                           older=older, operations=operations, error=error), status


def journal() -> tuple[str, int]:
    """``GET /_mock/dashboard/journal?operation=&path=&status=&unmatched=&before=&limit=``."""
    try:
        query = JournalQuery.from_args()
    except QueryError as exc:
        return _render("dashboard/journal.html", None, str(exc), 400)
    return _render("dashboard/journal.html", query, None, 200)


def journal_rows() -> Response | tuple[str, int]:
    """``GET /_mock/dashboard/journal/rows?...``: the table's rows alone (the auto-refresh)."""
    try:
        query = JournalQuery.from_args()
    except QueryError as exc:
        return Response(str(exc), status=400, mimetype="text/plain")
    body, status = _render("dashboard/_journal_rows.html", query, None, 200)
    return body, status
