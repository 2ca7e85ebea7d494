"""The backend's two client errors, mapped to the API's error shapes by the HTTP layer."""


class NotFound(Exception):
    """An id the client named does not exist (the API's RESOURCE_NOT_FOUND)."""


class BadInput(Exception):
    """A request that is well-formed GraphQL/HTTP but asks for something invalid."""
