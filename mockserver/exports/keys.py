"""What every cache on disk is keyed by, beside what it holds: the world and lbmock's code.

A spooled stream, a template and a kept DICOM volume are bytes some code drew from some world.
Caches outlive the process that wrote them (the spool sits beside the state file, templates in a
directory shared across runs) and one folder may serve several worlds, in turn or side by side.
So each key holds :func:`world_digest` (the whole world: seed, rows, projects, variants, options,
``--dicom-dir``...) and :func:`code_fingerprint`: no cache ever hands out another world's bytes,
or bytes older code wrote.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pickle
import sys
import threading
import weakref
from pathlib import Path

import orjson

from lbmock.world import World

__all__ = ["code_fingerprint", "world_digest", "world_key"]


@functools.cache
def code_fingerprint() -> str:
    """A digest of everything that decides cached bytes: lbmock's own modules and data files,
    the Python version, and the libraries that draw (Hypothesis) and encode (orjson)."""
    import hypothesis

    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{sys.version}|{hypothesis.__version__}|{orjson.__version__}".encode())
    # One package; its subpackages are real folders in a wheel and links in a source checkout, so
    # walk through links (Path.rglob's following of them differs between Python versions).
    spec = importlib.util.find_spec("lbmock")
    for root in (spec.submodule_search_locations or []) if spec else []:
        found = []
        for folder, dirs, names in os.walk(root, followlinks=True):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", "fixtures")]
            found += [Path(folder, name) for name in names if Path(name).suffix in (".py", ".json", ".graphql")]
        for path in sorted(found, key=lambda p: Path(p).relative_to(root).as_posix()):
            digest.update(f"lbmock/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


_DIGESTS: dict[int, tuple[weakref.ref, str | None]] = {}  # by id(world), while the world lives
_DIGESTS_LOCK = threading.Lock()


def world_digest(world: World) -> str | None:
    """A digest of the whole world (its pickled form: every option that decides a byte), or None
    for a world that cannot be pickled (nothing of it is cached).  Remembered per world object:
    pickling costs ~0.2 ms."""
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(id(world))
        if known is not None and known[0]() is world:
            return known[1]
    try:
        digest: str | None = hashlib.blake2b(pickle.dumps(world, protocol=pickle.HIGHEST_PROTOCOL),
                                             digest_size=16).hexdigest()
    except (pickle.PicklingError, TypeError, AttributeError):  # a world we cannot name: no reuse
        digest = None
    key = id(world)
    with _DIGESTS_LOCK:
        _DIGESTS[key] = (weakref.ref(world, lambda _ref: _forget(key)), digest)
    return digest


def _forget(key: int) -> None:
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(key)
        if known is not None and known[0]() is None:
            del _DIGESTS[key]


def world_key(world: World) -> str | None:
    """The part of a cache file's name that names the world and the code (None: do not cache)."""
    digest = world_digest(world)
    return None if digest is None else _key_of(digest)


@functools.lru_cache(maxsize=64)  # every download asks (a few times), for the same few worlds
def _key_of(digest: str) -> str:
    return hashlib.blake2b(f"{digest}|{code_fingerprint()}".encode(), digest_size=12).hexdigest()
