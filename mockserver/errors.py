"""The backend's client errors, mapped to the API's error shapes by the HTTP layer, the
one way client text becomes a number, and the one server-side failure a client should retry."""

from __future__ import annotations

import errno

# A full disk (or quota) under the spool: the client is told to retry (503), never "internal error"
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DISK_FULL_MESSAGE = ("lbmock has no space left on the disk holding its spool (rendered exports, DICOM "
                     "files): nothing was kept; free some space and retry")
DISK_FULL_RETRY_AFTER = 5  # seconds


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an error it was raised from, is a full disk (``ENOSPC``, ``EDQUOT``)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class NotFound(Exception):
    """An id the client named does not exist (the API's RESOURCE_NOT_FOUND)."""

    code = "RESOURCE_NOT_FOUND"


class FeatureSchemaNotFound(NotFound):
    """An unknown featureSchemaId.  ``client.get_feature_schema`` reads the answer without a null
    check, so RESOURCE_NOT_FOUND (execute() returns None) ends in a bare TypeError; any other code
    raises ``LabelboxError("Unknown error: [{'message': ..., 'code': ...}]")``, which names the id."""

    code = "FEATURE_SCHEMA_NOT_FOUND"


class StateUnavailable(Exception):
    """The shared state's database cannot be reached (``--state postgresql://...`` down): the
    request is answered 503 saying why, which the SDK retries; never a hang or a traceback."""


class BadInput(Exception):
    """A request that is well-formed GraphQL/HTTP but asks for something invalid."""


class NotAllowed(Exception):
    """A request the API refuses though every id in it exists: a usage limit reached, or an
    operation Labelbox does not offer for DICOM.  OPERATION_NOT_ALLOWED, which every supported SDK
    (3.40.1 to 7.17.0) raises as ``OperationNotAllowedException``, documented there as "Raised when
    user does not have permissions to a resource or has exceeded usage limit"."""

    code = "OPERATION_NOT_ALLOWED"


def small_number(text: str, max_digits: int = 18) -> int | None:
    """``text`` as a non-negative integer when it is plain ASCII digits, else None.

    ``str.isdigit()`` alone also passes '²' and '١', which ``int()`` refuses or reads
    as another number, and ``int()`` refuses more than 4300 digits."""
    if not (text.isascii() and text.isdigit()) or len(text) > max_digits:
        return None
    return int(text)


_CONTROL = str.maketrans({c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0))} | {0x5c: "\\\\"})
_CONTROL_BUT_NEWLINE = {c: v for c, v in _CONTROL.items() if c != 0x0a}


def printable(text: str, keep_newlines: bool = False) -> str:
    """``text`` safe for an operator's terminal or log: control characters (escape sequences,
    CR, LF, C1) and backslashes written as escapes, so client text cannot forge or hide lines."""
    return text.translate(_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL)
