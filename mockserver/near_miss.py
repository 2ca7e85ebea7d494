"""Near misses, as WireMock reports them: for a request the mock cannot match, the closest
thing it does know (a route here; GraphQL fields and arguments in ``gql/near_miss.py``).

The point: when a client (say a new SDK release) asks for something lbmock lacks, the
first failing request says what, instead of a bare 404 or "Cannot query field".
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

CUTOFF = 0.6  # difflib's similarity ratio below which nothing counts as close
LISTED = 12  # names listed when nothing is close
# Bounds, so that a hostile name or path costs microseconds and a short message whatever its size
# (difflib is quadratic at worst): only a prefix is compared, and a reason shows only a prefix.
COMPARED = 64  # characters of a name, a path segment or a path compared
SEGMENTS = 16  # path segments compared
SHORT = 64  # characters of a path compared whole with a route (the tie-break between close routes)
SHOWN = 120  # characters of a client's name or path shown in a reason


def clipped(text: str, limit: int = SHOWN) -> str:
    """``text``, or its first ``limit`` characters and how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"


_LONG_WORD = re.compile(rf"\S{{{SHOWN + 1},}}")


def clip_words(message: str, limit: int = 8 * SHOWN) -> str:
    """``message`` with every long word :func:`clipped`, and at most ``limit`` characters."""
    return clipped(_LONG_WORD.sub(lambda m: clipped(m[0]), message), limit)


def closest(name: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """Up to ``n`` candidates most like ``name``, closest first (difflib ratio, case-blind);
    empty if none is close (``name`` compared by its first COMPARED characters)."""
    by_folded: dict[str, str] = {}
    for candidate in candidates:
        by_folded.setdefault(candidate.lower(), candidate)
    folded = name[:COMPARED].lower()
    return [by_folded[f] for f in difflib.get_close_matches(folded, list(by_folded), n=n, cutoff=CUTOFF)]


def listing(names: Iterable[str]) -> str:
    """``a, b, c`` — the first few names, sorted, and how many more there are."""
    ordered = sorted(set(names))
    shown = ", ".join(ordered[:LISTED])
    return shown + (f" and {len(ordered) - LISTED} more" if len(ordered) > LISTED else "")


_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _compared_segments(path: str) -> list[str]:
    """The first SEGMENTS segments of ``path``, each cut to COMPARED characters (a longer path
    is far from every route anyway; this bounds the cost, not the answer)."""
    return [s[:COMPARED] for s in itertools.islice((s for s in path.split("/", SEGMENTS * 4) if s), SEGMENTS)]


def _likeness(rule: str, given: list[str]) -> float:
    """How much a path (its ``given`` segments) looks like one of ``rule``'s URLs, 0..1, segment by segment: a literal
    segment scores its similarity (when close), a variable segment 0.75 (it takes anything, so
    it is weaker evidence), a missing or extra segment 0."""
    wanted = _segments(rule)
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
    when nothing is close, the routes there are.  Bounded: a path of any length is compared by
    its first segments and characters, and shown clipped."""
    routes: dict[str, set[str]] = {}
    for rule in url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        routes.setdefault(rule.rule, set()).update(m for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
    shown, method = clipped(path), clipped(method, 32)
    # no route has more than SEGMENTS segments (none takes a <path:> variable): no need to ask werkzeug
    existing = _rule_of(url_map, path) if path.count("/") <= SEGMENTS else None
    if existing is not None:  # the path exists: the method is what is wrong
        allowed = " or ".join(sorted(routes.get(existing, ())))
        return f"{method} {shown}: method not allowed; {_shown(existing)} answers {allowed}"
    given, prefix = _compared_segments(path), path[:SHORT]
    scored = sorted(((_likeness(rule, given), difflib.SequenceMatcher(None, prefix, rule).ratio(), rule)
                     for rule in routes), reverse=True)
    if scored and scored[0][0] >= CUTOFF:
        rule = scored[0][2]
        verb = method if method in routes[rule] else sorted(routes[rule])[0]
        return f"{method} {shown}: no such route. Did you mean {verb} {_shown(rule)}?"
    admin = path.startswith("/_mock/")  # list the family asked for: admin routes, or the API's
    family = [_shown(r) for r in routes if r.startswith("/_mock/") == admin] or [_shown(r) for r in routes]
    return f"{method} {shown}: no such route, nor one like it (routes: {listing(family)})"


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
