"""Reading a byte range of an open file as it is sent: one helper for every file lbmock serves
(export files from the spool, a user's DICOM files)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO


def read_range(handle: BinaryIO, size: int, chunk: int = 4 * 1024 * 1024) -> Iterator[bytes]:
    """``size`` bytes of ``handle`` from where it stands, in reads of up to ``chunk`` (an export file in one);
    stops early if the file ends first."""
    left = size
    while left > 0:
        data = handle.read(min(left, chunk))
        if not data:
            return
        left -= len(data)
        yield data
