"""Fuzzing every endpoint family of ``mockserver/urls.py`` through one app's test client.

Hypothesis generates GraphQL documents from the served schema (random root fields and
selections, arguments of right and wrong types, as literals and as variables, fragments,
directives, garbage), garbage bodies, wrong methods, odd headers, huge/negative/non-numeric
offsets and lines, and path segments built to confuse (traversal, encoded slashes, NUL,
unicode digits, very long).  For every request: no 5xx, no exception out of the app, no
internal-error code, and every error body is JSON in the shape of its family.  After all
of it the same app still serves a full export, frames and a mask byte-for-byte like a fresh
app over the same world.

Default budgets are fixed and derandomized (CI-stable); ``LBMOCK_FUZZ_EXAMPLES=N`` runs N
examples per phase with fresh randomness, for a by-hand run.  The totals are printed
(``pytest -rP tests/test_fuzz.py`` shows them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

import orjson
import pytest
from fuzz_harness import (
    ALL_FLAGS,
    AUTH,
    KEY,
    LEGACY,
    MUTATION_KEY,
    OTHER_KEY,
    STATS,
    budget,
    env,
    gql,
    run_phase,
    send,
)
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    get_named_type,
)
from hypothesis import given
from hypothesis import strategies as st

from lbmock.contract_tests.wire import CREATED_TASKS as TASKS
from lbmock.contract_tests.wire import EXPORT, FROM_LINE, FROM_OFFSET, HEADER, export_variables
from lbmock.mockserver.backend.faults import FAULTS
from lbmock.mockserver.gql import labelbox_schema
from lbmock.mockserver.handlers.common import GRAPHQL_PATHS
from lbmock.mockserver.urls import ROUTES

# ================================================================== value strategies

TRICKY_STRINGS = [
    "", " ", "0", "-1", "-0", "+1", " 1", "1 ", "1.5", "1e3", "0x10", "²", "١٢", "𝟙", "Ⅻ", "٣",
    "99999999999999999999999", "18446744073709551615", "18446744073709551616", "NaN", "null", "true", "\x00",
    "a\x00b", "..", "../../etc/passwd",
    "%2e%2e", "é", "😀", "\u202e", "\ufeff", "RESULT", "ERRORS", "all", "axial", "AXIAL", "oblique", "UTC",
    "cnope", "c" + "0" * 24, "c" + "z" * 24, "Z" * 300,
]
TIMEZONES = [None, "UTC", "", "America/New_York", "Europe/Berlin", "Mars/Olympus", "../../etc/passwd", "Europe",
             "UTC\x00", "a" * 300, "/etc/localtime", "Etc/GMT+14", "posixrules", "zoneinfo", "America/",
             "Asia/Kathmandu", "right/UTC", ".", "..", "tzdata.zi", "leapseconds", "\u00e9", "Europe/../UTC"]
DATES = ["2020-01-01", "2030-01-01 00:00:00", "2023-05-23T14:30:00+0530", "2023-05-23T14:30:00", "2023-02-30",
         "0001-01-01", "9999-12-31", "0001-01-01T00:00:00+2359", "9999-12-31T23:59:59-2359", "0001-01-01 00:00:00",
         "9999-12-31 23:59:59", "1970-01-01", "yesterday", "", " 2020-01-01 ", "2020-1-1", "20200101",
         "2020-01-01T00:00:00Z", "2020-01-01T00:00:00+99:99", "2020-01-01T25:00:00+0000"]

names = st.sampled_from(["a", "x1", "foo", "Bar_2", "id2", "_", "nope", "task", "User", "__x", "Q" * 40])
text = st.one_of(st.sampled_from(TRICKY_STRINGS), st.text(max_size=24))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                         st.floats(allow_nan=False, allow_infinity=False), text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                  st.dictionaries(text, inner, max_size=4)),
                           max_leaves=10)
dates = st.one_of(st.sampled_from(DATES), st.dates().map(str),
                  st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")), text)


def known_ids(*kinds: str) -> st.SearchStrategy[str]:
    """Ids of the fuzzed world (resolved when first drawn: the app is not built at import)."""
    return st.deferred(lambda: st.sampled_from([i for kind in kinds for i in env().ids[kind]] or ["cnope"]))


@st.composite
def any_id(draw) -> str:
    return draw(st.one_of(known_ids(*env().ids), text))


@st.composite
def date_filter_value(draw):
    op = draw(st.sampled_from(["BETWEEN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL", None, 3]))
    value: dict = {"operator": op}
    if draw(st.booleans()):
        value["timezone"] = draw(st.one_of(st.sampled_from(TIMEZONES), text, json_values))
    if op == "BETWEEN" and draw(st.integers(0, 4)):
        value["value"] = {k: draw(dates) for k in ("min", "max") if draw(st.integers(0, 5))}
    elif draw(st.integers(0, 4)):
        value["value"] = draw(dates)
    else:
        value["value"] = draw(json_values)
    return value


@st.composite
def filter_items(draw) -> list:
    items = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 9))
        if kind <= 2:
            items.append({"type": draw(st.sampled_from(["data_row_last_activity_at", "labeled_at"])),
                          "value": draw(st.one_of(date_filter_value(), json_values) if kind else date_filter_value())})
        elif kind <= 5:
            if draw(st.integers(0, 15)) == 0:
                ids = [f"c{i:024d}" for i in range(draw(st.sampled_from([2000, 2001])))]
            else:
                ids = draw(st.one_of(st.lists(st.one_of(known_ids("row", "global_key", "batch"), text), max_size=5),
                                     json_values))
            item = {"type": draw(st.sampled_from(["data_row_id", "global_key", "batch"])), "ids": ids}
            if draw(st.integers(0, 4)):
                item["operator"] = draw(st.sampled_from(["is", "is_not", None, 1]))
            items.append(item)
        elif kind <= 7:
            items.append(draw(st.sampled_from([
                {"type": "task_queue_not_exist"}, {"type": "task_queue_status", "status": "Done"},
                {"type": "task_queue_status", "status": "InReview"},
                {"type": "task_queue_status", "status": "InRework"},
                {"type": "task_queue_status", "status": "ToLabel"}, {"type": "task_queue_status"},
                {"type": "task_queue_status", "status": 5}, {"type": "made_up"}, {"type": None}, {}])))
        else:
            items.append(draw(json_values))
    return items


# ================================================================== GraphQL documents from the schema

SCHEMA = labelbox_schema()
WRONG_TYPE_REFS = ["ID", "ID!", "String", "String!", "Int", "Int!", "Float", "Boolean!", "[ID!]!", "[[Int]]",
                   "UInt64!", "UInt64", "TaskStreamType", "Json", "Json!", "WhereUniqueIdInput!",
                   "ExportDataRowsInProjectInput!", "Nope", "User", "[String!]", "DateTime"]


@dataclass
class DocState:
    valid: bool  # a document the schema accepts, with values that name real objects
    variables: dict
    var_defs: list
    fragments: list
    n: int = 0

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"


VALID_TIMEZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kathmandu", None]
VALID_DATES = ["2020-01-01", "2030-01-01 00:00:00", "2023-05-23T14:30:00+0530", "2021-06-30", "1970-01-01",
               "2022-02-03 10:00:00", "2050-01-01"]


@st.composite
def valid_filter_items(draw) -> list:
    """Filter items as the SDK sends them."""
    items: list = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.integers(0, 4))
        if kind <= 1:
            op = draw(st.sampled_from(["BETWEEN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL"]))
            value = ({"min": draw(st.sampled_from(VALID_DATES)), "max": draw(st.sampled_from(VALID_DATES))}
                     if op == "BETWEEN" else draw(st.sampled_from(VALID_DATES)))
            items.append({"type": ["data_row_last_activity_at", "labeled_at"][kind],
                          "value": {"operator": op, "timezone": draw(st.sampled_from(VALID_TIMEZONES)),
                                    "value": value}})
        elif kind == 2:
            pool = draw(st.sampled_from([("data_row_id", "row"), ("global_key", "global_key"), ("batch", "batch")]))
            items.append({"ids": draw(st.lists(known_ids(pool[1]), min_size=1, max_size=3)), "operator": "is",
                          "type": pool[0]})
        else:
            items.append(draw(st.sampled_from([{"type": "task_queue_not_exist"}] + [
                {"type": "task_queue_status", "status": s} for s in ("InReview", "InRework", "Done")])))
    return items


def right_value(draw, gtype, where: tuple = (), valid: bool = False):
    """A value of the type, in JSON terms (what a variable would carry); ``valid``: one that names
    real objects and sensible positions, so resolvers get past their lookups."""
    if isinstance(gtype, GraphQLNonNull):
        return right_value(draw, gtype.of_type, where, valid)
    if isinstance(gtype, GraphQLList):
        return [right_value(draw, gtype.of_type, where, valid) for _ in range(draw(st.integers(0, 3)))]
    if isinstance(gtype, GraphQLEnumType):
        if valid and gtype.name == "MediaType":
            return None
        return draw(st.sampled_from(sorted(gtype.values)))
    if isinstance(gtype, GraphQLInputObjectType):
        if gtype.name == "SearchQueryInput":
            return {"scope": None, "query": draw(valid_filter_items() if valid else filter_items())}
        out = {}
        for name, field in gtype.fields.items():
            if isinstance(field.type, GraphQLNonNull) or draw(st.booleans()):
                out[name] = right_value(draw, field.type, (*where, name) if valid else (gtype.name, name), valid)
        return out
    name = gtype.name
    if name == "ID":
        if valid:  # where: (root field, argument, input fields...)
            kind = {"project": "project", "exportDataRowsInProject": "project", "exportLabels": "project",
                    "task": "task", "createdTasks": "task", "user": "user"}.get(where[0] if where else "", "task")
            return draw(known_ids(kind))
        if where in (("ProjectExportFiltersInput", "projectId"), ("ExportLabelsInput", "projectId")):
            return draw(st.one_of(known_ids("project"), any_id()))
        return draw(st.one_of(known_ids("task", "project", "user"), any_id()))
    if name == "String":
        if where and where[-1] in ("start", "end"):  # DateRangeInput
            return draw(st.sampled_from(VALID_DATES) if valid else dates)
        return draw(st.sampled_from(["fuzz", "a task"]) if valid else text)
    if name == "Int":
        if valid:
            return draw(st.integers(0, 5) if where and where[-1] == "skip" else st.integers(0, 120))
        return draw(st.one_of(st.integers(-3, 200), st.integers(-(2**31), 2**31 - 1)))
    if name == "Float":
        return draw(st.floats(allow_nan=False, allow_infinity=False))
    if name == "Boolean":
        return draw(st.booleans())
    if name == "UInt64":
        limit = env().total_lines if where and where[-1] == "line" else env().total_size
        number = draw(st.integers(0, limit - 1) if valid else
                      st.one_of(st.integers(0, limit + 5), st.integers(0, 2**64 - 1)))
        return str(number) if draw(st.booleans()) else number
    if name == "Json":
        return draw(json_values)
    return draw(text)  # DateTime and anything new


def wrong_value(draw, gtype):
    return draw(st.one_of(json_values, st.sampled_from(TRICKY_STRINGS), st.integers(-(2**63), -1)))


def literal(value, gtype) -> str:
    """``value`` as a GraphQL literal (enum names bare when they fit the type)."""
    named = get_named_type(gtype) if gtype is not None else None
    inner = gtype
    while isinstance(inner, GraphQLNonNull):
        inner = inner.of_type
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if isinstance(named, GraphQLEnumType) and value in named.values:
            return value
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        item_type = inner.of_type if isinstance(inner, GraphQLList) else None
        return "[" + ", ".join(literal(v, item_type) for v in value) + "]"
    if isinstance(value, dict):
        fields = named.fields if isinstance(named, GraphQLInputObjectType) else {}
        parts = []
        for key, v in value.items():
            name = re.sub(r"\W", "_", key, flags=re.ASCII) or "_"
            name = name if not name[0].isdigit() else "_" + name
            parts.append(f"{name}: {literal(v, fields[key].type if key in fields else None)}")
        return "{" + ", ".join(parts) + "}"
    return orjson.dumps(str(value)).decode()


def arguments(draw, field_name: str, args: dict, doc: DocState) -> str:
    parts = []
    for name, arg in args.items():
        where = (field_name, name)
        if doc.valid:
            if not isinstance(arg.type, GraphQLNonNull) and draw(st.integers(0, 2)) == 0:
                continue
            if draw(st.booleans()):
                parts.append(f"{name}: {literal(right_value(draw, arg.type, where, True), arg.type)}")
            else:
                var = doc.fresh("v")
                doc.var_defs.append(f"${var}: {arg.type}")
                doc.variables[var] = right_value(draw, arg.type, where, True)
                parts.append(f"{name}: ${var}")
            continue
        how = draw(st.integers(0, 19))
        if how == 0 or (how == 1 and not isinstance(arg.type, GraphQLNonNull)):
            continue  # omitted (an error when required)
        if how <= 7:
            parts.append(f"{name}: {literal(right_value(draw, arg.type, where), arg.type)}")
        elif how <= 9:
            parts.append(f"{name}: {literal(wrong_value(draw, arg.type), arg.type)}")
        else:
            var = doc.fresh("v")
            if how <= 16:
                type_ref, value = str(arg.type), right_value(draw, arg.type, where)
            elif how == 17:
                type_ref, value = str(arg.type), wrong_value(draw, arg.type)
            else:
                type_ref, value = draw(st.sampled_from(WRONG_TYPE_REFS)), right_value(draw, arg.type, where)
            if draw(st.integers(0, 15)):  # else: undeclared
                doc.var_defs.append(f"${var}: {type_ref}")
            if draw(st.integers(0, 15)):  # else: no value sent
                doc.variables[var] = value
            parts.append(f"{name}: ${var}")
    if not doc.valid and draw(st.integers(0, 30)) == 0:
        parts.append(f"{draw(names)}: {literal(draw(json_values), None)}")  # an unknown argument
    return f"({', '.join(parts)})" if parts else ""


def selection_set(draw, otype: GraphQLObjectType, depth: int, doc: DocState) -> str:
    parts = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3]))):
        roll = draw(st.integers(0, 99))
        if roll < 3 and not doc.valid:
            parts.append(draw(names))  # an unknown field
        elif roll < 5:
            parts.append("__typename")
        elif roll < 9 and depth < 4:
            parts.append(f"... on {otype.name} {{ {selection_set(draw, otype, depth + 1, doc)} }}")
        elif roll < 12 and depth < 4:
            name = doc.fresh("F")
            on = otype.name if doc.valid or draw(st.integers(0, 9)) else draw(st.sampled_from(sorted(SCHEMA.type_map)))
            doc.fragments.append(f"fragment {name} on {on} {{ {selection_set(draw, otype, depth + 1, doc)} }}")
            parts.append(f"...{name}")
        else:
            parts.append(field(draw, otype, depth, doc))
    return " ".join(parts)


def field(draw, otype: GraphQLObjectType, depth: int, doc: DocState) -> str:
    choices = sorted(otype.fields)
    if doc.valid and depth >= 4:  # at the depth limit only leaves, so every object gets its selection
        choices = [n for n in choices if not isinstance(get_named_type(otype.fields[n].type), GraphQLObjectType)]
        if not choices:
            return "__typename"
    name = draw(st.sampled_from(choices))
    spec = otype.fields[name]
    if doc.valid:  # aliases keep same-named fields with different arguments from conflicting
        alias = f"{doc.fresh('al')}: " if spec.args else ""
    else:
        alias = f"{draw(names)}: " if draw(st.integers(0, 12)) == 0 else ""
    text_ = alias + name + arguments(draw, name, spec.args, doc)
    if draw(st.integers(0, 25)) == 0:
        var = doc.fresh("b")
        doc.var_defs.append(f"${var}: Boolean!")
        doc.variables[var] = draw(st.booleans() if doc.valid else st.one_of(st.booleans(), json_scalars))
        text_ += f" @{draw(st.sampled_from(['include', 'skip']))}(if: ${var})"
    named = get_named_type(spec.type)
    wants_selection = isinstance(named, GraphQLObjectType)
    if wants_selection and (doc.valid or (depth < 4 and draw(st.integers(0, 30)))):
        text_ += " { " + selection_set(draw, named, depth + 1, doc) + " }"
    elif not wants_selection and not doc.valid and draw(st.integers(0, 30)) == 0:
        text_ += " { id }"  # a selection on a leaf
    return text_


@st.composite
def graphql_requests(draw) -> dict:
    doc = DocState(draw(st.integers(0, 9)) < 4, {}, [], [])
    kinds = ["query"] * 3 + ["mutation"] if doc.valid else ["query"] * 6 + ["mutation"] * 3 + ["subscription", ""]
    kind = draw(st.sampled_from(kinds))
    root = SCHEMA.mutation_type if kind == "mutation" else SCHEMA.query_type
    if kind == "" and draw(st.booleans()):
        selections = "__schema { queryType { name } types { name kind fields { name args { name type { name kind "
        selections += "ofType { name } } } } } }"
    else:
        selections = selection_set(draw, root, 0, doc)
    op_name = draw(names) if doc.valid else draw(st.one_of(names, st.just("")))
    head = f"{kind} {op_name}".strip()
    if doc.var_defs:
        head += f"({', '.join(doc.var_defs)})"
    query = f"{head} {{ {selections} }} " + " ".join(doc.fragments)
    variables = doc.variables
    if not doc.valid and draw(st.integers(0, 9)) == 0:
        variables = {**variables, draw(names): draw(json_values)}  # an extra variable
    body: dict = {"query": query, "variables": variables if variables or draw(st.booleans()) else None}
    roll = draw(st.integers(0, 9))
    if roll == 0:
        body["operationName"] = op_name
    elif roll == 1 and not doc.valid:
        body["operationName"] = draw(json_values)
    return body


# ================================================================== 1. GraphQL: generated documents


@budget(1_500)
@given(body=graphql_requests(), key=st.sampled_from([KEY, KEY, KEY, OTHER_KEY, "fresh-key"]))
def fuzz_graphql_generated_documents(body, key):
    if body["query"].lstrip().startswith("mutation"):
        key = MUTATION_KEY  # exports made here must not pile up in KEY's createdTasks
    status, response, _ = gql(body, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    STATS[f"graphql:{status}"] += 1
    if status == 200 and "errors" not in response:
        STATS["graphql: answered without errors"] += 1


# ================================================================== 2. GraphQL: garbage bodies

RAW_BODIES = [
    b"", b" ", b"null", b"[]", b"{}", b'"{user{id}}"', b"{user{id}}", b'{"query": null}', b'{"query": ""}',
    b'{"query": "{user{id}}", "variables": {"offset": 1e400}}', b'\xef\xbb\xbf{"query": "{user{id}}"}',
    b'{"query": "{user{id}}"', b'{"query": "\\ud800"}', b'{"query": "{user{id}}", "query": "{nope}"}',
    b"[" * 5_000 + b"]" * 5_000, b'{"query": "{user{id}}", "variables": {"a": ' + b"[" * 300 + b"]" * 300 + b"}}",
    b'{"query": "{user{id}}", "variables": {"a": ' + b'{"b":' * 300 + b"1" + b"}" * 300 + b"}}",
    b'{"query": "{user{\\u0000id}}"}', '{"query": "{user{id}}"}'.encode("utf-16"), b"\x00" * 64,
    b'{"query": "query Q($o: UInt64!){task(where:{id:\\"x\\"}){exportFileFromOffset(streamType: RESULT, offset: $o)'
    b'{file}}}", "variables": {"o": 123456789012345678901234567890}}',
    b'{"query": "{user{id}}", "variables": {"x": "' + b"a" * 100_000 + b'"}}',
    b'{"query": "' + b"{user{id}} " * 20_000 + b'"}',
]


def mutated(draw, document: str) -> str:
    chars = list(document)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(chars)))
        action = draw(st.integers(0, 2))
        if action == 0 and chars:
            del chars[min(at, len(chars) - 1)]
        elif action == 1:
            chars.insert(at, draw(st.sampled_from([*'{}()[]$:!@."\\#,=|&', "...", "\n", "\x00", "é"])))
        else:
            chars = chars[:at]
    return "".join(chars)


@st.composite
def garbage_bodies(draw) -> bytes:
    roll = draw(st.integers(0, 9))
    if roll == 0:
        return draw(st.sampled_from(RAW_BODIES))
    if roll == 1:
        return draw(st.binary(max_size=200))
    if roll == 2:
        return orjson.dumps(draw(json_values))
    if roll <= 5:
        doc = draw(st.sampled_from([EXPORT, HEADER, FROM_OFFSET, FROM_LINE, TASKS, LEGACY, "{user{id}}"]))
        return orjson.dumps({"query": mutated(draw, doc), "variables": draw(st.one_of(st.none(), json_values))})
    body = {}
    for key in ("query", "variables", "operationName", "extensions"):
        if draw(st.integers(0, 3)):
            body[key] = draw(st.one_of(json_values, st.just("{user{id}}")))
    return orjson.dumps(body)


@budget(700)
@given(data=garbage_bodies())
def fuzz_graphql_garbage_bodies(data):
    gql(data)


# ================================================================== 3. headers, content types, methods

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40)
authorizations = st.one_of(
    st.none(),
    st.sampled_from([f"Bearer {KEY}", f"Bearer {OTHER_KEY}", "Bearer", "Bearer ", f"bearer {KEY}", f"BEARER {KEY}",
                     "Basic YWxhZGRpbjpvcGVu", f"Bearer   {KEY}  ", f"Token {KEY}", f"Bearer {KEY} extra", "Bearer \t",
                     f"Bearer {KEY}\xe9", "Bearer\x01x"]),
    header_text.map(lambda s: "Bearer " + s), st.integers(100, 60_000).map(lambda n: "Bearer " + "k" * n), header_text)
content_types = st.one_of(st.none(), st.sampled_from([
    "application/json", "application/json; charset=utf-16", "text/plain", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz", "multipart/form-data", "application/graphql", "*/*", "",
    "application/json; charset=latin-1; x", "application/octet-stream", "application/json; charset=\x00"]), header_text)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "get"]


@st.composite
def odd_headers(draw) -> dict:
    headers = {}
    auth = draw(authorizations)
    if auth is not None:
        headers["Authorization"] = auth
    content_type = draw(content_types)
    if content_type is not None:
        headers["Content-Type"] = content_type
    for _ in range(draw(st.integers(0, 3))):
        roll = draw(st.integers(0, 5))
        if roll == 0:
            headers["X-Junk"] = "x" * draw(st.integers(1_000, 100_000))
        elif roll == 1:
            headers["Host"] = draw(st.sampled_from(["localhost", "evil.example:99999", "[::1]:80", "a" * 300, "",
                                                    "local host", "x:y:z", "%00", "localhost:-1"]))
        elif roll == 2:
            headers[draw(st.sampled_from(["X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-For",
                                          "Accept-Encoding", "Accept", "X-SDK-Method", "X-User-Agent",
                                          "Transfer-Encoding", "Expect"]))] = draw(header_text)
        else:
            headers["X-" + draw(names).replace("_", "-")] = draw(header_text)
    return headers


@budget(600)
@given(headers=odd_headers(), body=st.one_of(st.just({"query": "{user{id timezone}}"}), st.just({"query": TASKS}),
                                             garbage_bodies()),
       method=st.sampled_from(["POST"] * 6 + METHODS), path=st.sampled_from(GRAPHQL_PATHS))
def fuzz_graphql_headers_and_methods(headers, body, method, path):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    send("graphql", method, path, rule=path, data=data, headers=headers)


# ================================================================== 4. exports: filters, dates, timezones


@budget(500)
@given(items=filter_items(), flags=st.dictionaries(st.sampled_from(sorted(ALL_FLAGS)), json_scalars, max_size=4),
       legacy=st.dictionaries(st.sampled_from(["labelCreatedAt", "lastActivityAt"]),
                              st.dictionaries(st.sampled_from(["start", "end"]), st.one_of(dates, st.none())),
                              max_size=2),
       project=st.one_of(known_ids("project"), any_id()), follow=st.booleans())
def fuzz_export_filters(items, flags, legacy, project, follow):
    variables = export_variables(project, filters=items, flags={"mediaTypeOverride": None, **flags})
    auth = {"Authorization": f"Bearer {MUTATION_KEY}"}  # exports made here must not pile up in KEY's tasks
    status, body, _ = gql({"query": EXPORT, "variables": variables}, auth)
    if status == 200 and follow and (body.get("data") or {}).get("exportDataRowsInProject"):
        task_id = body["data"]["exportDataRowsInProject"]["taskId"]
        gql({"query": HEADER, "variables": {"where": {"id": task_id}, "streamType": "RESULT"}}, auth)
        gql({"query": FROM_OFFSET, "variables": {"where": {"id": task_id}, "streamType": "RESULT", "offset": "0"}},
            auth)
    gql({"query": LEGACY, "variables": {"projectId": project, "filters": legacy or None}}, auth)


# ================================================================== 5. stream offsets and lines

offsets = st.one_of(
    st.integers(-5, 30_000), st.integers(-(2**63), 2**64 - 1), st.integers(-5, 30_000).map(str),
    st.sampled_from(TRICKY_STRINGS), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(),
    st.lists(st.integers(0, 9), max_size=2), st.just({"offset": 0}))


@budget(700)
@given(task=st.one_of(known_ids("task"), st.just("other"), any_id()),
       stream=st.one_of(st.sampled_from(["RESULT", "ERRORS"]), text, json_scalars),
       which=st.sampled_from(["offset", "line", "header", "literal"]), position=offsets,
       key=st.sampled_from([KEY, KEY, OTHER_KEY]), fetch=st.booleans())
def fuzz_stream_offsets_and_lines(task, stream, which, position, key, fetch):
    task_id = env().other_task if task == "other" else task
    where = {"where": {"id": task_id}, "streamType": stream}
    if which == "header":
        body = {"query": HEADER, "variables": where}
    elif which == "offset":
        body = {"query": FROM_OFFSET, "variables": {**where, "offset": position}}
    elif which == "line":
        body = {"query": FROM_LINE, "variables": {**where, "line": position}}
    else:  # the position as a literal in the document
        value = literal(position, None) if not isinstance(position, str) else orjson.dumps(position).decode()
        body = {"query": f'{{ task(where: {{id: {orjson.dumps(task_id).decode()}}}) {{ exportFileFromOffset('
                         f'streamType: RESULT, offset: {value}) {{ offsets {{ start end }} file }} }} }}'}
    status, response, _ = gql(body, {"Authorization": f"Bearer {key}"})
    info = (response.get("data") or {}).get("task") if status == 200 else None
    file_info = info and (info.get("exportFileFromOffset") or info.get("exportFileFromLine"))
    if fetch and file_info:
        parts = urlsplit(file_info["file"])
        _, _, raw = send("files", "GET", f"{parts.path}?{parts.query}", rule="/files/<task_id>/<stream>/<index>")
        start, end = int(file_info["offsets"]["start"]), int(file_info["offsets"]["end"])
        assert len(raw) == end - start + 1


# ================================================================== 6. REST families: paths, methods, headers

SEGMENT_TRICKS = [
    "..", ".", "%2e%2e", "%2E%2E", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f", "....//", "%252e%252e", "%00", "\x00",
    "%c0%ae%c0%ae", "%ff", "%", "%zz", "é", "ü/../", "😀", "\u202e", "-1", "0", "1", "²", "١٢", "𝟙", "0x1", "1e3",
    "+1", " 1", "1 ", "99999999999999999999999999", "all", "RESULT", "ERRORS", "result", "legacy", "~root",
    "C:\\Windows", "\\..\\", ";", "?", "#", "&", "=", "%3F", "%23", "%2F", "%5C", "/", "//", "%2f%2f", "\n", "\r\n",
    "\t", " ", "", "null", "undefined", "{id}", "<id>", "${id}", "*",
]
REST_RULES = [(family, rule, methods) for family, routes in ROUTES.items() if family not in ("graphql", "admin")
              for rule, _view, methods in routes]


def slot_values(rule: str, slot: str) -> st.SearchStrategy[str]:
    e = env()
    known = {
        "label_id": e.ids["label"], "feature_id": e.ids["mask"] + e.ids["feature"], "project_id": e.ids["project"],
        "org_id": e.ids["organization"], "task_id": [*e.tasks, e.other_task], "stream": ["RESULT", "ERRORS"],
        "index": ["0", "1", "all", "2"], "frame": [str(e.mask[1]), "0", "1", "7"], "export_id": ["cnope"],
    }.get(slot, ["x"])
    return st.one_of(st.sampled_from(known), st.sampled_from(known), st.sampled_from(SEGMENT_TRICKS), text,
                     st.integers(300, 20_000).map(lambda n: "a" * n))


def rule_of(path: str) -> tuple[str, str]:
    """(family, rule) of a concrete path, from the app's own URL map."""
    endpoint, _ = env().app.url_map.bind("localhost").match(urlsplit(path).path, method="GET")
    family = endpoint.split(".")[0]
    return family, next(rule for rule, view, _m in ROUTES[family] if view.__name__ == endpoint.split(".")[1])


@st.composite
def valid_rest_requests(draw) -> tuple[str, str, dict]:
    """A request the mock should serve: (path, method, query)."""
    e = env()
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return f"/v1/frames/{draw(known_ids('label'))}", {"group": draw(st.sampled_from(["axial", "sagittal",
                                                                                         "coronal"]))}
    if kind == 1:
        feature, frame = draw(st.sampled_from(e.masks))
        if draw(st.booleans()):
            return f"/masks/feature/{feature}/{frame}", {}
        return f"/api/v1/projects/{e.world.project.id}/annotations/{feature}/index/{frame}/mask", {}
    url = urlsplit(draw(st.sampled_from(e.files)))
    return url.path, dict(parse_qsl(url.query))


def mutate_segment(draw, path: str) -> str:
    parts = path.split("/")
    at = draw(st.integers(1, len(parts) - 1))
    parts[at] = draw(st.one_of(st.sampled_from(SEGMENT_TRICKS), text))
    return quote("/".join(parts), safe=draw(st.sampled_from(["/", "/%", "/%?#&=;"])))


@st.composite
def rest_requests(draw) -> tuple[str, str, str, str, dict, dict, bytes | None]:
    e = env()
    if draw(st.integers(0, 9)) < 4:  # a served request, then at most one thing wrong with it
        path, query = draw(valid_rest_requests())
        family, rule = rule_of(path)
        headers, method, data = dict(AUTH), "GET", None
        what = draw(st.integers(0, 11))
        if what == 1:
            path = mutate_segment(draw, path)
        elif what == 2:
            headers = draw(odd_headers())
        elif what == 3:
            method = draw(st.sampled_from(METHODS))
        elif what == 4 and query:
            key = draw(st.sampled_from(sorted(query)))
            query[key] = draw(st.one_of(st.sampled_from(TRICKY_STRINGS), text))
        elif what == 5:
            query = {}
        elif what == 6:
            data = draw(st.binary(max_size=64))
        return family, rule, method, path, query, headers, data
    family, rule, methods = draw(st.sampled_from(REST_RULES))
    decoded = "/".join(draw(slot_values(rule, part[1:-1])) if part.startswith("<") else part
                       for part in rule.split("/"))
    query: dict = {}
    if family == "files" and rule.startswith("/files/") and draw(st.integers(0, 3)):
        # signed with the app's own key: past the signature, into the handler
        signed = e.app.extensions["lbmock"].signer.sign(decoded)
        path = quote(decoded, safe="/")
        query.update(parse_qsl(signed[len(decoded) + 1:]))
    else:
        path = quote(decoded, safe=draw(st.sampled_from(["/", "/%", "/%?#&=;", ""]))) or "/"
        if not path.startswith("/"):
            path = "/" + path
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(["group", "group", "X-Lbmock-Expires", "X-Lbmock-Signature", "name", "x"]))
        query[key] = draw(st.one_of(st.sampled_from(["axial", "sagittal", "coronal", "AXIAL", "oblique", ""]),
                                    st.sampled_from(TRICKY_STRINGS), text, st.integers(-5, 2**40).map(str)))
    if family == "frames" and "group" not in query and draw(st.integers(0, 3)):
        query["group"] = draw(st.sampled_from(["axial", "sagittal", "coronal"]))
    headers = draw(odd_headers()) if draw(st.integers(0, 3)) == 0 else dict(AUTH)
    if draw(st.integers(0, 9)) == 0:
        headers.pop("Authorization", None)
    method = draw(st.sampled_from(methods * 5 + METHODS))
    data = draw(st.one_of(st.none(), st.binary(max_size=64))) if draw(st.integers(0, 5)) == 0 else None
    return family, rule, method, path, query, headers, data


@budget(1_600)
@given(request=rest_requests())
def fuzz_rest_families(request):
    family, rule, method, path, query, headers, data = request
    status, _, raw = send(family, method, path, rule=rule, query_string=query, headers=headers, data=data)
    if status == 200 and method == "GET":
        STATS[f"rest 200:{family}"] += 1
        if family == "masks":
            assert raw.startswith(b"\x89PNG\r\n\x1a\n")
        elif family == "landing":  # the page for a browser
            assert raw.startswith(b"<!doctype html>")
        elif rule == "/files/legacy/<export_id>":
            orjson.loads(raw)
        else:  # NDJSON: frames, export files, export-results|errors
            for line in raw.splitlines():
                orjson.loads(line)


# ================================================================== 7. the admin family (restored afterwards)

EDGE_NUMBERS = [0, 1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), -1, 1e300, 0.5, 10**30]
edge_values = st.one_of(st.sampled_from(EDGE_NUMBERS + [str(n) for n in EDGE_NUMBERS]), st.integers(-3, 50),
                        st.integers(-(2**63), 2**64 - 1), st.sampled_from(TRICKY_STRINGS), json_values)
ADMIN_RULES = [(rule, methods) for rule, _view, methods in ROUTES["admin"]]


@st.composite
def admin_requests(draw):
    rule, methods = draw(st.sampled_from(ADMIN_RULES))
    method = draw(st.sampled_from(METHODS if draw(st.integers(0, 6)) == 0 else [m for m in methods if m != "GET"]
                                  or methods))
    body: object
    roll = draw(st.integers(0, 7))
    if roll == 0:
        body = draw(st.binary(max_size=64))
    elif rule == "/_mock/faults" and roll > 1:
        body = {"name": draw(st.sampled_from(sorted(FAULTS))) if roll > 2 else draw(st.one_of(text, json_values))}
        for key in ("arg", "times"):
            if draw(st.booleans()):
                body[key] = draw(edge_values)
    elif rule == "/_mock/world" and roll > 1:
        body = {key: draw(edge_values) for key in ("seed", "rows") if draw(st.integers(0, 4))}
        if draw(st.booleans()):
            body["project_id"] = draw(st.one_of(text, json_values, st.just("c" + "1" * 24)))
    elif rule.startswith("/_mock/state-manager/") and roll > 1:
        body = {"model_name": draw(st.sampled_from(["export-task", "legacy-export"])) if roll > 2
                else draw(st.one_of(text, json_values))}
        if draw(st.booleans()):
            body["transition"] = draw(st.one_of(json_values, st.fixed_dictionaries(
                {"progression": st.sampled_from(["immediate", "manual", "time", "nope"])},
                optional={"times": edge_values, "seconds": edge_values})))
    elif rule.endswith("/advance") and roll > 1:
        body = {"fail": draw(st.one_of(st.booleans(), json_values))}
    else:
        body = draw(json_values)
    path = rule.replace("<task_id>", draw(st.one_of(known_ids("task"), any_id())))
    # stdlib json: writes integers beyond 64 bits, which orjson refuses
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    query = {k: draw(st.one_of(st.sampled_from(TRICKY_STRINGS), text, st.integers(0, 999).map(str)))
             for k in ("status", "operation", "path", "path_prefix", "method", "name", "model_name")
             if draw(st.integers(0, 5)) == 0}
    if rule.endswith("get-transition") and draw(st.booleans()):
        query["model_name"] = draw(st.sampled_from(["export-task", "legacy-export"]))
    return rule, path, method, data, query


@budget(350)
@given(request=admin_requests())
def fuzz_admin_family(request):
    rule, path, method, data, query = request
    try:
        send("admin", method, path, rule=rule, data=data, query_string=query,
             headers={"Content-Type": "application/json"})
    finally:  # never leave a fault, a transition, or another world, to the tests after this one
        env().client.delete("/_mock/faults")
        for model in ("export-task", "legacy-export"):
            env().client.post("/_mock/state-manager/unset-transition", json={"model_name": model})
        if rule == "/_mock/world":
            env().client.post("/_mock/reset")


# ================================================================== what the fuzzer found, pinned

# Each of these once got an internal error (a traceback) out of the app; the handler is fixed.
REGRESSIONS = {
    # JSON variables nested deeper than orjson writes broke the journal after the answer
    "deep-variables": ("graphql", "POST", "/graphql",
                       b'{"query": "{user{id}}", "variables": {"a": ' + b"[" * 300 + b"]" * 300 + b"}}"),
    # an explicit null page bound: int + None
    "null-first": ("graphql", "POST", "/graphql",
                   b'{"query": "{ labelingFrontends(first: null, skip: null) { id } }"}'),
    "null-skip-tasks": ("graphql", "POST", "/graphql",
                        b'{"query": "{ user { createdTasks(skip: null, first: null) { id } } }"}'),
    # a non-ASCII signature: hmac.compare_digest refuses non-ASCII str
    "unicode-signature": ("files", "GET",
                          "/files/{task}/RESULT/0?X-Lbmock-Expires=9999999999&X-Lbmock-Signature=%C2%B2", None),
    # '²'.isdigit() is True, int('²') raises; int() refuses more than 4300 digits
    "superscript-frame": ("masks", "GET", "/masks/feature/{mask}/%C2%B2", None),
    "superscript-v2-frame": ("masks", "GET", "/api/v1/projects/{project}/annotations/{mask}/index/%C2%B2/mask", None),
    "huge-frame": ("masks", "GET", "/masks/feature/{mask}/" + "9" * 5000, None),
    "superscript-index": ("files", "GET", "{signed:/files/{task}/RESULT/²}", None),
    "superscript-journal-status": ("admin", "GET", "/_mock/journal?status=%C2%B2", None),
    # fault arguments and counts beyond SQLite's 64-bit integers
    "huge-fault-times": ("admin", "POST", "/_mock/faults", b'{"name": "export-fails", "times": 18446744073709551615}'),
    "huge-fault-arg": ("admin", "POST", "/_mock/faults", b'{"name": "export-errors", "arg": 9223372036854775808}'),
    "huge-fault-arg-text": ("admin", "POST", "/_mock/faults", b'{"name": "slow-task", "arg": "99999999999999999999"}'),
    "float-fault-arg": ("admin", "POST", "/_mock/faults", b'{"name": "rate-limit", "arg": 1e300}'),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_fuzz_regressions(name):
    family, method, path, data = REGRESSIONS[name]
    e = env()
    path = path.replace("{task}", e.tasks[0]).replace("{mask}", e.mask[0]).replace("{project}", e.world.project.id)
    if path.startswith("{signed:"):
        signed = urlsplit(e.app.extensions["lbmock"].signer.sign(path[len("{signed:"):-1]))
        path = quote(signed.path) + "?" + signed.query
    try:
        status, _, _ = send(family, method, path, data=data, headers={**AUTH, "Content-Type": "application/json"})
    finally:
        e.client.delete("/_mock/faults")
    assert status < 500  # send() has checked the body's shape and that no internal error came back


# Each phase, and the endpoint families whose every route it must reach.
PHASES = {fuzz_graphql_generated_documents: ("graphql",), fuzz_graphql_garbage_bodies: ("graphql",),
          fuzz_graphql_headers_and_methods: ("graphql",), fuzz_export_filters: ("graphql",),
          fuzz_stream_offsets_and_lines: ("graphql",),
          fuzz_rest_families: ("files", "frames", "masks", "landing", "storage"), fuzz_admin_family: ("admin",)}


@pytest.mark.parametrize("phase", list(PHASES), ids=lambda phase: phase.__name__[5:])
def test_fuzz_phase_then_the_server_still_answers(phase):
    run_phase(phase, PHASES[phase])


def test_the_phases_reach_every_family():
    assert {family for families in PHASES.values() for family in families} == set(ROUTES)
