"""Export rows rendered once per world and export, reused by every task asking the same again.

Test suites export the same world many times, with the same params and filters.  What differs
between two such tasks is in two URLs of each row: the server's base (``mask`` URLs, the
``row_data`` host) and the signature of ``row_data`` (it expires relative to the task's
creation).  So a task's RESULT stream is rendered once as a *template*, with placeholders there,
into a file; every task with the same key fills the placeholders in line by line (~10 µs a row,
against ~150 µs to draw and render it), giving exactly the bytes rendering would.  The key covers
the world (its pickled form: seed, projects, rows), the params, the filters and the scope; tasks
whose rows can fail (faults) are rendered as before.

A task does not wait for its template to be finished: it fills lines as they land in the file
(the build runs in a thread of its own), so filling overlaps rendering.

Templates live beside the spool (which outlives the server beside a ``--state`` file), or in a
cache directory shared by every server run on the machine (``lbmock serve --template-cache``):
either way the key also covers a fingerprint of lbmock's code and of the libraries drawing and
encoding rows (``keys.py``), so a template is only ever reused by code that would render the same bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import orjson

from lbmock.mockserver.exports.job import RESULT, ExportJob
from lbmock.mockserver.exports.keys import code_fingerprint, world_digest
from lbmock.mockserver.exports.progress import RenderProgress
from lbmock.mockserver.exports.spool import Lines, RenderedPart, append_file, prune_least_recent, remove_orphans
from lbmock.render.common import STORAGE_PREFIX, Urls

SPOOL_TEMPLATES = 8  # templates kept beside a server's own spool (each the size of its stream)
CACHE_TEMPLATES = 64  # templates kept in a shared cache directory ...
CACHE_BYTES = 4 * 1024**3  # ... and their bytes at most (a 100,000-row export is ~210 MB)
PUBLISH_BYTES = 1 << 20  # lines rendered in this process reach waiting tasks at least this often
READ_BYTES = 4 << 20  # a task reads its template in chunks of at most this

# Placeholders: plain JSON-safe text no world string contains, so orjson writes them as they are.
API = "lbmock-template:api-base"
STORAGE = "lbmock-template:storage-base"
SIGNED = "lbmock-template:signed"
_API, _STORAGE, _SIGNED = API.encode(), STORAGE.encode(), b"?" + SIGNED.encode()

Render = Callable[[ExportJob, RenderProgress], Lines]  # a job's rows drawn and rendered, counted in the progress


def _sign_placeholder(path: str) -> str:  # a module function: helper processes unpickle it
    return f"{path}?{SIGNED}"


TEMPLATE_URLS = Urls(api_base=API, storage_base=STORAGE, sign=_sign_placeholder)


def _json_text(value: str) -> bytes:
    """``value`` as it appears inside a JSON string written by orjson."""
    return orjson.dumps(value)[1:-1]


def default_cache_dir() -> Path:
    """Where ``lbmock serve`` keeps templates across runs: ``$LBMOCK_CACHE_DIR/templates``, else
    ``$XDG_CACHE_HOME/lbmock/templates`` (``~/.cache/lbmock/templates``)."""
    base = os.environ.get("LBMOCK_CACHE_DIR")
    if base:
        return Path(base) / "templates"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lbmock" / "templates"


class _Build:
    """A template being written by a thread of this process.  Tasks read its whole lines as they
    land (``size`` only ever covers whole lines), then the finished file."""

    def __init__(self, path: Path, private: Path) -> None:
        self.path, self.private = path, private
        self.changed = threading.Condition()
        self.size = 0  # bytes of whole lines in the file so far
        self.finished = False
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None  # the thread writing it
        self.progress = RenderProgress()  # of its render: every task reading the build shows it

    def grew(self, size: int) -> None:
        with self.changed:
            self.size = size
            self.changed.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        """Done: publish the file under its name (under the lock, so a reader opening it finds it
        under one name or the other), or record why not."""
        with self.changed:
            if error is None:
                os.replace(self.private, self.path)
                self.finished = True
            else:
                self.error = error
            self.changed.notify_all()

    def open_lines(self) -> Iterator[bytes]:
        """The template's lines, from a file opened now (under one name or the other)."""
        with self.changed:
            if self.error is not None:
                raise RuntimeError("the export template could not be rendered") from self.error
            handle = open(self.path if self.finished else self.private, "rb")  # noqa: SIM115 - _follow closes it
        return self._follow(handle)

    def _follow(self, handle: BinaryIO) -> Iterator[bytes]:
        with handle:
            done = 0
            rest = b""
            while True:
                with self.changed:
                    while self.size == done and not self.finished and self.error is None:
                        self.changed.wait()
                    size, error = self.size, self.error
                if error is not None:
                    raise RuntimeError("the export template could not be rendered") from error
                if size == done:  # finished, and every line read
                    return
                chunk = handle.read(min(size - done, READ_BYTES))
                if not chunk:  # never while the builder only appends; fail rather than spin
                    raise RuntimeError("the export template shrank while it was read")
                done += len(chunk)
                # lines with their newline (orjson escapes \r in strings: no line holds another break)
                lines = (rest + chunk).splitlines(keepends=True)
                rest = lines.pop() if not lines[-1].endswith(b"\n") else b""  # cut by the read size
                yield from lines


def _finished_lines(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        yield from handle


class ExportTemplates:
    """Templates of RESULT streams in ``directory`` (a callable: the spool creates it lazily), or in
    ``cache_dir`` when given (shared across server runs: see the module's docstring)."""

    def __init__(self, directory: Callable[[], Path], cache_dir: str | os.PathLike | None = None) -> None:
        self._cache = Path(cache_dir) if cache_dir is not None else None
        self._spool_directory = directory
        self._directory = directory if self._cache is None else self._cache_directory
        self._lock = threading.Lock()
        self._builds: dict[str, _Build] = {}  # templates being written by this process
        self._guess: tuple[str, threading.Event] | None = None  # a build ahead of any task, and its stop

    def lines(self, job: ExportJob, render: Render) -> tuple[Lines, RenderProgress | None]:
        """The job's lines: from its template (built first, with ``render``, if need be) when the job
        can use one, else ``render(job)``.  ``job.urls`` carries the server's bases and signer.  With
        them, the progress of the render they wait for (None: a finished template, nothing renders)."""
        key = self._key(job)
        if job.stream == RESULT:
            self._adopt_or_stop_guess(key)
        if key is None:
            progress = RenderProgress()
            return render(job, progress), progress
        template, progress = self._template(key, job, render)
        return _fill(template, job.urls), progress

    def progress(self, job: ExportJob) -> RenderProgress | None:
        """The progress of the template build the job's lines would come from, if one is under way
        in this process (a build ahead runs before any task asks for its stream)."""
        key = self._key(job)
        if key is None:
            return None
        with self._lock:
            build = self._builds.get(key)
        return None if build is None else build.progress

    def build_ahead(self, job: ExportJob, render: Render) -> None:
        """Build the template of a RESULT ``job`` in a background thread, before any client asks (a
        big world was loaded: its plain project export is the likely first request).  A job wanting
        another stream stops it, so the guess never delays the real export; a job wanting this one
        reads it as it is built."""
        key = self._key(job)
        if key is None:
            return
        with self._lock:
            if key in self._builds or self._path(key).exists():
                return
            if self._guess is not None:  # an earlier world's guess: nobody will want it now
                self._guess[1].set()
            stop = threading.Event()
            self._guess = (key, stop)
            self._start(key, job, render, stop)

    def close(self, wait: float = 10.0) -> None:
        """Stop a build ahead that no task asked for (builds tasks read finish on their own), and wait
        up to ``wait`` seconds for its thread: stopped, it starts no render helpers after this returns."""
        stopped = None
        with self._lock:
            guess, self._guess = self._guess, None
            if guess is not None:
                guess[1].set()
                stopped = self._builds.pop(guess[0], None)  # a task asking later builds afresh
        if stopped is not None and stopped.thread is not None and stopped.thread is not threading.current_thread():
            stopped.thread.join(wait)

    def _adopt_or_stop_guess(self, key: str | None) -> None:
        with self._lock:
            guess = self._guess
            if guess is not None:
                if guess[0] != key:
                    guess[1].set()
                self._guess = None  # a task wants it: no longer a guess, never stopped

    def _template(self, key: str, job: ExportJob, render: Render) -> tuple[Iterator[bytes], RenderProgress | None]:
        """The template's lines: the finished file, or the lines of a build as they land (and its progress)."""
        with self._lock:
            build = self._builds.get(key)
            if build is None:
                path = self._path(key)
                try:
                    handle = open(path, "rb")  # noqa: SIM115 - _finished_lines closes it
                except FileNotFoundError:
                    build = self._start(key, job, render)
                else:
                    with contextlib.suppress(OSError):  # (a cache another user owns: read, not touched)
                        os.utime(handle.fileno())  # recently used: pruned last
                    return _finished_lines(handle), None
            return build.open_lines(), build.progress

    def _start(self, key: str, job: ExportJob, render: Render,
               stop: threading.Event | None = None) -> _Build:
        """Start building ``key`` in a thread of its own (the caller holds ``self._lock``)."""
        path = self._path(key)
        # <name>.<pid>.<unique>.tmp: what the spool's clean-up recognises when its writer was killed
        # (unique: a build stopped by close() may still be writing when the key is built again)
        build = _Build(path, path.with_suffix(f".{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"))
        out = open(build.private, "wb")  # noqa: SIM115 - _build closes it; created now: tasks may open it at once
        self._builds[key] = build
        build.thread = threading.Thread(target=self._build, args=(key, build, out,
                                                                  dataclasses.replace(job, urls=TEMPLATE_URLS),
                                                                  render, stop), daemon=True, name="lbmock-template")
        build.thread.start()
        return build

    def _build(self, key: str, build: _Build, out: BinaryIO, job: ExportJob,
               render: Render, stop: threading.Event | None) -> None:
        error: BaseException | None = None
        lines: Lines = ()
        try:
            with out:
                self._prune()
                lines = render(job, build.progress)
                published = 0
                for item in lines:
                    if stop is not None and stop.is_set():  # a guess no task wanted: leave no template
                        if isinstance(item, RenderedPart):
                            os.unlink(item.path)
                        raise _Stopped
                    if isinstance(item, RenderedPart):
                        append_file(out, item.path)  # flushed and copied in the kernel
                    else:
                        out.write(item)
                        if out.tell() - published < PUBLISH_BYTES:
                            continue
                        out.flush()
                    published = out.tell()
                    build.grew(published)
                out.flush()
                build.grew(out.tell())
        except BaseException as exc:  # every waiting task is told, whatever it was
            error = exc
            getattr(lines, "close", lambda: None)()  # helpers' parts still under way are deleted
        finally:
            # ended and forgotten under one lock: a reader told of a failure who asks again at once
            # starts a new build instead of meeting the failed one (lock order: ours, then the build's);
            # readers open the file under it too, so a failed build's file goes only once they are told
            with self._lock:
                try:
                    build.end(error)
                except OSError as exc:  # the file could not be published: its readers are told
                    build.end(exc)
                if self._builds.get(key) is build:  # (close() may have dropped it for a new one)
                    del self._builds[key]
                if build.error is not None:
                    build.private.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self._directory() / f"template-{key}.ndjson"

    def _cache_directory(self) -> Path:
        cache = self._cache
        assert cache is not None
        try:
            cache.mkdir(mode=0o700, parents=True, exist_ok=True)
            if os.access(cache, os.W_OK | os.X_OK):
                return cache
            problem = "not writable"
        except OSError as exc:
            problem = exc.strerror or str(exc)
        # an unusable cache costs speed, never an export: keep templates with the server
        print(f"lbmock: template cache {cache}: {problem}; export templates are kept with this server only",
              file=sys.stderr)
        self._directory = self._spool_directory
        return self._spool_directory()

    def _key(self, job: ExportJob) -> str | None:
        if job.stream != RESULT or job.may_fail_rows() or job.urls.sign is None:
            return None
        digest = world_digest(job.world)
        if digest is None:
            return None
        what = {"world": digest, **job.template_key(),  # (lag_rows in it: fault index-lag leaves rows out)
                "code": code_fingerprint()}  # (beside the spool too: it outlives a restart on --state)
        return hashlib.blake2b(orjson.dumps(what, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()

    def _prune(self) -> None:
        """Keep the templates bounded, with room for the one being built: the least recently used go
        first.  A task reading one that is deleted meanwhile keeps its open file."""
        directory = self._directory()
        if self._cache is not None:
            remove_orphans(directory)  # (the spool cleans its own directory)
            prune_least_recent(directory.glob("template-*.ndjson"), max_files=CACHE_TEMPLATES - 1,
                               max_bytes=CACHE_BYTES)
        else:
            prune_least_recent(directory.glob("template-*.ndjson"), max_files=SPOOL_TEMPLATES - 1)


class _Stopped(Exception):
    """A build ahead that no task wanted was stopped."""


def _fill(template: Iterator[bytes], urls: Urls) -> Iterator[bytes]:
    """The template's lines with the task's bases and row_data signatures in place."""
    api, storage = _json_text(urls.api_base), _json_text(urls.storage_base)
    sign = urls.sign
    assert sign is not None
    for line in template:
        line = line.replace(_API, api)
        at = line.find(_STORAGE)
        if at < 0:
            yield line
            continue
        start = at + len(_STORAGE)
        end = line.index(_SIGNED, start)
        quoted = line[start:end]
        # the signature covers the unquoted path the storage route sees (quote() wrote plain ASCII)
        path = quoted.decode()
        signed_path = STORAGE_PREFIX + (unquote(path) if "%" in path else path)
        query = sign(signed_path)[len(signed_path):]
        yield b"".join((line[:at], storage, quoted, _json_text(query), line[end + len(_SIGNED):]))
