"""Near misses, as WireMock reports them: for a request the mock cannot match, the closest
thing it does know (a route here; GraphQL fields and arguments in ``gql/near_miss.py``).

The point: when a client (say a new SDK release) asks for something lbmock lacks, the
first failing request says what, instead of a bare 404 or "Cannot query field".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

CUTOFF = 0.6  # difflib's similarity ratio below which nothing counts as close
LISTED = 12  # names listed when nothing is close


def closest(name: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """Up to ``n`` candidates most like ``name``, closest first (difflib ratio, case-blind);
    empty if none is close."""
    by_folded: dict[str, str] = {}
    for candidate in candidates:
        by_folded.setdefault(candidate.lower(), candidate)
    return [by_folded[f] for f in difflib.get_close_matches(name.lower(), list(by_folded), n=n, cutoff=CUTOFF)]


def listing(names: Iterable[str]) -> str:
    """``a, b, c`` — the first few names, sorted, and how many more there are."""
    ordered = sorted(set(names))
    shown = ", ".join(ordered[:LISTED])
    return shown + (f" and {len(ordered) - LISTED} more" if len(ordered) > LISTED else "")


_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _likeness(rule: str, path: str) -> float:
    """How much ``path`` looks like one of ``rule``'s URLs, 0..1, segment by segment: a literal
    segment scores its similarity (when close), a variable segment 0.75 (it takes anything, so
    it is weaker evidence), a missing or extra segment 0."""
    given, wanted = _segments(path), _segments(rule)
    score = 0.0
    for have, want in zip(given, wanted, strict=False):
        if _VARIABLE.fullmatch(want):
            score += 0.75
        else:
            ratio = difflib.SequenceMatcher(None, have.lower(), want.lower()).ratio()
            score += ratio if ratio >= CUTOFF else 0.0
    return score / max(len(given), len(wanted), 1)


def _shown(rule: str) -> str:
    return _VARIABLE.sub(lambda m: f"<{m.group(1)}>", rule)


def route_near_miss(url_map: Map, method: str, path: str) -> str:
    """Why ``method path`` matches no route, naming the closest route (pattern-aware) or,
    when nothing is close, the routes there are."""
    routes: dict[str, set[str]] = {}
    for rule in url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        routes.setdefault(rule.rule, set()).update(m for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
    existing = _rule_of(url_map, path)
    if existing is not None:  # the path exists: the method is what is wrong
        allowed = " or ".join(sorted(routes.get(existing, ())))
        return f"{method} {path}: method not allowed; {_shown(existing)} answers {allowed}"
    scored = sorted(((_likeness(rule, path), difflib.SequenceMatcher(None, path, rule).ratio(), rule)
                     for rule in routes), reverse=True)
    if scored and scored[0][0] >= CUTOFF:
        rule = scored[0][2]
        verb = method if method in routes[rule] else sorted(routes[rule])[0]
        return f"{method} {path}: no such route. Did you mean {verb} {_shown(rule)}?"
    admin = path.startswith("/_mock/")  # list the family asked for: admin routes, or the API's
    family = [_shown(r) for r in routes if r.startswith("/_mock/") == admin] or [_shown(r) for r in routes]
    return f"{method} {path}: no such route, nor one like it (routes: {listing(family)})"


def _rule_of(url_map: Map, path: str) -> str | None:
    """The rule whose URLs include ``path``, whatever the method; None if there is none."""
    adapter = url_map.bind("localhost")
    for method in ("GET", "POST", "DELETE", "PUT", "PATCH"):
        try:
            rule, _ = adapter.match(path, method=method, return_rule=True)
        except HTTPException:
            continue
        return rule.rule
    return None
