"""Labelbox's GraphQL schema subset (``schema.graphql``) and its custom scalars."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

from graphql import GraphQLError, GraphQLSchema, IntValueNode, StringValueNode, build_schema

from lbmock.mockserver.errors import small_number
from lbmock.render.common import iso_z_millis


def _serialize_datetime(value: Any) -> str:
    return iso_z_millis(value) if isinstance(value, int) else str(value)


def _parse_uint64(value: Any) -> int:
    if isinstance(value, bool):
        raise GraphQLError("UInt64 cannot represent a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (parsed := small_number(value, 20)) is not None:
        number = parsed
    else:
        raise GraphQLError(f"UInt64 cannot represent {value!r}: expected a non-negative integer")
    if not 0 <= number < 2**64:
        raise GraphQLError(f"UInt64 cannot represent {value!r}: out of range")
    return number


def _parse_uint64_literal(node: Any, _variables: Any = None) -> int:
    if isinstance(node, IntValueNode | StringValueNode):
        return _parse_uint64(int(node.value) if isinstance(node, IntValueNode) else node.value)
    raise GraphQLError("UInt64 literal must be an integer or a decimal string")


PAGE_SIZE_MAX = 100  # the SDK's own page size (labelbox.pagination._PAGE_SIZE)


def _parse_page_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= PAGE_SIZE_MAX:
        raise GraphQLError(f"PageSize cannot represent {value!r}: expected an integer from 1 to {PAGE_SIZE_MAX}")
    return value


def _parse_page_size_literal(node: Any, _variables: Any = None) -> int:
    if isinstance(node, IntValueNode):
        return _parse_page_size(int(node.value))
    raise GraphQLError(f"PageSize literal must be an integer from 1 to {PAGE_SIZE_MAX}")


def _configure_scalar(scalar: Any, output: Any, input_value: Any = None, input_literal: Any = None) -> None:
    """Set a built scalar's coercers under both graphql-core 3.2 and 3.3 attribute names."""
    scalar.serialize = scalar.coerce_output_value = output
    if input_value is not None:
        scalar.parse_value = scalar.coerce_input_value = input_value
        scalar.parse_literal = input_literal


@lru_cache(maxsize=1)
def labelbox_schema() -> GraphQLSchema:
    schema = build_schema(files("lbmock.mockserver.gql").joinpath("schema.graphql").read_text())
    _configure_scalar(schema.type_map["DateTime"], _serialize_datetime)
    _configure_scalar(schema.type_map["UInt64"], int, _parse_uint64, _parse_uint64_literal)
    _configure_scalar(schema.type_map["PageSize"], int, _parse_page_size, _parse_page_size_literal)
    return schema
