"""Recording what a live deployment answered, with secrets stripped (``--lb-record DIR``).

* ``DIR/v2/<name>.ndjson``: export v2 rows (``lbmock validate`` checks them; ``lbmock serve --replay``
  serves them),
* ``DIR/v2/assets/``: what those rows link to, in the layout ``--replay`` reads
  (``masks/<feature id>/<frame>.png``, ``row_data/<data row id>.dcm``; at most
  :data:`MAX_MASKS` masks and :data:`MAX_ROW_DATA` DICOM files a run: a live project's files are big),
* ``DIR/legacy/<name>.json``: a legacy ``export_labels`` array (same),
* ``DIR/frames/<label>-<plane>.ndjson``: legacy per-frame records (same),
* ``DIR/graphql/<pid>-<n>-<operation>.json``: each raw GraphQL response.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lbmock.replay import ASSETS, mask_asset, row_data_asset

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_SECRET_PREFIXES = ("x-goog-", "x-amz-", "x-lbmock-", "x-ms-")
_SECRET_WORDS = ("signature", "token", "credential", "expires", "secret", "password", "apikey", "api_key",
                 "api-key", "accesskey", "access_key")
_SECRET_NAMES = frozenset({"key", "sig", "se", "st", "sp", "sv", "sr", "spr", "skoid", "sktid", "skt", "ske",
                           "sks", "skv", "policy", "key-pair-id", "googleaccessid", "auth", "jwt"})
_SECRET_KEYS = re.compile(r"^(authorization|api[-_]?key|x-api-key|token|access[-_]?token|password)$", re.I)
REDACTED = "<redacted>"
MAX_MASKS = 2000  # asset downloads of one recording run (each file once, whichever export links it)
MAX_ROW_DATA = 20


def secret_param(name: str) -> bool:
    """Whether a URL query parameter is a credential (signed-URL parameters, tokens, keys)."""
    low = name.lower()
    return low.startswith(_SECRET_PREFIXES) or low in _SECRET_NAMES or any(w in low for w in _SECRET_WORDS)


# lbmock's signed file URLs carry the server's key and the task's creation time; comparing a
# served export with a rendered one replaces each signature by this same-length placeholder.
LBMOCK_SIGNATURE = re.compile(r"X-Lbmock-Expires=\d{10}&X-Lbmock-Signature=[0-9a-f]{64}")
PLACEHOLDER_SIGNATURE = "X-Lbmock-Expires=0000000000&X-Lbmock-Signature=" + "0" * 64


def unsigned(data: str | bytes) -> str | bytes:
    """``data`` with every lbmock URL signature replaced by :data:`PLACEHOLDER_SIGNATURE`."""
    if isinstance(data, bytes):
        return LBMOCK_SIGNATURE.sub(PLACEHOLDER_SIGNATURE, data.decode()).encode()
    return LBMOCK_SIGNATURE.sub(PLACEHOLDER_SIGNATURE, data)


def placeholder_sign(path: str) -> str:
    """A ``Urls.sign`` that signs with the placeholder: rendered rows then equal ``unsigned`` served ones."""
    return f"{path}?{PLACEHOLDER_SIGNATURE}"


def strip_url(url: str) -> str:
    """``url`` without its credential query parameters (others, e.g. ``group=axial``, stay)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not secret_param(k)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))


def scrub(value: Any, api_key: str | None = None) -> Any:
    """A copy of a JSON value with secrets removed from every string and every URL, anywhere."""

    def text(s: str) -> str:
        if api_key and len(api_key) >= 6 and api_key in s:
            s = s.replace(api_key, REDACTED)
        if s.lower().startswith("bearer "):
            return f"Bearer {REDACTED}"
        return _URL.sub(lambda m: strip_url(m.group(0)), s) if "://" in s else s

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return text(v)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {text(k): (REDACTED if _SECRET_KEYS.match(k) and v2 is not None else walk(v2))
                    for k, v2 in v.items()}
        return v

    return walk(value)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-")[:120] or "unnamed"


def _atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SEQ = itertools.count(1)


class Recorder:
    """Saves payloads under ``record_dir``, every secret (``api_key`` included) stripped."""

    def __init__(self, record_dir: str, api_key: str | None) -> None:
        self.dir = Path(record_dir)
        self.api_key = api_key
        self._fetched = {"masks": 0, "row_data": 0}

    def ndjson(self, kind: str, name: str, lines: list[bytes]) -> None:
        def write(fh: Any) -> None:
            for line in lines:
                fh.write(json.dumps(scrub(json.loads(line), self.api_key), ensure_ascii=False) + "\n")

        _atomic_write(self.dir / kind / f"{slug(name)}.ndjson", write)

    def v2_assets(self, lines: list[bytes], fetch: Callable[[str, bool], bytes | None]) -> None:
        """Save what export v2 rows link to under ``DIR/v2/assets`` (the replay layout):
        ``fetch(url, with_key)`` returns a file's bytes, or None when it could not be had.  Files
        already saved are not fetched again; the limits bound a run's downloads."""
        assets = self.dir / "v2" / ASSETS
        for line in lines:
            row = json.loads(line)
            data_row = row.get("data_row") or {}
            if data_row.get("id") and data_row.get("row_data"):
                self._asset(row_data_asset(assets, data_row["id"]), data_row["row_data"], False, fetch, "row_data")
            for project in (row.get("projects") or {}).values():
                for label in project.get("labels") or ():
                    for group in ((label.get("annotations") or {}).get("groups") or {}).values():
                        for frame, slot in (group.get("frames") or {}).items():
                            for feature_id, obj in (slot.get("objects") or {}).items():
                                url = (obj.get("mask") or {}).get("url") if isinstance(obj, dict) else None
                                if url and frame.isdigit():
                                    self._asset(mask_asset(assets, feature_id, int(frame)), url, True, fetch, "masks")

    def _asset(self, path: Path, url: str, with_key: bool, fetch: Callable[[str, bool], bytes | None],
               kind: str) -> None:
        if path.exists() or self._fetched[kind] >= (MAX_MASKS if kind == "masks" else MAX_ROW_DATA):
            return
        self._fetched[kind] += 1
        content = fetch(url, with_key)
        if content is not None:
            _atomic_write(path, lambda fh: fh.write(content), binary=True)

    def json(self, kind: str, name: str, value: Any) -> None:
        _atomic_write(self.dir / kind / f"{slug(name)}.json",
                      lambda fh: json.dump(scrub(value, self.api_key), fh, ensure_ascii=False, indent=1))

    def graphql(self, operation: str | None, variables: Any, status: int, body: Any) -> None:
        name = f"{os.getpid()}-{next(_SEQ):04d}-{slug(operation or 'anonymous')}.json"
        record = {"operation": operation, "variables": variables, "status": status, "response": body}
        _atomic_write(self.dir / "graphql" / name,
                      lambda fh: json.dump(scrub(record, self.api_key), fh, ensure_ascii=False, indent=1))
