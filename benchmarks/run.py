"""lbmock benchmarks: every figure measured in one run, printed as a table.

    python benchmarks/run.py            # full sizes (about 20 minutes)
    python benchmarks/run.py --quick    # the issue's sizes, fewer rounds where a figure is not a whole walk
    python benchmarks/run.py --smoke    # tiny sizes, seconds: checks the script still works

Each server runs in its own process, on loopback, started by this script.
Figures, not assertions: the README's table is this script's output.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from lbmock.contract_tests.wire import PARAM_FLAGS, HttpTransport, ServedProcess, WireClient, start_serve

CEILING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ceiling.py")
FULL = {"runs": 7, "volume_runs": 15, "gen_rows": 5000, "serve_rows": 3000, "e2e_rows": 10_000,
        "memory_rows": (1000, 10_000, 100_000), "load_seconds": 5.0, "load_clients": 8,
        "dicom_volume": (512, 512, 400), "dicom_runs": 3, "cold_rows": 100_000, "cold_runs": 5,
        "dashboard_rows": 100_000, "dashboard_runs": 3, "validate_rows": 5000, "walk_rows": 10_000,
        "replay_rows": 100_000, "user_dicom_volume": (512, 512, 400), "walk_runs": 7}
# --quick: every figure at the sizes, fewer rounds (about a third of the time)
QUICK = {**FULL, "runs": 3, "volume_runs": 7, "memory_rows": (10_000, 100_000), "load_seconds": 2.0,
         "dicom_runs": 2, "cold_runs": 5, "dashboard_runs": 2, "gen_rows": 3000}
SMOKE = {"runs": 2, "volume_runs": 2, "gen_rows": 200, "serve_rows": 150, "e2e_rows": 200, "memory_rows": (100, 300),
         "load_seconds": 0.5, "load_clients": 2, "dicom_volume": (64, 64, None), "dicom_runs": 2,
         "cold_rows": 200, "cold_runs": 1, "dashboard_rows": 300, "dashboard_runs": 2, "validate_rows": 100,
         "walk_rows": 300, "replay_rows": 300, "user_dicom_volume": (64, 64, None), "walk_runs": 2}
ALL_PARAMS = dict.fromkeys(PARAM_FLAGS, True)
SEED = 2


@dataclass
class Figure:
    name: str
    value: str
    goal: str = ""
    load: str = ""  # the 1-minute load average before and after the measure (set by main)


@contextmanager
def server(rows: int, *extra: str, world: tuple[str, ...] | None = None) -> Iterator[ServedProcess]:
    """``lbmock serve`` in its own process (``.base_url``, ``.project_id``, ``.pid``, ``.started``):
    the seed's world of ``rows`` rows, or the one ``world`` names (e.g. ``("--replay", FILE)``)."""
    with start_serve(*(world or ("--seed", str(SEED), "--rows", str(rows))), *extra, ready=False) as served:
        yield served


def wire(served: ServedProcess, session: requests.Session) -> WireClient:
    return WireClient(HttpTransport(served.base_url, session, timeout=600), "bench", served.project_id)


def export_and_download(client: WireClient) -> tuple[int, float, float, float]:
    """(bytes, seconds to plan, seconds for the SDK's whole walk, seconds of the file GETs alone)
    of an all-params export."""
    task = client.create_export(ALL_PARAMS)
    t0 = time.perf_counter()
    walked = client.stream(task)  # header (renders the export once), then offset queries and file GETs
    whole = time.perf_counter() - t0
    getting = sum(f.seconds for f in walked.files)
    size = sum(len(f.content) for f in walked.files)  # (not walked.data: a second copy of every byte)
    return size, walked.header_seconds, whole - walked.header_seconds, getting


def bench_generation(rows: int) -> Figure:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lbmock.cli", "generate", "--format", "v2", "--rows", str(rows),
                    "--seed", str(SEED), "--quiet"], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    return Figure(f"generation: `lbmock generate --format v2`, {rows:,} rows, whole process",
                  f"{rows / elapsed:,.0f} rows/s ({elapsed:.2f} s)", ">= 2,000 rows/s")


@contextmanager
def ceiling(paths: list[str]) -> Iterator[tuple[str, int]]:
    """The transport ceiling (``benchmarks/ceiling.py``) serving ``paths`` as ``/0``, ``/1`` ...:
    (its base URL, its pid)."""
    process = subprocess.Popen([sys.executable, CEILING, *paths], stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline().split()[1])
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.kill()
        process.wait()


def best_pair(runs: int, ours, reference) -> tuple[float, float]:
    """Best seconds of ``ours()`` and ``reference()`` over ``runs`` turns, alternating, so that
    load from anything else on the machine falls on both sides alike."""
    mine, theirs = [], []
    for _ in range(runs):
        mine.append(ours())
        theirs.append(reference())
    return min(mine), min(theirs)


def fetch_sdk_style(url: str) -> float:
    """Seconds to fetch ``url`` as labelbox 7.17.0's export stream fetches a file:
    ``requests.get(url, timeout=30).content`` (a new session and connection each time)."""
    t0 = time.perf_counter()
    requests.get(url, timeout=30).content  # noqa: B018 - reading the body is the point
    return time.perf_counter() - t0


def fetcher_keep_alive(session: requests.Session):
    """The same through one keep-alive ``requests.Session``."""

    def fetch(url: str) -> float:
        t0 = time.perf_counter()
        session.get(url, timeout=30).content  # noqa: B018
        return time.perf_counter() - t0

    return fetch


def best_walks(runs: int, ours: list[str], reference: list[str], fetch, fetch_reference=None) -> tuple[float, float]:
    """Seconds to fetch every file, from us and from the reference: file by file, alternating
    sides, ``runs`` rounds; each side's figure is the sum over files of its best time for that
    file, so a burst of other work on the machine is filtered out of both sides alike."""
    fetch_reference = fetch_reference or fetch
    mine, theirs = [float("inf")] * len(ours), [float("inf")] * len(ours)
    for _ in range(runs):
        for i, (url, other) in enumerate(zip(ours, reference, strict=True)):
            mine[i] = min(mine[i], fetch(url))
            theirs[i] = min(theirs[i], fetch_reference(other))
    return sum(mine), sum(theirs)


def ratio(name: str, size: int, ours: float, reference: float, goal: str = ">= 0.8",
          our_size: int | None = None) -> Figure:
    """A figure beside its reference: both rates and their ratio (``our_size``: bytes we sent, if
    not the reference's ``size``)."""
    mine, theirs = (our_size or size) / ours, size / reference
    return Figure(name, f"{mine / 1e6:,.0f} MB/s vs ceiling {theirs / 1e6:,.0f} MB/s: **{mine / theirs:.2f}**", goal)


def bench_serving(rows: int, runs: int, tmp: str) -> list[Figure]:
    """Every file of a completed all-params export, from ``lbmock serve`` and from the sendfile
    ceiling serving the same bytes, read by the same client, best of ``runs`` each, alternating."""
    with server(rows) as served, requests.Session() as session:
        client = wire(served, session)
        task = client.create_export(ALL_PARAMS)
        t0 = time.perf_counter()
        stream = client.stream(task)  # header (renders the export once), then offset queries and file GETs
        planned, walked = stream.header_seconds, time.perf_counter() - t0 - stream.header_seconds
        files, size = stream.files, len(stream.data)
        paths = []
        for i, f in enumerate(files):
            paths.append(os.path.join(tmp, f"export-{i}"))
            with open(paths[-1], "wb") as out:
                out.write(f.content)
        urls = [f.url for f in files]
        with ceiling(paths) as (base, _pid):
            served_urls = [f"{base}/{i}" for i in range(len(paths))]
            sdk = best_walks(runs, urls, served_urls, fetch_sdk_style)
            # (the ceiling serves one connection at a time: its session closes before the next walk)
            with requests.Session() as mine, requests.Session() as theirs:
                alive = best_walks(runs, urls, served_urls, fetcher_keep_alive(mine), fetcher_keep_alive(theirs))
            # the same files from gunicorn workers (a task is the same bytes on any server of the seed)
            with server(rows, "--workers", "2") as workers, requests.Session() as other:
                on_workers = wire(workers, other).stream(wire(workers, other).create_export(ALL_PARAMS)).files
                assert len(on_workers) == len(files), "the workers cut the export into other files"
                gunicorn = best_walks(runs, [f.url for f in on_workers], served_urls, fetch_sdk_style)
                gunicorn_size = sum(len(f.content) for f in on_workers)  # links name another port
    what = f"{rows:,}-row export, {len(files)} files of ~{size / len(files) / 1e3:,.0f} kB ({size / 1e6:.1f} MB)"
    how = f"file by file alternating with the ceiling, each file's best of {runs}, summed"
    return [ratio(f"serving: every file of a completed {what}, `requests.get(url).content` per file as "
                  f"the SDK does; vs the same files from benchmarks/ceiling.py; {how}", size, *sdk),
            ratio(f"serving: the same files over one keep-alive `requests.Session` per side; {how}",
                  size, *alive),
            ratio(f"serving: the SDK's `requests.get` walk from `lbmock serve --workers 2` (gunicorn workers "
                  f"running lbmock's server, state in a shared SQLite file); {how}",
                  size, *gunicorn, our_size=gunicorn_size),
            Figure("serving: the SDK's whole walk (exportFileFromOffset query, then the file), keep-alive",
                   f"{size / walked / 1e6:,.0f} MB/s"),
            Figure(f"serving: rendering the export once (first header read, {rows:,} rows)",
                   f"{planned:.2f} s ({rows / planned:,.0f} rows/s)")]


def bench_end_to_end(rows: int) -> Figure:
    import labelbox as lb

    with server(rows) as served:
        started = served.started
        client = lb.Client(**served.client_kwargs("bench"))
        task = client.get_project(served.project_id).export(params=ALL_PARAMS)
        task.wait_till_done()
        count = [0]
        task.get_buffered_stream().start(stream_handler=lambda _out: count.__setitem__(0, count[0] + 1))
        elapsed = time.perf_counter() - started
    assert count[0] == rows, f"streamed {count[0]} of {rows} rows"
    return Figure(f"end to end: labelbox 7.17.0 export() + get_buffered_stream(), {rows:,} rows, "
                  "server start to last row", f"{elapsed:.1f} s", "<= 15 s")


def bench_cold_warm(rows: int, runs: int, params: dict | None = None, world: tuple[str, ...] | None = None,
                    what_world: str = "") -> list[Figure]:
    """A cold export against a warm one, through labelbox 7.17.0, in one run (issue 28.4).

    Each of ``runs`` rounds starts a fresh ``lbmock serve`` (default options: render helpers, the
    plain project export rendered ahead from the start) on a new, empty template cache, then:
    cold: ``project.export(params=params)`` (default: ``project.export()``), ``wait_till_done()``
    and ``get_buffered_stream()`` read to the last row, timed from the server's start (spawn) and
    from ``export()``; warm: ``get_buffered_stream()`` of the same completed task read again;
    again: a second ``project.export()`` of the same params (a new task: its rows filled in from
    the first one's template).  Then a second server process on the same template cache (the
    next run of a test suite): its first export, timed the same way.  Each figure: best, and the
    spread (min-max) over the rounds; a ratio is taken within a round, then best and spread.
    Peak RSS: VmHWM of the first server process, and the sum over it and the render helpers it
    started, the largest over the rounds.  ``world``: serve that world instead of the seed's.
    """
    import labelbox as lb

    def export_all(project) -> tuple[object, float]:
        t0 = time.perf_counter()
        task = project.export(params=params)
        task.wait_till_done()
        return task, read_all(task, t0)

    def read_all(task, t0: float) -> float:
        count = [0]
        task.get_buffered_stream().start(stream_handler=lambda _out: count.__setitem__(0, count[0] + 1))
        assert count[0] == rows, f"streamed {count[0]} of {rows} rows"
        return time.perf_counter() - t0

    from_start, cold, warm, again, next_run, next_from_start, peaks, totals = ([] for _ in range(8))
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="lbmock-bench-templates-") as cache:
            with server(rows, "--template-cache", cache, world=world) as served:
                project = lb.Client(**served.client_kwargs("bench")).get_project(served.project_id)
                task, seconds = export_all(project)
                from_start.append(time.perf_counter() - served.started)
                cold.append(seconds)
                warm.append(read_all(task, time.perf_counter()))
                again.append(export_all(project)[1])
                helpers = child_pids(served.pid)
                peaks.append(peak_rss_mb(served.pid))
                totals.append(peaks[-1] + sum(peak_rss_mb(pid) for pid in helpers))
            with server(rows, "--template-cache", cache, world=world) as served:
                project = lb.Client(**served.client_kwargs("bench")).get_project(served.project_id)
                next_run.append(export_all(project)[1])
                next_from_start.append(time.perf_counter() - served.started)
    what = "all params" if params == ALL_PARAMS else f"params {params}" if params else "no params"
    how = (f"labelbox 7.17.0, {rows:,} rows{what_world}, {what}; best (spread over {runs} round(s), each a fresh "
           "server on an empty template cache)")
    cold_ratio = [a / b for a, b in zip(from_start, warm, strict=True)]
    export_ratio = [a / b for a, b in zip(cold, warm, strict=True)]
    prefix = "replay: " if world else ""
    return [Figure(f"{prefix}cold export: server start (spawn) to the last row of export() + wait_till_done() + "
                   f"get_buffered_stream() ({how})", f"{min(from_start):.1f} s ({spread(from_start, ' s')})",
                   "<= 12 s"),
            Figure(f"{prefix}warm: a second get_buffered_stream() of the same task, to the last row",
                   f"{min(warm):.1f} s ({spread(warm, ' s')})"),
            Figure(f"{prefix}cold (server start to last row) / warm, each round", f"**{min(cold_ratio):.2f}** "
                   f"({spread(cold_ratio)})", "<= 1.5"),
            Figure(f"{prefix}cold from export() to last row; / warm, each round",
                   f"{min(cold):.1f} s ({spread(cold, ' s')}); {min(export_ratio):.2f} ({spread(export_ratio)})"),
            Figure(f"{prefix}a second export() of the same params (new task, rows from the first one's template), "
                   "export() to last row; / warm", f"{min(again):.1f} s ({spread(again, ' s')}); "
                   f"{min(a / b for a, b in zip(again, warm, strict=True)):.2f}"),
            Figure(f"{prefix}the next server process on the same template cache (a test suite's next run): its first "
                   "export() to last row; server start to last row; / warm",
                   f"{min(next_run):.1f} s ({spread(next_run, ' s')}); {min(next_from_start):.1f} s; "
                   f"{min(a / b for a, b in zip(next_run, warm, strict=True)):.2f}"),
            Figure(f"{prefix}cold export: server peak RSS (VmHWM); with the {len(helpers)} processes it started "
                   "(render helpers, multiprocessing's resource tracker)", f"{max(peaks):.0f} MB; {max(totals):.0f} MB",
                   "<= 250 MB")]


def spread(values: list[float], unit: str = "") -> str:
    return f"{min(values):.2f}{unit}-{max(values):.2f}{unit}" if len(values) > 1 else "one round"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` so far (from /proc; a process gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, timeout: float = 120.0) -> None:
    """Until the server and its helpers use under 5% of a core over half a second (templates it
    builds ahead, helpers starting): a walk is timed alone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [pid, *child_pids(pid)]
        before = cpu_seconds(pids)
        time.sleep(0.5)
        if cpu_seconds(pids) - before < 0.025:
            return


def bench_sdk_walk(rows: int, runs: int, tmp: str, world: tuple[str, ...] | None = None,
                   what_world: str = "") -> list[Figure]:
    """The SDK's whole export walk against its ceiling (issue 28.3; benchmarks/sdk_walk.py).

    One ``lbmock serve`` on an empty template cache; an all-params ``project.export()`` through
    labelbox 7.17.0, waited for and walked once (recorded: every GraphQL body and answer, every
    file).  ``benchmarks/ceiling.py --recorded`` answers the same requests with those bytes
    (files with sendfile).  Once the server is idle, alternating, ``runs`` rounds of: a walk of
    lbmock, a walk of the ceiling, each with a fresh ``labelbox.Client``: ``ExportTask.get_task``,
    ``get_buffered_stream()`` and the SDK's file retriever to its last file (query, file, next
    query ...).  Then the same to the last row (``start()``: the SDK's buffering and per-row
    ``json.loads`` too).  Best of each side, and the spread.
    """
    import labelbox as lb
    from sdk_walk import alternate, record_walk, recorded_ceiling, sdk_walk  # beside this script

    with tempfile.TemporaryDirectory(prefix="lbmock-bench-templates-") as cache, \
            server(rows, "--template-cache", cache, world=world) as served:
        kwargs = served.client_kwargs("bench")
        task = lb.Client(**kwargs).get_project(served.project_id).export(params=ALL_PARAMS)
        task.wait_till_done()
        manifest = record_walk(kwargs, task.uid, served.base_url, os.path.join(tmp, "walk"))
        size = sdk_walk(kwargs, task.uid)[1]
        wait_idle(served.pid)
        with recorded_ceiling(manifest) as base:
            theirs_kwargs = {**kwargs, "endpoint": f"{base}/graphql", "rest_endpoint": f"{base}/api/v1"}
            mine, theirs = alternate(runs, [lambda: sdk_walk(kwargs, task.uid)[0],
                                            lambda: sdk_walk(theirs_kwargs, task.uid)[0]])
            mine_rows, theirs_rows = alternate(runs, [lambda: sdk_walk(kwargs, task.uid, rows=True)[0],
                                                      lambda: sdk_walk(theirs_kwargs, task.uid, rows=True)[0]])
    with open(manifest) as f:
        files = len(json.load(f)["files"])
    prefix = "replay: " if world else ""
    what = (f"{rows:,}-row all-params export{what_world} ({size / 1e6:.0f} MB, {files} files), labelbox 7.17.0, "
            f"a fresh Client each walk, alternating with benchmarks/ceiling.py answering the same requests with "
            f"recorded bytes (files by sendfile), best of {runs}")
    return [Figure(f"{prefix}the SDK's whole walk: get_task, header, then exportFileFromOffset query and file GET "
                   f"after another to the last file; {what}",
                   f"{min(mine):.2f} s vs {min(theirs):.2f} s ({size / min(mine) / 1e6:,.0f} vs "
                   f"{size / min(theirs) / 1e6:,.0f} MB/s): **{min(theirs) / min(mine):.2f}** (lbmock "
                   f"{spread(mine, ' s')}, ceiling {spread(theirs, ' s')})", ">= 0.8"),
            Figure(f"{prefix}the same walk to the last row (get_buffered_stream().start(): the SDK's buffering and "
                   f"json.loads of each row too); the same method",
                   f"{min(mine_rows):.2f} s vs {min(theirs_rows):.2f} s: **{min(theirs_rows) / min(mine_rows):.2f}**")]


def child_pids(pid: int) -> list[int]:
    """Processes ``pid`` started (render helpers), from any of its threads, from /proc."""
    found = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(task) as children:
                found += [int(p) for p in children.read().split()]
        except OSError:
            pass
    return found


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_memory(sizes: tuple[int, ...]) -> Figure:
    parts = []
    for rows in sizes:
        with server(rows) as served, requests.Session() as session:
            export_and_download(wire(served, session))
            parts.append(f"{rows:,}: {peak_rss_mb(served.pid):.0f} MB")
    return Figure("memory: server peak RSS after a full export", "; ".join(parts), "flat, <= 250 MB")


def _load(served: ServedProcess, step, seconds: float, clients: int) -> float:
    """Requests per second of ``clients`` threads, each a keep-alive wire client calling ``step(client, n)``."""
    done = [0] * clients
    stop = time.perf_counter() + seconds

    def run(i: int) -> None:
        with requests.Session() as session:
            client, n = wire(served, session), 0
            while time.perf_counter() < stop:
                step(client, n)
                n += 1
            done[i] = n

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def _mask(client: WireClient, url: str) -> None:
    reply = client.authed_get(url)
    if reply.status != 200:
        raise RuntimeError(f"mask GET gave HTTP {reply.status}")


def bench_request_rates(seconds: float, clients: int) -> list[Figure]:
    from lbmock.strategies.served_world import seeded_world
    from lbmock.world import MaskShape

    world = seeded_world(SEED, 200)
    masks = [(f.feature_id, kf.frame) for row in world for lb_ in row.labels for f in lb_.features
             for kf in f.keyframes if isinstance(kf.geometry, MaskShape)]
    with server(200) as served, requests.Session() as session:
        task = wire(served, session).create_export()
        mask_rate = _load(served, lambda c, n: _mask(c, f"/masks/feature/{masks[n % len(masks)][0]}/"
                                                       f"{masks[n % len(masks)][1]}"), seconds, clients)
        poll_rate = _load(served, lambda c, n: c.created_tasks(task), seconds, clients)
    how = f"{clients} keep-alive clients (Python threads) for {seconds:g} s"
    return [Figure(f"mask endpoint ({len(masks)} distinct masks), {how}", f"{mask_rate:,.0f} req/s"),
            Figure(f"task poll (GetUserCreatedTasksPyApi), {how}", f"{poll_rate:,.0f} req/s")]


@functools.lru_cache(maxsize=4)  # one scan of the seed's rows serves both DICOM measures
def _row_with_volume(seed: int, rows: int, cols: int, slices: int | None, masks: int = 0, search: int = 60_000):
    """(index, row) of the seed's first row of that volume (``slices=None``: any) whose label has
    at least ``masks`` masks (they are drawn into the phantom, which costs a little)."""
    from lbmock.strategies.served_world import seeded_world

    world = seeded_world(seed, search)
    for i in range(search):
        row = world.row(i)
        v = row.volume
        if (v.rows, v.cols) == (rows, cols) and slices in (None, v.slices) and sum(
                f.tool.kind == "mask" for lb in row.labels[:1] for f in lb.features) >= masks:
            return i, row
    raise RuntimeError(f"seed {seed} has no {rows}x{cols}x{slices} volume in its first {search} rows")


def _download(session: requests.Session, url: str, into: str | None = None) -> tuple[float, float, int]:
    """(seconds to the first body byte, seconds to the last, bytes) of one GET read in 1 MiB raw
    reads (written to ``into`` when given)."""
    t0 = time.perf_counter()
    with session.get(url, stream=True, timeout=600) as resp, \
            (open(into, "wb") if into else contextlib.nullcontext()) as out:
        resp.raise_for_status()
        data = resp.raw.read(1)
        first = time.perf_counter() - t0
        received = 0
        while data:
            received += len(data)
            if out is not None:
                out.write(data)
            data = resp.raw.read(1 << 20)
        return first, time.perf_counter() - t0, received


def bench_dicom(volume: tuple[int, int, int | None], runs: int, tmp: str, kept_runs: int) -> list[Figure]:
    """One row's DICOM file (row_data) through ``requests`` from ``lbmock serve``, fresh.

    The first GET generates the volume (header built with pydicom, frames one at a time) and
    keeps it on disk as it goes: its time to first byte (request sent to first body byte) and
    its rate.  Then, best of ``kept_runs`` each, alternating: later GETs (the kept file) against
    benchmarks/ceiling.py serving a file of the same bytes, read by the same client (1 MiB raw
    reads, one keep-alive session).  Peak RSS: the server process's VmHWM after all of it.
    """
    from lbmock.dicom.part10 import file_size
    from lbmock.mockserver.backend.signing import UrlSigner
    from lbmock.render.common import Urls
    from lbmock.strategies.served_world import seeded_world

    index, row = _row_with_volume(SEED, *volume, masks=4 if volume[2] else 0)
    key = "ab" * 32
    org = seeded_world(SEED, 1).project.organization.id
    size = file_size(row.series)
    v = row.volume
    copy = os.path.join(tmp, "volume.dcm")
    with server(index + 1, "--signing-key", key) as served, requests.Session() as session:
        pid = served.pid
        url = Urls.served_at(served.base_url, sign=UrlSigner(bytes.fromhex(key)).sign).row_data(org, row)
        before = rss_mb(pid)
        first_byte, first_all, received = _download(session, url, into=copy)
        assert received == size, f"received {received} of {size} bytes"
        with ceiling([copy]) as (base, _pid):
            kept, reference = best_pair(kept_runs, lambda: _download(session, url)[1],
                                        lambda: _download(session, f"{base}/0")[1])
        peak = peak_rss_mb(pid)
    masks = sum(f.tool.kind == "mask" for f in row.labels[0].features) if row.labels else 0
    what = f"{v.cols}x{v.rows}x{v.slices} ({size / 1e6:.0f} MB, Enhanced {row.series.modality}, {masks} masks)"
    return [Figure(f"DICOM row_data: one {what}, first GET of a fresh server (volume generated, kept on disk "
                   "as it goes): time to first byte; rate", f"{first_byte * 1000:.0f} ms; "
                   f"{size / first_all / 1e6:,.0f} MB/s ({first_all:.2f} s)", "first byte <= 1 s"),
            ratio(f"DICOM row_data: the same file once generated, 1 MiB raw reads, keep-alive; vs a file of the "
                  f"same bytes from benchmarks/ceiling.py; alternating, best of {kept_runs} each",
                  size, kept, reference),
            Figure("DICOM row_data: server peak RSS (VmHWM) after those GETs; RSS before them",
                   f"{peak:.0f} MB; {before:.0f} MB", "<= 250 MB")]


_ORACLE_RUN = """
import sys, time
from lbmock.cli import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(time.perf_counter() - t0, peak, code)
"""


def bench_oracle(volume: tuple[int, int, int | None], runs: int, tmp: str) -> list[Figure]:
    """``lbmock oracle`` for the same row as :func:`bench_dicom`, each run in a fresh process.

    Time: ``main([...])`` from call to return (the world drawn, the label map streamed into the
    .nii.gz, the sidecar), best of ``runs``; peak RSS: the process's VmHWM, imports included (not
    ru_maxrss, which a child inherits from this big parent across fork).
    """
    from lbmock.labelmap import mask_features

    index, row = _row_with_volume(SEED, *volume, masks=4 if volume[2] else 0)
    out = os.path.join(tmp, "oracle.nii.gz")
    argv = ["oracle", "--seed", str(SEED), "--rows", str(index + 1), "--data-row", row.id, "--out", out]
    times, peaks = [], []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", _ORACLE_RUN, *argv], capture_output=True, text=True, check=True)
        seconds, peak, code = done.stdout.split()
        assert code == "0", done.stderr
        times.append(float(seconds))
        peaks.append(float(peak))
    v = row.volume
    masks = mask_features(row.labels[0]) if row.labels else ()
    planes = ", ".join(sorted({f.plane for f in masks})) or "no plane"
    return [Figure(f"lbmock oracle: the same {v.cols}x{v.rows}x{v.slices} row's label map ({len(masks)} masks: "
                   f"{planes}) streamed to .nii.gz, fresh process, call to return, best of {runs}",
                   f"{min(times):.2f} s ({os.path.getsize(out) / 1e3:,.0f} kB), peak RSS {max(peaks):.0f} MB",
                   "streamed")]


_IN_PROCESS = """
import sys, time, requests
from lbmock.render.common import Urls
from lbmock.world_spec import WorldSpec
from lbmock.mockserver import mock_labelbox
seed, rows, index = (int(a) for a in sys.argv[1:4])
def status(key):
    return int(open("/proc/self/status").read().split(key + ":")[1].split()[0]) / 1024
with mock_labelbox(WorldSpec(seed=seed, rows=rows)) as lb:
    row = lb.world.row(index)
    urls = Urls.served_at("https://api.labelbox.com", "https://storage.labelbox.com")
    url = lb.backend.signed_urls(urls, int(time.time() * 1000)).row_data(lb.world.project.organization.id, row)
    before, best = status("VmRSS"), float("inf")
    for _ in range(int(sys.argv[4])):
        t0, received = time.perf_counter(), 0
        with requests.get(url, stream=True) as resp:
            for chunk in resp.iter_content(1 << 20):
                received += len(chunk)
        best = min(best, time.perf_counter() - t0)
    print(received, best, before, status("VmHWM"))
"""


def bench_user_dicom(volume: tuple[int, int, int | None], runs: int, tmp: str) -> list[Figure]:
    """A user's DICOM folder (``--dicom-dir``, issue 28.5): the seed's DICOM file for that volume
    (generated by a first ``lbmock serve``), alone in a folder, served as row 0's ``row_data`` by
    ``lbmock serve --dicom-dir``; its signed URL read from an export.  Keep-alive, 1 MiB raw reads,
    alternating with benchmarks/ceiling.py serving the same file, best of ``runs`` each."""
    from lbmock.mockserver.backend.signing import UrlSigner
    from lbmock.render.common import Urls
    from lbmock.strategies.served_world import seeded_world

    index, row = _row_with_volume(SEED, *volume, masks=0)
    key = "cd" * 32
    folder = os.path.join(tmp, "user-dicom")
    os.makedirs(folder, exist_ok=True)
    copy = os.path.join(folder, "series.dcm")
    with server(index + 1, "--signing-key", key) as served, requests.Session() as session:
        org = seeded_world(SEED, 1).project.organization.id
        url = Urls.served_at(served.base_url, sign=UrlSigner(bytes.fromhex(key)).sign).row_data(org, row)
        _download(session, url, into=copy)
    size = os.path.getsize(copy)
    with server(1, "--dicom-dir", folder) as served, requests.Session() as session:
        client = wire(served, session)
        url = client.stream(client.create_export()).rows[0]["data_row"]["row_data"]
        received = _download(session, url)[2]
        assert received == size, f"received {received} of {size} bytes"
        with ceiling([copy]) as (base, _pid):
            ours, reference = best_pair(runs, lambda: _download(session, url)[1],
                                        lambda: _download(session, f"{base}/0")[1])
    v = row.volume
    return [ratio(f"--dicom-dir: a user's {v.cols}x{v.rows}x{v.slices} DICOM file ({size / 1e6:.0f} MB) as row_data, "
                  f"sendfile, 1 MiB raw reads, keep-alive; vs the same file from benchmarks/ceiling.py; alternating, "
                  f"best of {runs} each", size, ours, reference, goal=">= 0.9")]


def bench_replay(rows: int, runs: int, walk_rows: int, walk_runs: int, tmp: str) -> list[Figure]:
    """A replayed file (``--replay``, issue 28.5) measured as a generated world is: ``lbmock
    generate`` writes ``rows`` v2 rows (every param but the embeddings, which make a file 2x
    bigger), then the cold/warm rounds of :func:`bench_cold_warm` and, on its first ``walk_rows``
    rows, the SDK's walk of :func:`bench_sdk_walk`."""
    path = os.path.join(tmp, "replay.ndjson")
    with open(path, "wb") as out:
        subprocess.run([sys.executable, "-m", "lbmock.cli", "generate", "--format", "v2", "--rows", str(rows),
                        "--seed", str(SEED), "--exclude", "embeddings", "--quiet"], check=True, stdout=out)
    first = os.path.join(tmp, "replay-first.ndjson")
    with open(path, "rb") as full, open(first, "wb") as out:
        for _, line in zip(range(walk_rows), full, strict=False):
            out.write(line)
    size = os.path.getsize(path) / 1e6
    replayed = f" replayed from one {size:,.0f} MB file"
    return [*bench_cold_warm(rows, runs, world=("--replay", path), what_world=replayed),
            *bench_sdk_walk(walk_rows, walk_runs, tmp, world=("--replay", first),
                            what_world=" of a replayed file")]


def bench_dicom_in_process(volume: tuple[int, int, int | None], runs: int) -> Figure:
    """The same row through ``mock_labelbox`` (storage.labelbox.com intercepted), in a fresh process:
    ``requests`` with ``iter_content(1 MiB)``, best of ``runs``; VmHWM against RSS before."""
    index, _row = _row_with_volume(SEED, *volume, masks=4 if volume[2] else 0)
    out = subprocess.run([sys.executable, "-c", _IN_PROCESS, str(SEED), str(index + 1), str(index), str(runs)],
                         capture_output=True, text=True, check=True).stdout.split()
    size, best, before, peak = int(out[0]), float(out[1]), float(out[2]), float(out[3])
    return Figure(f"DICOM row_data in-process (mock_labelbox, iter_content 1 MiB), same row, best of {runs}; "
                  "client process peak RSS; RSS before",
                  f"{size / best / 1e6:,.0f} MB/s; {peak:.0f} MB; {before:.0f} MB")


_VALIDATE_RUN = """
import io, sys, time
import orjson
from lbmock.validate import validate_path
path, jobs = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
if jobs:
    code = validate_path(path, io.StringIO(), jobs=jobs, progress=False)
else:  # the reference: orjson parsing every line of the same file, nothing else
    with open(path, "rb") as fh:
        for line in fh:
            orjson.loads(line)
    code = 0
print(time.perf_counter() - t0, code)
"""


def bench_validate(rows: int, runs: int, tmp: str) -> list[Figure]:
    """``lbmock validate`` against orjson parsing the same all-params v2 NDJSON, each a fresh
    process timed from call to return (imports excluded on both sides), alternating, best of
    ``runs``: one process, then ``--jobs 2``."""
    path = os.path.join(tmp, "validate.ndjson")
    with open(path, "wb") as out:
        subprocess.run([sys.executable, "-m", "lbmock.cli", "generate", "--rows", str(rows), "--seed", str(SEED),
                        "--quiet"], check=True, stdout=out)
    size = os.path.getsize(path)

    def timed(jobs: int) -> float:
        done = subprocess.run([sys.executable, "-c", _VALIDATE_RUN, path, str(jobs)], capture_output=True,
                              text=True, check=True)
        seconds, code = done.stdout.split()
        assert code == "0", done.stdout + done.stderr
        return float(seconds)

    one, parse = best_pair(runs, lambda: timed(1), lambda: timed(0))
    two, parse2 = best_pair(runs, lambda: timed(2), lambda: timed(0))
    parse = min(parse, parse2)
    how = (f"{rows:,} all-params v2 rows ({size / 1e6:.1f} MB); fresh process each, call to return; alternating "
           f"with orjson parsing each line of the same file, best of {runs}")
    return [Figure(f"lbmock validate, one process (jsonschema-rs yes/no per row, jsonschema only to explain "
                   f"a failing row; invariants in Python); {how}",
                   f"{size / one / 1e6:,.1f} MB/s vs orjson {size / parse / 1e6:,.1f} MB/s: **{parse / one:.2f}**",
                   ">= 0.25"),
            Figure("lbmock validate --jobs 2 (rows checked in 2 processes, report in file order); the same file "
                   "and method; / orjson on one core",
                   f"{size / two / 1e6:,.1f} MB/s: **{parse / two:.2f}**")]


EXAMPLE_WORLD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "world")


def bench_world_start(runs: int) -> list[Figure]:
    """Server start (spawn to the first 200 from /_mock/health) of ``lbmock serve`` with the example
    world file, and with only its ontology, against a plain 100-row world (the example's row count),
    alternating, best of ``runs`` each side."""

    def start(*args: str) -> float:
        with start_serve(*args, ready=True) as served:
            return time.perf_counter() - served.started

    plain = ("--seed", str(SEED), "--rows", "100")
    world, bare = best_pair(runs, lambda: start("--world", os.path.join(EXAMPLE_WORLD, "world.toml")),
                            lambda: start(*plain))
    ontology = os.path.join(EXAMPLE_WORLD, "abdomen-ontology.json")
    onto, bare2 = best_pair(runs, lambda: start(*plain, "--ontology", ontology), lambda: start(*plain))
    bare = min(bare, bare2)
    how = f"spawn to the first /_mock/health 200, alternating with a plain `--rows 100` start, best of {runs}"
    return [Figure(f"server start with examples/world/world.toml (100 rows, 2 projects, its ontology); {how}",
                   f"{world:.2f} s vs {bare:.2f} s: {world - bare:+.2f} s", "<= +0.2 s"),
            Figure(f"server start with `--ontology examples/world/abdomen-ontology.json`, 100 rows; {how}",
                   f"{onto:.2f} s vs {bare:.2f} s: {onto - bare:+.2f} s", "<= +0.2 s")]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def dashboard_figures(rows: int, runs: int) -> list[Figure]:
    """Every dashboard page and image endpoint (benchmarks/dashboard.py): best of ``runs``, first request too."""
    from dashboard import bench_dashboard  # benchmarks/dashboard.py, beside this script

    return [Figure(f"dashboard, {rows:,} rows: {what}", f"{first / 1000:,.1f} s") if best is None else
            Figure(f"dashboard, {rows:,} rows: {what}", f"{best:,.0f} ms (first {first:,.0f} ms)", "<= 300 ms")
            for what, first, best in bench_dashboard(rows, runs)]


def plugin_start_cost(runs: int, tmp: str) -> tuple[float, float]:
    """Best seconds of a whole ``python -m pytest --co -q`` of a one-test file, with the lbmock
    plugin and with ``-p no:lbmock``, alternating (hyperfine-style: fresh processes, best of ``runs``)."""
    folder = os.path.join(tmp, "plugin-start")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "test_one.py"), "w") as f:
        f.write("def test_one():\n    pass\n")

    def start(*extra: str) -> float:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *extra, "test_one.py"],
                       cwd=folder, check=True, capture_output=True)
        return time.perf_counter() - began

    return best_pair(runs, start, lambda: start("-p", "no:lbmock"))


def bench_plugin_start(runs: int, tmp: str) -> Figure:
    with_plugin, without = plugin_start_cost(runs, tmp)
    return Figure("pytest start: the lbmock plugin's cost (`pytest --co` of one test, best of "
                  f"{runs}, vs `-p no:lbmock`)",
                  f"{(with_plugin - without) * 1000:+.0f} ms ({with_plugin:.2f} s vs {without:.2f} s)", "<= 100 ms")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


MEASURES = ("generation", "sdk-walk", "serving", "end-to-end", "memory", "rates", "dicom", "user-dicom", "oracle",
            "cold-warm", "replay", "dashboard", "validate", "world-start", "pytest-start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sizes_given = parser.add_mutually_exclusive_group()
    sizes_given.add_argument("--smoke", action="store_true", help="tiny sizes: check the script runs")
    sizes_given.add_argument("--quick", action="store_true",
                             help="the issue's sizes, fewer rounds where a figure is not a whole walk (~1/3 the time)")
    parser.add_argument("--only", choices=MEASURES, action="append", help="run only these measures (repeatable; "
                                                                          "default: all)")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE.md",
                        help="also write the table, with machine, date and load, to this file (the docs include "
                             "docs/performance-table.md)")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    measures = {
        "generation": lambda: [bench_generation(sizes["gen_rows"])],
        "sdk-walk": lambda: bench_sdk_walk(sizes["walk_rows"], sizes["walk_runs"], tmp),
        "serving": lambda: bench_serving(sizes["serve_rows"], sizes["runs"], tmp),
        "end-to-end": lambda: [bench_end_to_end(sizes["e2e_rows"])],
        "memory": lambda: [bench_memory(sizes["memory_rows"])],
        "rates": lambda: bench_request_rates(sizes["load_seconds"], sizes["load_clients"]),
        "dicom": lambda: [*bench_dicom(sizes["dicom_volume"], sizes["dicom_runs"], tmp, sizes["volume_runs"]),
                          bench_dicom_in_process(sizes["dicom_volume"], sizes["dicom_runs"])],
        "user-dicom": lambda: bench_user_dicom(sizes["user_dicom_volume"], sizes["volume_runs"], tmp),
        "oracle": lambda: bench_oracle(sizes["dicom_volume"], sizes["dicom_runs"], tmp),
        "cold-warm": lambda: bench_cold_warm(sizes["cold_rows"], sizes["cold_runs"]),
        "replay": lambda: bench_replay(sizes["replay_rows"], sizes["cold_runs"], sizes["walk_rows"],
                                       sizes["walk_runs"], tmp),
        "dashboard": lambda: dashboard_figures(sizes["dashboard_rows"], sizes["dashboard_runs"]),
        "validate": lambda: bench_validate(sizes["validate_rows"], sizes["runs"], tmp),
        "world-start": lambda: bench_world_start(sizes["runs"]),
        "pytest-start": lambda: [bench_plugin_start(sizes["runs"], tmp)],
    }
    load_before = os.getloadavg()
    started = time.perf_counter()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="lbmock-bench-") as tmp:
        # servers keep export templates here, not in ~/.cache: no figure depends on an earlier run
        os.environ["LBMOCK_CACHE_DIR"] = tmp
        for name, measure in measures.items():
            if args.only and name not in args.only:
                continue
            before = os.getloadavg()[0]
            measured = measure()
            for figure in measured:  # other work on this machine shows here: it slows absolute figures
                figure.load = f"{before:.1f} → {os.getloadavg()[0]:.1f}"
            figures += measured
            print(f"({name}: done after {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    lines = [f"Machine: {machine()}",
             # Other work on the machine slows both sides of a ratio alike (they alternate), not absolute rates.
             f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after "
             f"{time.perf_counter() - started:.0f} s: {', '.join(f'{x:.2f}' for x in load_after)}", "",
             "| measure | result | goal | load (1 min) |", "| --- | --- | --- | --- |",
             *(f"| {f.name} | {f.value} | {f.goal} | {f.load} |" for f in figures)]
    print("\n".join(lines))
    if args.out is not None:
        date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        scope = "smoke sizes (not figures to quote)" if args.smoke else "quick mode" if args.quick else "full sizes"
        flags = " --smoke" if args.smoke else " --quick" if args.quick else ""
        head = [f"Measured {date} by `python benchmarks/run.py{flags} --out {args.out}` ({scope}"
                f"{', only ' + ', '.join(args.only) if args.only else ''}).", ""]
        args.out.write_text("\n".join([*head, *lines]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
