"""The mock server in-process (Flask test client): protocol, errors, files, formats."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import mocks
import orjson
import pytest
from PIL import Image

from lbmock.contract_tests.wire import (
    EXPORT,
    FROM_LINE,
    FROM_OFFSET,
    HEADER,
    PARAM_FLAGS,
    FlaskTransport,
    WireClient,
    export_variables,
    placeholder_sign,
    unsigned,
)
from lbmock.export import ExportFilters, TimeRange, selected_rows, v2_lines
from lbmock.mockserver import create_app
from lbmock.mockserver.config import ServerConfig
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams
from lbmock.strategies import seeded_world
from lbmock.world import WorkflowStatus

SEED, ROWS = 5, 30
KEY = {"Authorization": "Bearer test-key"}
ALL_FLAGS = dict.fromkeys(PARAM_FLAGS.values(), True)


@pytest.fixture(scope="module")
def world():
    return seeded_world(SEED, ROWS)


@pytest.fixture(scope="module")
def app(world):
    return mocks.app(world, file_bytes=30_000, user_timezone="America/New_York")


@pytest.fixture()
def client(app):
    return app.test_client()


def wire(client, world=None) -> WireClient:
    """The wire client, straight into the app (no polling pause: nothing here waits on time)."""
    return WireClient(FlaskTransport(client), "test-key", world.project.id if world else None, poll_interval=0)


def gql(client, query, variables=None, headers=KEY):
    status, body = wire(client).graphql_raw(query, variables, headers=headers)
    assert status < 500
    return status, body


def export_input(world, query=(), flags=None):
    """Export variables with only ``flags`` (GraphQL names) set, as the tests below want them."""
    return export_variables(world.project.id, filters=query, flags={"mediaTypeOverride": None, **(flags or {})})


def get(client, url, headers=None):
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    resp = client.get(path, headers=headers or {})
    assert resp.status_code < 500
    return resp


def run_export(client, world, query=(), flags=None):
    return wire(client, world).create_export(filters=query, flags={"mediaTypeOverride": None, **(flags or {})})


def download_stream(client, task_id):
    """Walk the RESULT stream exactly as the SDK's buffered stream does (offsets and sizes checked)."""
    walked = wire(client).stream(task_id)
    return walked.data, walked.header, len(walked.files)


# ------------------------------------------------------------------ auth & errors


def test_graphql_requires_a_bearer_key(client):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        status, body = gql(client, "{user{id}}", headers=headers)
        assert status == 401
        assert body["errors"][0]["extensions"]["code"] == "AUTHENTICATION_ERROR"


def test_api_key_restriction(world):
    client = mocks.flask_client(world, api_key="right")
    assert gql(client, "{user{id}}", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert gql(client, "{user{id}}", headers={"Authorization": "Bearer right"})[0] == 200


def test_invalid_queries_get_validation_errors_not_5xx(client):
    cases = ["{user{idx}}", "query {", "{project{id}}", "mutation{nope}"]
    for query in cases:
        status, body = gql(client, query)
        assert status == 400
        assert body["errors"][0]["extensions"]["code"] in ("GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED")


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"query": 5}', b'{"query": "{user{id}}", "variables": 3}', b""])
def test_malformed_bodies_get_a_clear_400(client, raw):
    reply = wire(client).post_graphql(raw, KEY)
    assert reply.status == 400
    assert reply.json()["errors"][0]["message"]


def test_wrong_variable_types_and_bad_filters_are_client_errors(client, world):
    bad_inputs = [
        {"input": "nope"},
        export_input(world, [{"type": "labeled_at",
                              "value": {"operator": "BETWEEN", "value": {"min": "yesterday", "max": "2020-01-01"}}}]),
        export_input(world, [{"type": "data_row_id", "ids": [f"id{i}" for i in range(2001)], "operator": "is"}]),
        export_input(world, [{"type": "task_queue_status", "status": "Sleeping"}]),
        export_input(world, [{"type": "made_up"}]),
        export_input(world, [{"type": "data_row_last_activity_at",
                              "value": {"operator": "BETWEEN", "timezone": "Mars/Olympus",
                                        "value": {"min": "2020-01-01", "max": "2021-01-01"}}}]),
    ]
    for variables in bad_inputs:
        status, body = gql(client, EXPORT, variables)
        assert status == 400, body
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert body["errors"][0]["message"]


def test_unknown_ids_are_resource_not_found(client):
    status, body = gql(client, "query GetProjectPyApi($param_0: ID!){project(where: {id: $param_0}){id}}",
                       {"param_0": "cnope"})
    assert status == 200 and body["data"]["project"] is None
    assert body["errors"][0]["extensions"]["code"] == "RESOURCE_NOT_FOUND"
    status, body = gql(client, HEADER, {"where": {"id": "cmissing"}, "streamType": "RESULT"})
    assert body["errors"][0]["extensions"]["code"] == "RESOURCE_NOT_FOUND"


def test_tasks_belong_to_the_key_that_created_them(client, world):
    task_id = run_export(client, world)
    _, body = gql(client, HEADER, {"where": {"id": task_id}, "streamType": "RESULT"},
                  headers={"Authorization": "Bearer someone-else"})
    assert body["errors"][0]["extensions"]["code"] == "RESOURCE_NOT_FOUND"


# ------------------------------------------------------------------ export streams


def test_stream_is_multi_file_with_exact_offsets_and_the_expected_rows(client, world):
    task_id = run_export(client, world, flags=ALL_FLAGS)
    data, header, files = download_stream(client, task_id)
    expected = b"".join(v2_lines(world, world, ExportParams.all(),
                                 Urls.served_at("http://localhost", sign=placeholder_sign)))
    assert unsigned(data) == expected
    assert int(header["totalSize"]) == len(expected)
    assert int(header["totalLines"]) == len(world)
    assert files >= 2


def test_export_results_serves_the_whole_stream(client, world):
    """``/api/v1/export-results/<task>/<org>`` (3.40.1's ``result``): the stream the files cut."""
    task_id = run_export(client, world, flags=ALL_FLAGS)
    data, _header, _files = download_stream(client, task_id)
    whole = client.get(f"/api/v1/export-results/{task_id}/{world.project.organization.id}", headers=KEY)
    assert whole.status_code == 200 and whole.data == data
    errors = client.get(f"/api/v1/export-errors/{task_id}/{world.project.organization.id}", headers=KEY)
    assert errors.status_code == 404  # no row failed


def test_file_from_line_and_out_of_range_offsets(client, world):
    task_id = run_export(client, world)
    _, header, _ = download_stream(client, task_id)
    last = int(header["totalLines"]) - 1
    _, body = gql(client, FROM_LINE, {"where": {"id": task_id}, "streamType": "RESULT", "line": last})
    lines = body["data"]["task"]["exportFileFromLine"]["lines"]
    assert int(lines["start"]) <= last == int(lines["end"])
    for offset in (str(header["totalSize"]), "99999999999", "-1", "abc"):
        status, body = gql(client, FROM_OFFSET, {"where": {"id": task_id}, "streamType": "RESULT", "offset": offset})
        assert status == 400 and body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_empty_stream_has_a_null_header(client, world):
    task_id = run_export(client, world, [{"type": "data_row_id", "ids": ["cdoesnotexist"], "operator": "is"}])
    data, header, _ = download_stream(client, task_id)
    assert header is None and data == b""
    _, body = gql(client, HEADER, {"where": {"id": task_id}, "streamType": "ERRORS"})
    assert body["data"]["task"]["exportMetadataHeader"] is None


def test_signed_urls_refuse_tampering_and_expiry(client, app, world):
    task_id = run_export(client, world)
    _, body = gql(client, FROM_OFFSET, {"where": {"id": task_id}, "streamType": "RESULT", "offset": "0"})
    url = body["data"]["task"]["exportFileFromOffset"]["file"]
    assert get(client, url).status_code == 200
    assert get(client, url.replace("/RESULT/0", "/RESULT/1")).status_code == 403
    assert get(client, url.split("?")[0]).status_code == 403
    signer = app.extensions["lbmock"].signer
    path = urlsplit(url).path
    expired = path + "?" + signer.sign(path, now=0).split("?", 1)[1]
    resp = get(client, expired)
    assert resp.status_code == 403 and orjson.loads(resp.data)["code"] == "EXPIRED"


@pytest.mark.parametrize("query, expected", [
    ([{"type": "task_queue_status", "status": "Done"}], ExportFilters(statuses=frozenset({WorkflowStatus.DONE}))),
    ([{"type": "task_queue_not_exist"}], ExportFilters(statuses=frozenset({WorkflowStatus.TO_LABEL}))),
])
def test_status_filters_select_the_expected_rows(client, world, query, expected):
    data, _, _ = download_stream(client, run_export(client, world, query))
    got = [orjson.loads(line)["data_row"]["id"] for line in data.splitlines()]
    assert got == [r.id for r in selected_rows(world, expected)]
    assert got  # the seeded world has rows of every status at this size


def test_date_filters_use_the_request_timezone(client, world):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    label_times = sorted(lb.created_at for r in world for lb in r.labels)
    pivot = datetime.fromtimestamp(label_times[len(label_times) // 2] / 1000, ZoneInfo("America/New_York"))
    day = pivot.strftime("%Y-%m-%d")
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=ZoneInfo("America/New_York"))
    window = TimeRange(int(start.timestamp() * 1000), int(start.timestamp() * 1000) + 86_400_000 - 1)
    query = [{"type": "labeled_at", "value": {"operator": "BETWEEN", "timezone": "America/New_York",
                                              "value": {"min": day, "max": day}}}]
    data, _, _ = download_stream(client, run_export(client, world, query))
    got = [orjson.loads(line)["data_row"]["id"] for line in data.splitlines()]
    assert got == [r.id for r in selected_rows(world, ExportFilters(labeled_at=window))]
    assert got


# ------------------------------------------------------------------ legacy, frames, masks


def legacy_download(client, world, filters="", polls_expected=None):
    """Poll exportLabels like the SDK; an export already prepared is served at once (cached)."""
    export = wire(client, world).legacy_export(filters, timeout=5)
    assert all(a["downloadUrl"] is None for a in export.answers[:-1])
    if polls_expected is not None:
        assert export.polls == polls_expected
    return export.rows


def test_legacy_export_polls_then_serves_every_label(world):
    client = mocks.flask_client(world)
    rows = legacy_download(client, world, polls_expected=2)
    assert legacy_download(client, world, polls_expected=1) == rows  # prepared once, then cached
    assert [r["ID"] for r in rows] == [lb.id for row in world for lb in row.labels]


def test_legacy_export_created_window(client, world):
    times = sorted(lb.created_at for r in world for lb in r.labels)
    from lbmock.render.common import iso_z_millis

    start, end = iso_z_millis(times[2])[:10], iso_z_millis(times[-3])[:10]
    rows = legacy_download(client, world, f'labelCreatedAt: {{start: "{start}",end: "{end}"}}')
    from lbmock.mockserver.gql.filters import parse_legacy_filters

    window = parse_legacy_filters({"labelCreatedAt": {"start": start, "end": end}})
    assert [r["ID"] for r in rows] == [lb.id for row in world for lb in window.labels(row)]
    assert 0 < len(rows) <= len(times)


def test_frames_and_masks_need_auth_and_reject_bad_input(client, world):
    label = next(lb for r in world for lb in r.labels)
    assert client.get(f"/v1/frames/{label.id}?group=axial").status_code == 401
    assert client.get(f"/v1/frames/{label.id}?group=axial", headers=KEY).status_code == 200
    assert client.get(f"/v1/frames/{label.id}?group=oblique", headers=KEY).status_code == 400
    assert client.get(f"/v1/frames/{label.id}", headers=KEY).status_code == 400
    assert client.get("/v1/frames/cl0000000000000000000000?group=axial", headers=KEY).status_code == 404
    assert client.get("/v1/frames/..%2F..%2Fetc%2Fpasswd?group=axial", headers=KEY).status_code == 404
    assert client.get("/masks/feature/cnope/1", headers=KEY).status_code == 404
    assert client.get("/masks/feature/cnope/x", headers=KEY).status_code == 400
    assert client.get("/masks/feature/cnope/1").status_code == 401


def test_legacy_frames_and_v2_groups_agree(client, world):
    """For every label and plane: same polylines and the same mask pixels in both formats."""
    task_id = run_export(client, world, flags={"includeInterpolatedFrames": True})
    data, _, _ = download_stream(client, task_id)
    v2_rows = {orjson.loads(line)["data_row"]["id"]: orjson.loads(line) for line in data.splitlines()}
    legacy = {r["ID"]: r for r in legacy_download(client, world)}
    compared_masks = compared_lines = 0
    for row in world:
        labels = v2_rows[row.id]["projects"][world.project.id]["labels"]
        for label in labels:
            groups = {g["name"]: g for g in legacy[label["id"]]["Label"]["groups"]}
            for plane, group in label["annotations"]["groups"].items():
                records = [orjson.loads(x) for x in get(client, groups[plane.lower()]["frames"], KEY).data.splitlines()]
                legacy_objects = {(rec["frameNumber"], o["featureId"]): o for rec in records for o in rec["objects"]}
                v2_objects = {(int(n), fid): o for n, fr in group["frames"].items() for fid, o in fr["objects"].items()}
                assert legacy_objects.keys() == v2_objects.keys()
                plane_size = row.volume.plane(plane)
                for key, obj in v2_objects.items():
                    old = legacy_objects[key]
                    if "line" in obj:
                        assert obj["line"] == old["line"]
                        compared_lines += 1
                    else:
                        new_png = get(client, obj["mask"]["url"], KEY)
                        old_png = get(client, old["instanceURI"], KEY)
                        assert new_png.status_code == old_png.status_code == 200
                        assert new_png.data == old_png.data
                        image = Image.open(io.BytesIO(new_png.data))
                        assert image.mode == "L" and image.size == (plane_size.width, plane_size.height)
                        assert image.getbbox() is not None  # non-empty
                        compared_masks += 1
    assert compared_masks and compared_lines


def test_health(client, world):
    body = orjson.loads(client.get("/_mock/health").data)
    assert body == {"status": "ok", "project_id": world.project.id, "rows": ROWS, "seed": SEED,
                    "project_ids": [world.project.id], "quality": "none",
                    "datasets": [{"id": d.id, "name": d.name} for d in world.datasets],
                    "slices": [{"id": s.id, "name": s.name} for s in world.slices]}


def test_unknown_paths_and_methods_are_json_4xx(client):
    for resp in (client.get("/nope"), client.get("/graphql"), client.delete("/v1/frames/x")):
        assert 400 <= resp.status_code < 500
        assert orjson.loads(resp.data)["error"]


def test_create_app_takes_a_spec_world_or_backend_and_refuses_contradictions(world):
    from lbmock.mockserver import mock_labelbox
    from lbmock.world_spec import WorldSpec

    by_spec = create_app(WorldSpec(seed=SEED, rows=ROWS), ServerConfig(api_key="k"))
    assert by_spec.test_client().get("/_mock/health").json["project_id"] == world.project.id
    backend = by_spec.extensions["lbmock"]
    assert create_app(backend).extensions["lbmock"] is backend
    with pytest.raises(TypeError):  # a backend carries its own config: both at once could disagree
        create_app(backend, ServerConfig(api_key="other"))
    with pytest.raises(TypeError):  # a world, or seed/rows: not both
        mock_labelbox(world, seed=1)
