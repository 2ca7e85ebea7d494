"""Bounds on a GraphQL document, checked before anything expensive or recursive runs."""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Lexer,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
)

# The real API's answer to an over-limit document; the SDK maps exactly this message
# (with GRAPHQL_VALIDATION_FAILED) to ValidationFailedError.
COMPLEXITY_MESSAGE = "Query complexity limit exceeded"
MAX_DEPTH = 15  # nested field selections (the SDK's deepest documents nest 4)
MAX_COMPLEXITY = 500  # field selections, fragment spreads expanded (the SDK's largest: 16)
MAX_ALIASES = 100  # aliased selections, fragment spreads expanded (the SDK sends none)
MAX_OPERATIONS = 10  # operation definitions in one document (the SDK sends one)
MAX_FRAGMENT_NESTING = 32  # fragment spreads inside fragment spreads
MAX_QUERY_CHARS = 256 * 1024
MAX_TOKENS = 15_000
MAX_NESTING = 64  # lexical { and [ nesting: keeps the recursive parser (and all after it) shallow


class _OverLimit(Exception):
    pass


def lexically_bounded(query: str) -> bool:
    """Size, token count and bracket nesting, checked on tokens before anything recursive runs."""
    if len(query) > MAX_QUERY_CHARS:
        return False
    lexer = Lexer(Source(query))
    tokens = nesting = 0
    try:
        token = lexer.advance()
        while token.kind is not TokenKind.EOF:
            tokens += 1
            if tokens > MAX_TOKENS:
                return False
            if token.kind in (TokenKind.BRACE_L, TokenKind.BRACKET_L):
                nesting += 1
                if nesting > MAX_NESTING:
                    return False
            elif token.kind in (TokenKind.BRACE_R, TokenKind.BRACKET_R):
                nesting -= 1
            token = lexer.advance()
    except GraphQLError:
        pass  # a syntax error: parse() reports it
    return True


def within_limits(document: DocumentNode) -> bool:
    """Depth, complexity, aliases and operations of a parsed document.

    Runs before validation (which is super-linear in the fields of a selection
    and recursive over fragment spreads), so it tolerates what validation
    rejects: an unknown fragment counts nothing and a fragment cycle is cut where
    it closes.  Each fragment is costed once: fragment bombs cost linear time.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    costs: dict[str, tuple[int, int, int]] = {}  # fragment -> (fields, aliases, depth)
    active: list[str] = []

    def selection_set(node: SelectionSetNode | None) -> tuple[int, int, int]:
        fields = aliases = depth = 0
        for sel in node.selections if node is not None else ():
            if isinstance(sel, FieldNode):
                f, a, d = selection_set(sel.selection_set)
                f, a, d = f + 1, a + (sel.alias is not None), d + 1
            elif isinstance(sel, InlineFragmentNode):
                f, a, d = selection_set(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                f, a, d = spread(sel.name.value)
            else:
                continue
            fields, aliases, depth = fields + f, aliases + a, max(depth, d)
            if fields > MAX_COMPLEXITY or aliases > MAX_ALIASES or depth > MAX_DEPTH:
                raise _OverLimit
        return fields, aliases, depth

    def spread(name: str) -> tuple[int, int, int]:
        if name in costs:
            return costs[name]
        if name in active or name not in fragments:
            return 0, 0, 0  # a cycle or an unknown fragment: validation reports it
        if len(active) >= MAX_FRAGMENT_NESTING:
            raise _OverLimit
        active.append(name)
        costs[name] = selection_set(fragments[name].selection_set)
        active.pop()
        return costs[name]

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) > MAX_OPERATIONS:
        return False
    total_fields = total_aliases = 0
    try:
        for op in operations:
            fields, aliases, _depth = selection_set(op.selection_set)
            total_fields, total_aliases = total_fields + fields, total_aliases + aliases
            if total_fields > MAX_COMPLEXITY or total_aliases > MAX_ALIASES:
                return False
    except _OverLimit:
        return False
    return True
