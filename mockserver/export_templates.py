"""Export rows rendered once per world and export, reused by every task asking the same again.

Test suites export the same world many times, with the same params and filters.  What differs
between two such tasks is in two URLs of each row: the server's base (``mask`` URLs, the
``row_data`` host) and the signature of ``row_data`` (it expires relative to the task's
creation).  So a task's RESULT stream is rendered once as a *template*, with placeholders there,
into a file beside the spool; every task with the same key fills the placeholders in line by
line (~10 µs a row, against ~150 µs to draw and render it), giving exactly the bytes rendering
would.  The key covers the world (its pickled form: seed, projects, rows), the params, the
filters and the scope; tasks whose rows can fail (faults) are rendered as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import orjson

from lbmock.render.common import STORAGE_PREFIX, Urls
from lbmock.world import World
from mockserver.spool import Lines, RenderedPart
from mockserver.tasks import RESULT, ExportTask

TEMPLATE_FILES = 8  # templates kept on disk (each the size of its stream)

# Placeholders: plain JSON-safe text no world string contains, so orjson writes them as they are.
API = "lbmock-template:api-base"
STORAGE = "lbmock-template:storage-base"
SIGNED = "lbmock-template:signed"
_API, _STORAGE, _SIGNED = API.encode(), STORAGE.encode(), b"?" + SIGNED.encode()


def _sign_placeholder(path: str) -> str:  # a module function: helper processes unpickle it
    return f"{path}?{SIGNED}"


TEMPLATE_URLS = Urls(api_base=API, storage_base=STORAGE, sign=_sign_placeholder)


def _json_text(value: str) -> bytes:
    """``value`` as it appears inside a JSON string written by orjson."""
    return orjson.dumps(value)[1:-1]


class ExportTemplates:
    """Templates of RESULT streams in ``directory`` (a callable: the spool creates it lazily)."""

    def __init__(self, directory: Callable[[], Path]) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}
        self._world: tuple[World, str] | None = None  # the last world's digest (pickling it costs ~1 ms)
        self._guess: tuple[str, threading.Event] | None = None  # a build ahead of any task, and its stop

    def lines(self, world: World, task: ExportTask, stream: str, render: Callable[[ExportTask], Lines]) -> Lines:
        """The stream's lines: from its template (built first if need be) when the task can use one,
        else ``render(task)``.  ``task.urls`` carries the server's bases and signer."""
        key = self._key(world, task, stream)
        if stream == RESULT:
            self._stop_guess_unless(key)
        if key is None:
            return render(task)
        for _attempt in range(3):
            path = self._ensure(key, task, render)
            try:
                template = open(path, "rb")  # noqa: SIM115 - _fill closes it
            except FileNotFoundError:  # pruned meanwhile (another worker), or a guess stopped: build again
                continue
            os.utime(template.fileno())  # recently used: pruned last
            return _fill(template, task.urls)
        return render(task)

    def build_ahead(self, world: World, task: ExportTask, render: Callable[[ExportTask], Lines]) -> None:
        """Build the template of ``task``'s RESULT stream in a background thread, before any client
        asks (a big world was loaded: its plain project export is the likely first request).  A task
        wanting another stream stops it, so the guess never delays the real export."""
        key = self._key(world, task, RESULT)
        if key is None:
            return
        stop = threading.Event()
        with self._lock:
            self._guess = (key, stop)
        threading.Thread(target=self._ensure, args=(key, task, render, stop), daemon=True,
                         name="lbmock-template-ahead").start()

    def _stop_guess_unless(self, key: str | None) -> None:
        with self._lock:
            guess = self._guess
            if guess is not None and guess[0] != key:
                guess[1].set()
                self._guess = None

    def _ensure(self, key: str, task: ExportTask, render: Callable[[ExportTask], Lines],
                stop: threading.Event | None = None) -> Path:
        path = self._directory() / f"template-{key}.ndjson"
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one build per template: concurrent tasks wait for it
            if not path.exists():
                self._build(path, render(dataclasses.replace(task, urls=TEMPLATE_URLS)), stop)
        return path

    def _key(self, world: World, task: ExportTask, stream: str) -> str | None:
        if stream != RESULT or task.may_fail_rows() or task.urls.sign is None:
            return None
        digest = self._world_digest(world)
        if digest is None:
            return None
        spec = task.spec()
        what = {"world": digest, "params": spec["params"], "filters": spec["filters"], "scope": spec["scope"]}
        return hashlib.blake2b(orjson.dumps(what, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()

    def _world_digest(self, world: World) -> str | None:
        cached = self._world
        if cached is not None and cached[0] is world:
            return cached[1]
        try:
            blob = pickle.dumps(world, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):  # a world we cannot name: no reuse
            return None
        digest = hashlib.blake2b(blob, digest_size=16).hexdigest()
        self._world = (world, digest)
        return digest

    def _build(self, path: Path, lines: Lines, stop: threading.Event | None = None) -> None:
        self._prune()
        private = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(private, "wb") as out:
                for item in lines:
                    if stop is not None and stop.is_set():  # a guess no task wanted: leave no template
                        if isinstance(item, RenderedPart):
                            os.unlink(item.path)
                        getattr(lines, "close", lambda: None)()  # helpers' parts still under way are deleted
                        return
                    if isinstance(item, RenderedPart):
                        with open(item.path, "rb") as part:
                            while chunk := part.read(4 * 1024 * 1024):
                                out.write(chunk)
                        os.unlink(item.path)
                    else:
                        out.write(item)
            os.replace(private, path)
        finally:
            private.unlink(missing_ok=True)

    def _prune(self) -> None:
        def used(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:
                return 0.0

        entries = sorted(self._directory().glob("template-*.ndjson"), key=used)
        for old in entries[:max(0, len(entries) - TEMPLATE_FILES + 1)]:
            old.unlink(missing_ok=True)


def _fill(template: BinaryIO, urls: Urls) -> Iterator[bytes]:
    """The template's lines with the task's bases and row_data signatures in place."""
    api, storage = _json_text(urls.api_base), _json_text(urls.storage_base)
    sign = urls.sign
    assert sign is not None
    with template:
        for line in template:
            line = line.replace(_API, api)
            at = line.find(_STORAGE)
            if at < 0:
                yield line
                continue
            start = at + len(_STORAGE)
            end = line.index(_SIGNED, start)
            quoted = line[start:end]
            # the signature covers the unquoted path the storage route sees
            signed_path = STORAGE_PREFIX + unquote(quoted.decode())  # quote() wrote plain ASCII
            query = sign(signed_path)[len(signed_path):]
            yield b"".join((line[:at], storage, quoted, _json_text(query), line[end + len(_SIGNED):]))
