"""A render paused mid-way, for tests that look at it meanwhile (its progress, the pages showing it)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lbmock.mockserver.exports.progress import RenderProgress


@contextmanager
def paused_at(monkeypatch, rows_done: int) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Renders stop right after counting ``rows_done`` rows, until the second event is set; the
    first is set when one got there."""
    reached, release = threading.Event(), threading.Event()
    advance = RenderProgress.advance

    def pausing(self, done):
        advance(self, done)
        if done == rows_done:
            reached.set()
            assert release.wait(60), "the test never let the render go on"

    monkeypatch.setattr(RenderProgress, "advance", pausing)
    try:
        yield reached, release
    finally:
        release.set()


def in_thread(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
