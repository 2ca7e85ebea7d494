"""DICOM files kept on disk once generated, so later downloads are sent from the file (sendfile).

The first whole-file GET of a row's DICOM streams the generated frames to the client and
writes the same bytes beside them; when the last byte is out, the file is renamed into the
cache.  Later GETs, Range requests included, read the cached file.  A client that disconnects
midway leaves no file behind.  The cache holds at most ``max_bytes`` (least recently served
go first).  Keys name the world served and the file, so a world change never serves old bytes;
workers pointed at one directory share it (each file appears by atomic rename).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lbmock.mockserver.exports.spool import prune_least_recent

MAX_BYTES = 4 << 30  # a 512x512x400 volume is 210 MB


class VolumeCache:
    """Whole generated files on disk, by key."""

    def __init__(self, directory: str | None, max_bytes: int = MAX_BYTES) -> None:
        self._dir: Path | None = Path(directory) if directory else None
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def _directory(self) -> Path:
        with self._lock:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="lbmock-volumes-"))
                weakref.finalize(self, shutil.rmtree, self._dir, True)
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            return self._dir

    def _path(self, key: str) -> Path:
        return self._directory() / f"{key}.dcm"

    def open(self, key: str) -> BinaryIO | None:
        """The cached file, open (the caller closes it), or None."""
        path = self._path(key)
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently served: pruned last
        return handle

    def write_through(self, key: str, chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
        """``chunks`` (the whole file, ``size`` bytes) as they come, written to the cache as they go.

        The file is complete and renamed into place before its last chunk is handed on: a server
        stops iterating once Content-Length bytes are out."""
        final = self._path(key)
        partial = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        written = 0
        try:
            out = open(partial, "wb")  # noqa: SIM115 - closed below, whichever way this ends
        except OSError:  # no room for the file (or the folder is gone): served, not kept
            out = None
        try:
            for chunk in chunks:
                if out is not None:
                    try:
                        out.write(chunk)
                        written += len(chunk)
                        if written == size:
                            out.close()
                            self._prune(keep=size)
                            os.replace(partial, final)
                    except OSError:  # a full disk: the client still gets every byte, nothing is kept
                        out.close()
                        out = None
                        partial.unlink(missing_ok=True)
                yield chunk
        finally:
            if out is not None:
                out.close()
            partial.unlink(missing_ok=True)  # the client left early (or it is already renamed)

    def _prune(self, keep: int) -> None:
        """Drop the least recently served files until ``keep`` more bytes fit in ``max_bytes``."""
        prune_least_recent(self._directory().glob("*.dcm"), max_bytes=self.max_bytes, adding_bytes=keep)
