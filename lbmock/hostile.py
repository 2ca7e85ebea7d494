"""Hostile content: the same world, its row strings made as awkward as real ones get.

A deterministic transform of a world (fault ``hostile-content``, world option
``hostile_content``).  Every view — export v2, legacy, GraphQL, the DICOM file's
name — renders the transformed rows, so they show the same hostile strings.

What changes: the strings a data row owns — ``external_id``, ``global_key``,
string metadata values, attachment names and ``RAW_TEXT`` attachment values.
What they get: ``}{`` (two JSON objects glued, a naive splitter's trap), a
newline, CRLF, a tab, quotes and backslashes (also ones that look like JSON
escapes), ``/ ? # % &`` (URL-significant), non-ASCII as the labelbox SDK's own
parser test fixture has it (full-width and half-width Japanese), accents,
combining marks, right-to-left text, an emoji outside the BMP, a BOM and a
zero-width joiner in the middle; and in every fifth row a very long value
(over 64 KiB) in its metadata and text attachments.

Left out on purpose: U+2028, U+2029 and U+0085.  JSON writers (orjson, and
Node's ``JSON.stringify``) leave them raw inside strings, and the SDK's NDJSON
readers (labelbox 7.x ``labelbox.parser``, the ``ndjson`` package 3.x uses)
split lines with ``str.splitlines()``, which breaks a line at each of them;
public material does not say whether Labelbox escapes them.  Also left out:
NUL and other control characters but tab, CR and LF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from lbmock.world import Attachment, DataRow, World

# One short piece carrying every hazard; appended, so ids stay unique (global keys must be).
HOSTILE_PIECE = (
    ' }{"id": "x"}\n{ \r\n\t "quoted" \'single\' back\\slash \\n \\u0041 \\" '
    "/ ? # % & "
    "ちょまど@初詣おみくじ凶 ( *ﾟ▽ﾟ* っ)З "
    "Ünïcödé ñ e\u0301 مرحبا 🩻 \ufeffa\u200db"
)
LONG_EVERY = 5  # rows whose index is a multiple of this get a very long value
LONG_CHARS = 70_000  # over 64 KiB even in ASCII: past common read buffers


def hostile_text(text: str, index: int) -> str:
    """``text`` with the hostile piece after it (the row's index keeps equal inputs apart)."""
    return f"{text}{HOSTILE_PIECE} #{index}"


def _long(text: str, index: int) -> str:
    base = hostile_text(text, index)
    if index % LONG_EVERY:
        return base
    filler = (HOSTILE_PIECE + " ") * (LONG_CHARS // len(HOSTILE_PIECE) + 1)
    return base + filler[:LONG_CHARS]


def hostile_row(row: DataRow) -> DataRow:
    """The row with every string it owns made hostile (see the module docstring)."""
    i = row.index
    metadata = tuple(replace(m, value=_long(m.value, i)) if isinstance(m.value, str) else m
                     for m in row.metadata)
    attachments = tuple(_attachment(a, i) for a in row.attachments)
    return replace(row,
                   external_id=None if row.external_id is None else hostile_text(row.external_id, i),
                   global_key=None if row.global_key is None else hostile_text(row.global_key, i),
                   metadata=metadata, attachments=attachments)


def _attachment(attachment: Attachment, index: int) -> Attachment:
    value = _long(attachment.value, index) if attachment.type == "RAW_TEXT" else attachment.value
    return replace(attachment, name=hostile_text(attachment.name, index), value=value)


class HostileRows:
    """A world's rows, each made hostile as it is read (the source keeps its own cache)."""

    def __init__(self, rows: Sequence[DataRow]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> DataRow:
        return hostile_row(self._rows[index])


def hostile_world(world: World) -> World:
    """``world`` with hostile row strings; projects, datasets and everything else unchanged."""
    if isinstance(world.rows, HostileRows):
        return world
    return replace(world, rows=HostileRows(world.rows))

