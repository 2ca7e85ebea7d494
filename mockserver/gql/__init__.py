"""GraphQL: Labelbox's schema subset, resolved against a MockBackend.

Documents are parsed, validated and executed by graphql-core against
``schema.graphql``; nothing looks at query text any other way.  ``schema``
loads it, ``resolvers`` answers its fields, ``limits`` bounds documents,
``execution`` runs a request.  The HTTP handler is ``lbmock.mockserver.handlers.graphql``.
"""

from lbmock.mockserver.gql.execution import GraphQLOutcome, document_roots, run_graphql
from lbmock.mockserver.gql.resolvers import RequestContext
from lbmock.mockserver.gql.schema import labelbox_schema

__all__ = ["GraphQLOutcome", "RequestContext", "document_roots", "labelbox_schema", "run_graphql"]
