"""GraphQL near misses: a document the schema refuses gets the closest field, argument,
type, enum value or operation named in its message, or, when nothing is close, what was
looked up.  graphql-core suggests some of these itself (by edit distance); this fills in
the rest with difflib over the schema, so every refusal says what the schema does have."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from graphql import (
    DocumentNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
)

from lbmock.mockserver.near_miss import clip_words, clipped, closest, listing

_Q = r"['\"]"  # graphql-core 3.3 quotes names with ', 3.2 with "
_NAME = r"[_A-Za-z][_0-9A-Za-z]*"


def _named(group: str) -> str:
    return rf"{_Q}(?P<{group}>{_NAME}){_Q}"


def _fields(schema: GraphQLSchema, type_name: str) -> list[str]:
    named = schema.get_type(type_name)
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
        return list(named.fields)
    return []


def _arguments(schema: GraphQLSchema, type_name: str, field: str) -> list[str]:
    named = schema.get_type(type_name)
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType) and field in named.fields:
        return list(named.fields[field].args)
    return []


def _directive_arguments(schema: GraphQLSchema, name: str) -> list[str]:
    directive = schema.get_directive(name)
    return list(directive.args) if directive else []


def _enum_values(schema: GraphQLSchema, type_name: str) -> list[str]:
    named = schema.get_type(type_name)
    return list(named.values) if isinstance(named, GraphQLEnumType) else []


def _type_names(schema: GraphQLSchema) -> list[str]:
    return [name for name in schema.type_map if not name.startswith("__")]


def _operation_names(document: DocumentNode | None) -> list[str]:
    if document is None:
        return []
    return [d.name.value for d in document.definitions if isinstance(d, OperationDefinitionNode) and d.name]


# What a refusal asked for (group "asked") and where lbmock looked: (description, candidates).
Lookup = Callable[[GraphQLSchema, DocumentNode | None, re.Match], tuple[str, list[str]]]
# graphql-core's refusal of a field the schema's type lacks (groups "asked", "type")
UNKNOWN_FIELD = re.compile(rf"Cannot query field {_named('asked')} on type {_named('type')}")
_PATTERNS: list[tuple[re.Pattern, Lookup]] = [
    (UNKNOWN_FIELD, lambda s, d, m: (f"field of '{m['type']}'", _fields(s, m["type"]))),
    (re.compile(rf"Unknown argument {_named('asked')} on field {_Q}(?P<type>{_NAME})\.(?P<field>{_NAME}){_Q}"),
     lambda s, d, m: (f"argument of '{m['type']}.{m['field']}'", _arguments(s, m["type"], m["field"]))),
    (re.compile(rf"Unknown argument {_named('asked')} on directive {_Q}@(?P<directive>{_NAME}){_Q}"),
     lambda s, d, m: (f"argument of '@{m['directive']}'", _directive_arguments(s, m["directive"]))),
    (re.compile(rf"Unknown type {_named('asked')}"), lambda s, d, m: ("type", _type_names(s))),
    (re.compile(rf"Unknown directive {_Q}(?P<asked>@{_NAME}){_Q}"),
     lambda s, d, m: ("directive", [f"@{x.name}" for x in s.directives])),
    (re.compile(rf"Expected value of type {_named('type')} not to include unknown field {_named('asked')}"),
     lambda s, d, m: (f"field of '{m['type']}'", _fields(s, m["type"]))),
    (re.compile(rf"Field {_named('asked')} is not defined by type {_named('type')}"),
     lambda s, d, m: (f"field of '{m['type']}'", _fields(s, m["type"]))),
    (re.compile(rf"Value {_named('asked')} does not exist in {_named('type')} enum"),
     lambda s, d, m: (f"value of enum '{m['type']}'", _enum_values(s, m["type"]))),
    (re.compile(rf"Unknown operation named {_named('asked')}"),
     lambda s, d, m: ("operation in the document", _operation_names(d))),
]


_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")  # graphql-core's own, by edit distance


def near_miss(message: str, schema: GraphQLSchema, document: DocumentNode | None = None) -> str:
    """``message`` naming the closest known names (difflib, closest first, in place of
    graphql-core's edit-distance suggestion), or saying what was looked up when none is close;
    a client's long names clipped (the message is journaled and announced: it stays short)."""
    return clip_words(_with_hint(message, schema, document))


def _with_hint(message: str, schema: GraphQLSchema, document: DocumentNode | None) -> str:
    for pattern, lookup in _PATTERNS:
        found = pattern.search(message)
        if found is not None:
            what, candidates = lookup(schema, document, found)
            hint = _hint(found["asked"], what, candidates)
            own = _SUGGESTION.search(message)
            if own is None:
                return f"{message.rstrip()} {hint}"
            return f"{message[:own.start()]} {hint}{message[own.end():]}"
    return message


def _hint(asked: str, what: str, candidates: Iterable[str]) -> str:
    names = list(candidates)
    best = closest(asked, names, n=3)
    if best:
        quoted = [f"'{name}'" for name in best]
        return f"Did you mean {', '.join(quoted[:-1]) + ' or ' if len(quoted) > 1 else ''}{quoted[-1]}?"
    if not names:
        return f"lbmock knows no {what}."
    return f"No {what} is close to '{clipped(asked)}'; there are: {listing(names)}."
