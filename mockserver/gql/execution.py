"""Executing one GraphQL request: parse, bound and validate once per distinct
document (LRU), execute against the resolvers, map failures to the API's error shapes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, execute, parse, validate

from lbmock.mockserver.errors import DISK_FULL_MESSAGE, BadInput, NotAllowed, NotFound, StateUnavailable, disk_full
from lbmock.mockserver.gql.limits import COMPLEXITY_MESSAGE, lexically_bounded, within_limits
from lbmock.mockserver.gql.near_miss import near_miss
from lbmock.mockserver.gql.resolvers import RequestContext, Root
from lbmock.mockserver.gql.schema import labelbox_schema


@dataclass
class GraphQLOutcome:
    status: int
    body: dict
    operation: str | None
    unmatched: str | None = None  # why the schema refused the document (journaled, announced)


def _error(message: str, code: str, **extra: Any) -> dict:
    return {"message": message, "extensions": {"code": code, **extra}}


@lru_cache(maxsize=256)
def _checked_document(query: str) -> tuple[Any, str | None] | GraphQLOutcome:
    """Parse, bound and validate a document once: clients send the same few
    documents over and over (the SDK's poll and stream queries)."""
    over_limit = {"errors": [_error(COMPLEXITY_MESSAGE, "GRAPHQL_VALIDATION_FAILED")]}
    if not lexically_bounded(query):
        return GraphQLOutcome(400, over_limit, None)
    try:
        document = parse(query)
    except GraphQLError as exc:
        return GraphQLOutcome(400, {"errors": [_error(exc.message, "GRAPHQL_PARSE_FAILED")]}, None)
    operation = next((d.name.value for d in document.definitions
                      if isinstance(d, OperationDefinitionNode) and d.name), None)
    if not within_limits(document):
        return GraphQLOutcome(400, over_limit, operation)
    schema = labelbox_schema()
    problems = [near_miss(p.message, schema, document) for p in validate(schema, document)]
    if problems:
        return GraphQLOutcome(400, {"errors": [_error(p, "GRAPHQL_VALIDATION_FAILED") for p in problems]},
                              operation, unmatched="; ".join(problems))
    return document, operation


@lru_cache(maxsize=256)
def document_roots(query: str, operation_name: str | None = None) -> tuple[str | None, tuple[str, ...]] | None:
    """(operation name, root fields) of the operation a request runs, read before anything else
    (stubs and refusals decide on them); None when the document does not parse or is unbounded
    (the ordinary path then answers it)."""
    if len(query) > 16_384 * 4 or not lexically_bounded(query):
        return None
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = next((d for d in operations if d.name and d.name.value == operation_name), None) or \
        (operations[0] if operations else None)
    if chosen is None:
        return None
    fields = tuple(s.name.value for s in chosen.selection_set.selections if isinstance(s, FieldNode))
    return (chosen.name.value if chosen.name else None), fields


def run_graphql(ctx: RequestContext, query: Any, variables: Any, operation_name: Any) -> GraphQLOutcome:
    """Parse, validate and execute one request, mapping failures to the API's error shapes."""
    if not isinstance(query, str) or not query.strip():
        return GraphQLOutcome(400, {"errors": [_error("request body must carry a 'query' string",
                                                      "GRAPHQL_PARSE_FAILED")]}, None)
    if variables is not None and not isinstance(variables, dict):
        return GraphQLOutcome(400, {"errors": [_error("'variables' must be an object or null",
                                                      "GRAPHQL_VALIDATION_FAILED")]}, None)
    if operation_name is not None and not isinstance(operation_name, str):
        operation_name = None
    # only ordinary-sized documents are cached, so hostile ones cannot fill memory
    checked = _checked_document(query) if len(query) <= 16_384 else _checked_document.__wrapped__(query)
    if isinstance(checked, GraphQLOutcome):
        return checked
    document, operation = checked
    schema = labelbox_schema()
    result = execute(schema, document, root_value=Root, context_value=ctx, variable_values=variables or {},
                     operation_name=operation_name)
    if not result.errors:
        return GraphQLOutcome(200, {"data": result.data}, operation)
    errors, status, refused = [], 200, []
    for err in result.errors:
        original = err.original_error
        if isinstance(original, StateUnavailable):  # the HTTP layer answers it: a 503 saying why
            raise original
        if isinstance(original, NotFound):
            errors.append(_error(f"Resource not found: {original}", original.code))
        elif isinstance(original, NotAllowed):
            errors.append(_error(str(original), original.code))
        elif isinstance(original, BadInput):
            errors.append(_error(str(original), "GRAPHQL_VALIDATION_FAILED"))
            status = 400
        elif original is None or isinstance(original, GraphQLError):  # variable coercion, unknown operation
            message = near_miss(err.message, schema, document)
            if err.path is None:  # refused before any field ran: the request matched nothing
                refused.append(message)
            errors.append(_error(message, "GRAPHQL_VALIDATION_FAILED"))
            status = 400
        elif disk_full(original):  # a 5xx on purpose: the SDK retries it, and the disk may be freed
            errors.append(_error(DISK_FULL_MESSAGE, "SERVICE_UNAVAILABLE"))
            status = 503
        else:  # a bug in lbmock: say so plainly, and not as a 5xx the SDK would retry for minutes
            errors.append(_error(f"lbmock internal error: {type(original).__name__}: {original}",
                                 "LBMOCK_INTERNAL_ERROR"))
            status = 400
    body: dict = {"errors": errors}
    if result.data is not None or status == 200:
        body["data"] = result.data
    return GraphQLOutcome(status, body, operation, unmatched="; ".join(refused) or None)
