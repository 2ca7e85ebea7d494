"""One lock per key, for as long as anyone holds or waits for it: one render of an export stream, one
decode of a user's file, while work on other keys goes on."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager


class KeyedLocks:
    """Locks made on demand per key and dropped when their last user leaves (the table stays small).

    ``_lock`` guards the table only (a leaf: never held while waiting for a key's lock)."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[threading.Lock, int]] = {}  # per key: its lock, its users
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, key: Hashable) -> Iterator[None]:
        """Hold ``key``'s lock (waiting for whoever holds it) for the ``with`` block."""
        with self._lock:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
