"""The SDK's whole export walk against its ceiling (issue 28.3), used by ``benchmarks/run.py``.

labelbox 7.17.0 reads a completed export as ``get_buffered_stream()``: the task query, the
stream's header query, then for each file the ``exportFileFromOffset`` query on the client's
keep-alive session and ``requests.get(file)`` on a new connection, one after the other.  One walk
through lbmock is recorded (every GraphQL body and answer, every file), and
``benchmarks/ceiling.py --recorded`` answers the same requests with those bytes (files with
sendfile).  Both sides are then walked by the same SDK code in this process, alternating.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import requests

CEILING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ceiling.py")


def sdk_walk(client_kwargs: dict, task_id: str, rows: bool = False) -> tuple[float, int]:
    """(seconds, bytes) of one walk: a fresh ``labelbox.Client``, ``ExportTask.get_task``,
    ``get_buffered_stream()`` and its file retriever to the last file (the SDK's query, file, next
    query ...); with ``rows``, ``start()`` to the last row instead (the SDK's buffering to disk and
    ``json.loads`` of each row included)."""
    import labelbox as lb

    client = lb.Client(**client_kwargs)
    t0 = time.perf_counter()
    stream = lb.ExportTask.get_task(client, task_id).get_buffered_stream()
    size = 0
    if rows:
        count = [0]
        stream.start(stream_handler=lambda _out: count.__setitem__(0, count[0] + 1))
        size = count[0]
    else:
        retriever = stream._reader._retrieval_strategy  # the SDK's own walk, without its per-row json.loads
        while (chunk := retriever.get_next_chunk()) is not None:
            size += len(chunk[1])
    return time.perf_counter() - t0, size


@contextlib.contextmanager
def _recording() -> Iterator[list[tuple[requests.PreparedRequest, bytes]]]:
    """Every request ``requests`` sends in this process, with its response's body."""
    seen: list[tuple[requests.PreparedRequest, bytes]] = []
    send = requests.adapters.HTTPAdapter.send

    def recorded(self, request, *args, **kwargs):
        response = send(self, request, *args, **kwargs)
        seen.append((request, response.content))
        return response

    requests.adapters.HTTPAdapter.send = recorded
    try:
        yield seen
    finally:
        requests.adapters.HTTPAdapter.send = send


def record_walk(client_kwargs: dict, task_id: str, base: str, folder: str) -> str:
    """Walk once through lbmock at ``base`` and write what ``ceiling.py --recorded`` answers: the
    manifest's path."""
    os.makedirs(folder, exist_ok=True)
    with _recording() as seen:
        sdk_walk(client_kwargs, task_id)
    posts, files = [], []
    for i, (request, content) in enumerate(seen):
        answer = os.path.join(folder, f"answer-{i}")
        with open(answer, "wb") as out:
            out.write(content)
        if request.method == "POST":
            body = request.body.encode() if isinstance(request.body, str) else request.body
            with open(os.path.join(folder, f"body-{i}"), "wb") as out:
                out.write(body)
            posts.append((out.name, answer))
        else:
            files.append((urlsplit(request.url).path, answer))
    manifest = os.path.join(folder, "walk.json")
    with open(manifest, "w") as out:
        json.dump({"base": base, "posts": posts, "files": files}, out)
    return manifest


@contextlib.contextmanager
def recorded_ceiling(manifest: str) -> Iterator[str]:
    """``benchmarks/ceiling.py --recorded manifest`` in its own process: its base URL."""
    process = subprocess.Popen([sys.executable, CEILING, "--recorded", manifest], stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline().split()[1])
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


def alternate(runs: int, sides: list[Callable[[], float]]) -> list[list[float]]:
    """Each side's times over ``runs`` rounds, the sides taking turns within each round."""
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(runs):
        for side, into in zip(sides, times, strict=True):
            into.append(side())
    return times
