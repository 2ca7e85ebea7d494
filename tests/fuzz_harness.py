"""The fuzzing harness of ``tests/test_fuzz.py``: the fuzzed app and what it serves, one request
sent and its answer checked (no 5xx, no internal error, the family's error shape), the budgets
and totals, and the final check that the fuzzed app still serves like a fresh one."""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import mocks
import orjson
from hypothesis import HealthCheck, settings
from werkzeug.exceptions import HTTPException

from lbmock.contract_tests.wire import PARAM_FLAGS, FlaskTransport, WireClient, placeholder_sign, unsigned
from lbmock.export import ExportFilters, selected_rows, v2_lines
from lbmock.mockserver.handlers.common import GRAPHQL_PATHS
from lbmock.mockserver.urls import ROUTES
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.strategies import seeded_world

SEED, ROWS, FILE_BYTES = 31, 10, 6_000
KEY, OTHER_KEY, MUTATION_KEY = "fuzz-key", "fuzz-other-key", "fuzz-mutation-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
INTERNAL_CODES = {"LBMOCK_INTERNAL_ERROR", "INTERNAL_SERVER_ERROR"}
ALL_FLAGS = dict.fromkeys(PARAM_FLAGS.values(), True)
LEGACY = ("mutation GetLabelExportUrlPyApi($projectId: ID!, $filters: ExportLabelsFiltersInput)"
          "{exportLabels(data:{projectId: $projectId, filters: $filters}) {downloadUrl createdAt shouldPoll}}")

_BY_HAND = os.environ.get("LBMOCK_FUZZ_EXAMPLES")
STATS: Counter[str] = Counter()


def budget(examples: int) -> settings:
    return settings(max_examples=int(_BY_HAND) if _BY_HAND else examples, derandomize=not _BY_HAND,
                    deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True)


# ================================================================== the fuzzed app and what it serves


@dataclass
class Env:
    world: object
    app: object
    client: object
    ids: dict[str, list[str]]
    tasks: list[str]  # export tasks of KEY, made before fuzzing
    other_task: str  # a task of OTHER_KEY
    total_size: int
    total_lines: int
    mask: tuple[str, int]  # (feature id, frame) of a mask
    label: str
    masks: list[tuple[str, int]]  # every (feature id, frame) with a mask
    files: list[str]  # real download paths (signed ones with their query) of every kind


@functools.cache
def env() -> Env:
    world = seeded_world(SEED, ROWS)
    app = mocks.app(world, file_bytes=FILE_BYTES, user_timezone="America/New_York")
    client = app.test_client()
    labels = [lb for row in world for lb in row.labels]
    features = [f for lb in labels for f in lb.features]
    masks = [(f.feature_id, kf.frame) for f in features if f.tool.kind == "mask" for kf in f.keyframes]
    assert labels and masks, "pick a seed whose world has labels and masks"
    project = world.project
    ids = {
        "project": [project.id], "organization": [project.organization.id], "user": [project.owner.id],
        "label": [lb.id for lb in labels[:6]], "feature": [f.feature_id for f in features[:6]],
        "mask": [m[0] for m in masks[:4]], "row": [r.id for r in world][:4],
        "global_key": [r.global_key for r in world if r.global_key is not None][:3],  # (rows may have none)
        "batch": sorted({r.batch.id for r in world}),
    }

    def export(key: str, query=(), flags=None) -> str:
        return wire_client(client, world, key).create_export(
            filters=query, task_name="fuzz", flags={"mediaTypeOverride": None, **(flags or {})})

    tasks = [export(KEY, flags=ALL_FLAGS), export(KEY, [{"type": "task_queue_not_exist"}]),
             export(KEY, [{"type": "data_row_id", "ids": ["cnothere"], "operator": "is"}])]
    header = wire_client(client, world).export_header(tasks[0])
    ids["task"] = tasks
    signer = app.extensions["lbmock"].signer
    org = project.organization.id
    files = [signer.sign(f"/files/{tasks[0]}/RESULT/{i}") for i in range(3)] + [
        signer.sign(f"/files/{tasks[0]}/RESULT/all"), signer.sign(f"/files/{tasks[1]}/RESULT/0"),
        signer.sign(f"/files/{tasks[0]}/ERRORS/all"), f"/api/v1/export-results/{tasks[0]}/{org}",
        f"/api/v1/export-results/{tasks[1]}/{org}", f"/api/v1/export-errors/{tasks[0]}/{org}"]
    legacy = wire_client(client, world).legacy_export().answers[-1]  # the poll that handed out the URL
    files.append(urlsplit(legacy["downloadUrl"]).path + "?" + urlsplit(legacy["downloadUrl"]).query)
    return Env(world, app, client, ids, tasks, export(OTHER_KEY), int(header["totalSize"]),
               int(header["totalLines"]), masks[0], labels[0].id, masks, files)


# ================================================================== one request, checked


class ServerFault(AssertionError):
    pass


def send(family: str, method: str, path: str, *, rule: str | None = None, data: bytes | None = None,
         headers: dict | None = None, query_string: dict | None = None):
    """Send one request and check what came back; returns (status, parsed JSON body or None, raw body)."""
    STATS["requests"] += 1
    STATS[f"family:{family}"] += 1
    if rule:
        STATS[f"rule:{rule}"] += 1
    if query_string:  # the path may carry a '?' of its own
        path += ("&" if "?" in path else "?") + urlencode(query_string)
    try:
        resp = env().client.open(path, method=method, data=data, headers=headers or {})
        raw = resp.get_data()
    except Exception as exc:  # the real server would have answered 500 or dropped the connection
        STATS["5xx"] += 1
        raise ServerFault(f"{method} {path!r}: the app raised {type(exc).__name__}: {exc}") from exc
    status = resp.status_code
    if status >= 500:
        STATS["5xx"] += 1
        raise ServerFault(f"{method} {path!r} -> {status}: {raw[:300]!r}")
    STATS[f"status:{status // 100}xx"] += 1
    where = f"{method} {path[:200]!r} -> {status}"
    if method == "HEAD" or (method == "OPTIONS" and status == 200):
        return status, None, raw
    if 300 <= status < 400:
        assert resp.headers.get("Location"), where
        return status, None, raw
    # The GraphQL handler answers in GraphQL's shape; what the router refuses before any
    # handler runs (unknown path, wrong method, bad Host) gets the app's REST shape.
    graphql_shape = family == "graphql" and router_refusal(resp) is None
    if status >= 400 or graphql_shape:
        assert resp.mimetype == "application/json", f"{where}: {resp.mimetype} {raw[:200]!r}"
        body = orjson.loads(raw)
        assert isinstance(body, dict), where
        if graphql_shape:
            check_graphql_body(where, status, body)
        else:
            assert set(body) == {"error", "code"}, f"{where}: {body}"
            assert isinstance(body["error"], str) and body["error"], f"{where}: {body}"
            assert isinstance(body["code"], str) and body["code"], f"{where}: {body}"
            if body["code"] in INTERNAL_CODES:
                STATS["internal errors"] += 1
                raise ServerFault(f"{where}: {body}")
        return status, body, raw
    return status, None, raw


def router_refusal(resp) -> int | None:
    """The status the app's URL map refuses this request with, or None when a handler ran."""
    try:
        env().app.url_map.bind_to_environ(resp.request.environ).match(method=resp.request.method)
    except HTTPException as exc:
        return exc.code
    return None


def check_graphql_body(where: str, status: int, body: dict) -> None:
    if status == 200:
        assert "data" in body, f"{where}: {body}"
    else:
        assert body.get("errors"), f"{where}: {body}"
    for error in body.get("errors", []):
        assert isinstance(error, dict) and isinstance(error.get("message"), str), f"{where}: {body}"
        assert isinstance(error.get("extensions"), dict), f"{where}: {body}"
        code = error["extensions"].get("code")
        assert isinstance(code, str) and code, f"{where}: {body}"
        if code in INTERNAL_CODES:
            STATS["internal errors"] += 1
            raise ServerFault(f"{where}: {error}")


_GRAPHQL_PATHS = itertools.cycle(GRAPHQL_PATHS)  # /graphql and /_gql in turn: one handler, fuzzed as hard


def gql(body: dict | bytes, headers: dict | None = None):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    path = next(_GRAPHQL_PATHS)
    return send("graphql", "POST", path, rule=path, data=data, headers=AUTH if headers is None else headers)


# ================================================================== after all of it: still right


def wire_client(client, world, key: str = KEY) -> WireClient:
    """The wire client straight into a fuzzed (or fresh) app."""
    return WireClient(FlaskTransport(client), key, world.project.id, poll_interval=0)


def fetch_export(client, world) -> tuple[bytes, int]:
    """A full export round trip, exactly as the SDK's buffered stream walks it."""
    wire = wire_client(client, world)
    walked = wire.stream(wire.create_export(dict.fromkeys(PARAM_FLAGS, True)))
    return walked.data, len(walked.files)


def run_phase(phase, families: tuple[str, ...]) -> None:
    """Run one fuzzing phase in this process, print its totals, check nothing broke and every route of
    the families it owns was reached, then that the fuzzed app still serves exactly what a fresh app
    serves.  One test per phase: xdist spreads them (each worker fuzzes and checks its own app)."""
    before = Counter(STATS)
    started = time.perf_counter()
    phase()
    took = time.perf_counter() - started
    seen = Counter({k: v - before[k] for k, v in STATS.items() if v - before[k]})
    print(f"\nfuzz {phase.__name__[5:]}: {seen['requests']} requests in {took:.1f}s, {seen['5xx']} 5xx seen, "
          f"{seen['internal errors']} internal errors (tracebacks)")
    print("  by family: " + ", ".join(f"{k[7:]}={v}" for k, v in sorted(seen.items()) if k.startswith("family:")))
    print("  by status class: " + ", ".join(f"{k[7:]}={v}" for k, v in sorted(seen.items())
                                            if k.startswith("status:")))
    assert seen["5xx"] == 0 and seen["internal errors"] == 0
    for family in families:  # every rule of urls.py this phase owns was fuzzed
        for rule, _view, _methods in ROUTES[family]:
            assert seen[f"rule:{rule}"] > 0, f"{family} {rule} never fuzzed"
    assert seen["requests"] >= (200 if not _BY_HAND else 1)
    assert_still_serves_like_a_fresh_app()


def assert_still_serves_like_a_fresh_app() -> None:
    e = env()
    fresh = mocks.app(seeded_world(SEED, ROWS), file_bytes=FILE_BYTES, user_timezone="America/New_York")
    fresh_client = fresh.test_client()
    # the fuzzed app: world, tasks, faults and journal as the fuzzing left them
    health = orjson.loads(e.client.get("/_mock/health").data)
    assert health["rows"] == ROWS and health["project_id"] == e.world.project.id
    data, files = fetch_export(e.client, e.world)
    expected = b"".join(v2_lines(e.world, selected_rows(e.world, ExportFilters()), ExportParams.all(),
                                 Urls.served_at("http://localhost", sign=placeholder_sign)))
    # row_data is signed with each app's own key: compare the exports without the signatures
    fresh_data = fetch_export(fresh_client, fresh.extensions["lbmock"].world)[0]
    assert unsigned(data) == unsigned(fresh_data) == expected
    assert files >= 2
    frames = f"/v1/frames/{e.label}?group=axial"
    feature, frame = e.mask
    mask = f"/masks/feature/{feature}/{frame}"
    v2_mask = f"/api/v1/projects/{e.world.project.id}/annotations/{feature}/index/{frame}/mask"
    for path in (frames, mask, v2_mask):
        ours, theirs = e.client.get(path, headers=AUTH), fresh_client.get(path, headers=AUTH)
        assert ours.status_code == theirs.status_code == 200, path
        assert ours.data == theirs.data and ours.data, path
    assert e.client.get(mask, headers=AUTH).data == e.client.get(v2_mask, headers=AUTH).data
