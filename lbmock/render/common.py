"""Pieces every renderer shares: URLs, timestamp formats, answers.

URLs are built from one :class:`Urls` value so the server can point every
link (frames, masks, editor) at itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from lbmock.world import Answer, DataRow, Option

DEFAULT_API_BASE = "https://api.labelbox.com"
DEFAULT_EDITOR_BASE = "https://editor.labelbox.com"
DEFAULT_STORAGE_BASE = "https://storage.labelbox.com"  # where Labelbox serves uploaded assets
STORAGE_PREFIX = "/storage"  # the storage routes' path on the mock's own base URL


@dataclass(frozen=True, slots=True)
class Urls:
    """Where exported links point.  The server passes its own base URL.

    ``sign`` (the server's, never serialised) turns a storage path into a
    signed, expiring path-and-query; without it storage URLs are unsigned.
    """

    api_base: str = DEFAULT_API_BASE
    editor_base: str = DEFAULT_EDITOR_BASE
    storage_base: str = DEFAULT_STORAGE_BASE
    sign: Callable[[str], str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def served_at(cls, base_url: str, storage_base: str | None = None,
                  sign: Callable[[str], str] | None = None) -> Urls:
        """Links of a mock served at ``base_url``: DICOM files under ``<base_url>/storage`` unless
        ``storage_base`` says otherwise (in-process: Labelbox's storage host)."""
        return cls(api_base=base_url, storage_base=storage_base or base_url + STORAGE_PREFIX, sign=sign)

    def to_json(self) -> dict:
        """The bases, as stored with a task (the signer is attached again when rendering)."""
        return {"api_base": self.api_base, "editor_base": self.editor_base, "storage_base": self.storage_base}

    def row_data(self, org_id: str, row: DataRow) -> str:
        """The row's DICOM file, as Labelbox-hosted assets are linked: ``<org>/<file name>``, signed.

        The signature covers the (unquoted) path the mock routes, ``/storage/...``,
        whichever base the URL is shown under.
        """
        return self.storage_file(org_id, dicom_file_name(row))

    def storage_file(self, org_id: str, file_name: str) -> str:
        """:meth:`row_data` of the file ``file_name`` (:func:`dicom_file_name`)."""
        path = f"{STORAGE_PREFIX}/{org_id}/{file_name}"
        query = self.sign(path)[len(path):] if self.sign is not None else ""
        return self.storage_base + url_path(path[len(STORAGE_PREFIX):]) + query

    def mask_v2(self, project_id: str, feature_id: str, frame: int) -> str:
        return (f"{self.api_base}/api/v1/projects/{_project_path(project_id)}/annotations/"
                f"{feature_id}/index/{frame}/mask")

    def mask_legacy(self, feature_id: str, frame: int) -> str:
        return f"{self.api_base}/masks/feature/{feature_id}/{frame}"

    def frames(self, label_id: str, plane: str) -> str:
        return f"{self.api_base}/v1/frames/{label_id}?group={plane.lower()}"

    def view_label(self, project_id: str, label_id: str) -> str:
        return f"{self.editor_base}?project={quote(project_id)}&label={label_id}"


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~/-]*")  # what quote() leaves as it is (safe="/")


def url_path(text: str) -> str:
    """``quote(text)``, answering at once for text it would leave alone (ids, file names: most)."""
    return text if _UNRESERVED.fullmatch(text) else quote(text)


@functools.lru_cache(maxsize=64)  # the same few projects in every mask URL of an export
def _project_path(project_id: str) -> str:
    return url_path(project_id)


_NOT_IN_A_NAME = {c: "_" for c in [*range(32), 127, ord("/"), ord("\\")]}
_ANY_NOT_IN_A_NAME = re.compile("[" + re.escape("".join(map(chr, _NOT_IN_A_NAME))) + "]")


def dicom_file_name(row: DataRow) -> str:
    """The name of a row's DICOM file in storage: ``<row id>-<external id>``, or ``<row id>.dcm``;
    one path segment, so ``/``, ``\\`` and control characters of the external id become ``_``."""
    return file_name_of(row.id, row.external_id)


def file_name_of(row_id: str, external_id: str | None) -> str:
    """:func:`dicom_file_name` of the row ``row_id`` with ``external_id``."""
    if not external_id:
        return f"{row_id}.dcm"
    name = external_id  # translate() only when needed: a search is 4x cheaper, and most names are plain
    return f"{row_id}-{name.translate(_NOT_IN_A_NAME) if _ANY_NOT_IN_A_NAME.search(name) else name}"


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@functools.lru_cache(maxsize=4096)
def _utc_day(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")


def _utc_seconds(ms: int) -> str:
    """``2022-05-09T03:14:41.``: a UTC time to the second (the date part cached: rows are rendered
    by the thousand, a few timestamps each, and strftime was a tenth of rendering one)."""
    day, second = divmod(ms // 1000, 86_400)
    hours, second = divmod(second, 3600)
    minutes, second = divmod(second, 60)
    return f"{_utc_day(day)}{hours:02d}:{minutes:02d}:{second:02d}."


_FRACTION = re.compile(r"\.(\d+)")


def parse_iso(text: str) -> datetime:
    """An export timestamp (``...Z``, ``+00:00``, any fraction of a second, a bare date) as an aware
    datetime (no offset: UTC); ValueError if it is none.  Python 3.10's ``fromisoformat`` reads neither
    ``Z`` nor fractions of other than 3 or 6 digits: those are rewritten when it refuses."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        offset = text[:-1] + "+00:00" if text.endswith("Z") else text
        when = datetime.fromisoformat(_FRACTION.sub(lambda m: "." + (m[1] + "00000")[:6], offset, count=1))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def iso_z_millis(ms: int) -> str:
    """``2022-05-09T03:14:41.000Z``: legacy exports and GraphQL DateTime values."""
    return f"{_utc_seconds(ms)}{ms % 1000:03d}Z"


def iso_offset_millis(ms: int) -> str:
    """``2024-02-16T17:49:08.951+00:00``: v2 data row and label details."""
    return f"{_utc_seconds(ms)}{ms % 1000:03d}+00:00"


def iso_offset_micros(ms: int) -> str:
    """``2023-02-09T20:52:24.428000+00:00``: v2 workflow history."""
    return f"{_utc_seconds(ms)}{ms % 1000:03d}000+00:00"


def v2_answer(answer: Answer) -> dict:
    """A classification answer as export v2 writes it."""
    schema = answer.schema
    out: dict = {"feature_id": answer.feature_id, "feature_schema_id": schema.schema_id,
                 "name": schema.name, "value": schema.value}
    if schema.kind == "text":
        out["text_answer"] = {"content": answer.text}
    elif schema.kind == "radio":
        opt = answer.options[0]
        out["radio_answer"] = _v2_option(opt)
    else:
        out["checklist_answers"] = [_v2_option(o) for o in answer.options]
    return out


def _v2_option(option: Option) -> dict:
    return {"feature_id": option.feature_id, "feature_schema_id": option.schema_id,
            "name": option.name, "value": option.value, "classifications": []}


def legacy_answer(answer: Answer) -> dict:
    """A classification answer as the legacy export and frame records write it."""
    schema = answer.schema
    out: dict = {"featureId": answer.feature_id, "schemaId": schema.schema_id,
                 "title": schema.name, "value": schema.value}
    if schema.kind == "text":
        out["answer"] = answer.text
    elif schema.kind == "radio":
        opt = answer.options[0]
        out["answer"] = {"featureId": opt.feature_id, "schemaId": opt.schema_id,
                         "title": opt.name, "value": opt.value}
    else:
        out["answers"] = [{"featureId": o.feature_id, "schemaId": o.schema_id,
                           "title": o.name, "value": o.value} for o in answer.options]
    return out


def point_list(points: tuple[tuple[float, float], ...]) -> list[dict]:
    return [{"x": x, "y": y} for x, y in points]
