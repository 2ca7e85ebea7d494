"""The reference page's code, run unmodified under each SDK release, and what it fetched.

The page (tests/compat/reference/labelbox-dicom-export-doc.txt) exports with
``export_v2(params=export_params, filters=filters)``, then calls
``export_labels(download=True)`` twice (the second with a date range).  7.17.0
removed ``export_labels``, so there the page stops with AttributeError after
its export_v2 part.  The driver then follows every link the exports hold:
legacy ``frames`` NDJSON and mask ``instanceURI`` PNGs, and v2 ``mask.url`` PNGs.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import re

import numpy as np
import pytest
from expected import (
    LEGACY,
    RELEASES,
    expected_rows,
    export_filters,
    export_params,
    is_340,
    legacy_label_ids,
    legacy_window,
    page_export_labels_calls,
    page_literals,
    rendered_rows,
    server_urls,
)
from PIL import Image
from support import REFERENCE_DOC, USER_TZ, extract_page_code, flow, releases

from lbmock.export import LegacyWindow
from lbmock.labelmap import rasterise
from lbmock.render.common import Urls
from lbmock.render.frames import render_frame_records
from lbmock.render.legacy import render_legacy_row
from lbmock.render.v2 import ExportParams
from lbmock.world import PLANES, MaskShape

ALL = releases(*RELEASES)
LEGACY_ONLY = releases(*LEGACY)

V2_MASK = re.compile(r"/api/v1/projects/[^/]+/annotations/(?P<feature>[^/]+)/index/(?P<frame>\d+)/mask$")
LEGACY_MASK = re.compile(r"/masks/feature/(?P<feature>[^/]+)/(?P<frame>\d+)$")


@pytest.fixture(scope="module")
def page_code() -> str:
    return extract_page_code(REFERENCE_DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def page_params_filters(page_code):
    literals = page_literals(page_code)
    return literals["export_params"], literals["filters"]


def _urls(base_url: str) -> Urls:
    return server_urls(base_url)


def _page_rows(world, release, page_params_filters):
    params, filters = page_params_filters
    return expected_rows(world, export_filters(filters, release, USER_TZ)), export_params(params, release)


def _mask_features(world) -> dict:
    return {f.feature_id: (row, f) for row in world for label in row.labels for f in label.features
            if f.tool.kind == "mask"}


def _check_mask_png(url: str, b64: str, pattern: re.Pattern, features: dict) -> None:
    match = pattern.search(url.split("?")[0])
    assert match, f"unexpected mask URL {url}"
    row, feature = features[match["feature"]]
    frame = int(match["frame"])
    keyframe = next(kf for kf in feature.keyframes if kf.frame == frame)
    assert isinstance(keyframe.geometry, MaskShape)
    plane = row.volume.plane(feature.plane)
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    assert image.format == "PNG" and image.mode == "L"
    assert image.size == (plane.width, plane.height), f"{url}: {image.size} != {plane.width}x{plane.height}"
    pixels = np.asarray(image)
    assert (pixels > 0).any(), f"{url}: empty mask"
    assert np.array_equal(pixels, rasterise(keyframe.geometry, plane)), f"{url}: not the feature's mask"


# ---------------------------------------------------------------- the page itself


@ALL
def test_get_project(flows, world, release):
    record = flow(flows, "get_project")
    assert record["uid"] == world.project.id
    assert record["name"] == world.project.name


@ALL
def test_page_code_runs_unmodified(flows, page_code, release):
    record = flow(flows, "page")
    statements = [ast.get_source_segment(page_code, s) for s in ast.parse(page_code).body]
    ran = [step["source"] for step in record["steps"]]
    assert ran == statements[:len(ran)]
    assert record["printed_chars"] > 0  # print("results: ", export_json)
    if release in LEGACY:
        assert record["stopped_by"] is None and ran == statements
        # exportLabels answers shouldPoll once: the SDK sleeps 2 s and polls again
        first_export_labels = next(s for s in record["steps"] if "export_labels" in s["source"])
        assert first_export_labels["seconds"] >= 1.9
    else:  # 7.x removed export_labels: everything before it ran, then AttributeError
        assert record["stopped_by"]["type"] == "AttributeError"
        assert "export_labels" in record["stopped_by"]["message"]
        assert ran[-1] == "labels = project.export_labels(download=True)"
        assert record["bound"] == ["export_params", "filters", "export_task", "export_json"]


@ALL
def test_page_export_task_kind(flows, release):
    record = flow(flows, "page")
    assert record["export_json_type"] == "builtins.list"
    assert record["export_task_errors"] is None
    if is_340(release):  # 3.40.1: a plain Task whose .result downloads the NDJSON
        assert record["export_task_type"] == "labelbox.schema.task.Task"
    else:
        assert record["export_task_type"] == "labelbox.schema.export_task.ExportTask"


@ALL
def test_page_export_v2_returns_the_selected_rows(flows, world, base_url, page_params_filters, release):
    record = flow(flows, "page")
    rows, params = _page_rows(world, release, page_params_filters)
    got = record["export_json"]
    assert [r["data_row"]["id"] for r in got] == [r.id for r in rows]
    if is_340(release):
        # 3.40.1 has no workflow_status filter (it silently drops the key): the window alone selects
        assert len(rows) == len(world)
    else:
        assert rows and all(r.status.value == "Done" for r in rows)
        assert len(rows) == sum(r.status.value == "Done" for r in world) < len(world)
    assert got == rendered_rows(world, rows, params, base_url)


@ALL
def test_page_export_includes_and_excludes_fields(flows, world, page_params_filters, release):
    record = flow(flows, "page")
    rows, _ = _page_rows(world, release, page_params_filters)
    by_id = {r.id: r for r in rows}
    interpolation_would_add = False
    for got in record["export_json"]:
        assert {"attachments", "metadata_fields"} <= got.keys()
        assert "embeddings" not in got
        assert "details" in got["data_row"]
        project = got["projects"][world.project.id]
        assert "project_details" in project
        row = by_id[got["data_row"]["id"]]
        for label_out, label in zip(project["labels"], row.labels, strict=True):
            assert {"label_details", "performance_details"} <= label_out.keys()
            # interpolated_frames not set: frames hold keyframes only
            for feature in label.features:
                keyframes = {kf.frame for kf in feature.keyframes}
                exported = {int(n) for n, frame in label_out["annotations"]["groups"][feature.plane]["frames"].items()
                            if feature.feature_id in frame["objects"]}
                assert exported == keyframes
                interpolation_would_add |= len(list(feature.frames(interpolated=True))) > len(keyframes)
    assert interpolation_would_add, "the world has no interpolable segment: the exclusion check proves nothing"


@ALL
def test_page_v2_masks_fetch_and_decode(flows, world, base_url, page_params_filters, release):
    record = flow(flows, "page_v2_masks")
    rows, params = _page_rows(world, release, page_params_filters)
    expected_urls = {obj["mask"]["url"] for row in rendered_rows(world, rows, params, base_url)
                     for label in row["projects"][world.project.id]["labels"]
                     for group in label["annotations"]["groups"].values()
                     for frame in group["frames"].values() for obj in frame["objects"].values() if "mask" in obj}
    assert expected_urls, "the selected rows hold no masks: pick another seed"
    assert set(record["masks"]) == expected_urls
    features = _mask_features(world)
    for url, b64 in record["masks"].items():
        _check_mask_png(url, b64, V2_MASK, features)


# ---------------------------------------------------------------- legacy export_labels (3.x)


def _all_labels(world):
    return [(row, label) for row in world for label in row.labels]


@LEGACY_ONLY
def test_export_labels_download_returns_every_label(flows, world, base_url, release):
    record = flow(flows, "page")
    labels = record["labels_all"]
    pairs = _all_labels(world)
    assert [x["ID"] for x in labels] == [label.id for _, label in pairs]
    expected = [json.loads(json.dumps(render_legacy_row(world.project, row, label, _urls(base_url))))
                for row, label in pairs]
    assert labels == expected


@LEGACY_ONLY
def test_export_labels_keep_unset_ids_as_null(flows, world, release):
    """Issue 25.1: a legacy row of a data row without an external id has ``"External ID": null``
    (and ``"Global Key": null``), as the SDK's legacy fixtures do; ``row["External ID"]`` never fails."""
    rows = {row.id: row for row in world}
    labels = flow(flows, "page")["labels_all"]
    assert any(rows[x["DataRow ID"]].external_id is None for x in labels), "every labelled row has an external id"
    assert any(rows[x["DataRow ID"]].global_key is None for x in labels), "every labelled row has a global key"
    for x in labels:
        row = rows[x["DataRow ID"]]
        assert (x["External ID"], x["Global Key"]) == (row.external_id, row.global_key)


@LEGACY_ONLY
def test_export_labels_page_date_range(flows, world, page_code, release):
    record = flow(flows, "page")
    calls = page_export_labels_calls(page_code)
    assert calls[0] == {"download": True} and {"start", "end"} <= calls[1].keys()
    window = legacy_window(calls[1], release)
    assert [x["ID"] for x in record["labels_window"]] == legacy_label_ids(world, window)


@LEGACY_ONLY
@pytest.mark.parametrize("case", ["created_days", "activity_window"])
def test_export_labels_windows(flows, world, release, case):
    from expected import legacy_cases

    kwargs = next(c["kwargs"] for c in legacy_cases(world) if c["name"] == case)
    record = flow(flows, f"legacy:{case}")
    expected = legacy_label_ids(world, legacy_window(kwargs, release))
    assert record["ids"] == expected
    assert 0 < len(expected) < len(_all_labels(world)), "the window should select some labels, not all"


def test_legacy_activity_end_is_dropped_by_340(world):
    """3.40.1 ignores last_activity_end; 3.72.2 sends it.  The case must tell them apart."""
    from expected import legacy_cases

    kwargs = next(c["kwargs"] for c in legacy_cases(world) if c["name"] == "activity_window")
    assert legacy_label_ids(world, legacy_window(kwargs, "3.40.1")) != legacy_label_ids(
        world, legacy_window(kwargs, "3.72.2"))


@LEGACY_ONLY
def test_export_labels_url(flows, world, base_url, release):
    record = flow(flows, "legacy_url")
    assert isinstance(record["url"], str) and record["url"].startswith(base_url + "/")
    assert record["ids"] == legacy_label_ids(world, LegacyWindow())


@LEGACY_ONLY
def test_legacy_frames_fetch_with_bearer(flows, world, base_url, release):
    record = flow(flows, "legacy_frames")
    urls = _urls(base_url)
    expected = {}
    for _, label in _all_labels(world):
        for plane in PLANES:
            records = render_frame_records(label, plane, urls)
            expected[urls.frames(label.id, plane)] = json.loads(json.dumps(list(records)))
    assert record["frames"].keys() == expected.keys()
    assert record["frames"] == expected
    assert any(records for records in expected.values())


@LEGACY_ONLY
def test_legacy_masks_fetch_and_decode(flows, world, base_url, release):
    record = flow(flows, "legacy_frames")
    urls = _urls(base_url)
    expected = {urls.mask_legacy(f.feature_id, kf.frame) for _, label in _all_labels(world)
                for f in label.features if f.tool.kind == "mask" for kf in f.keyframes}
    assert expected and set(record["masks"]) == expected
    features = _mask_features(world)
    for url, b64 in record["masks"].items():
        _check_mask_png(url, b64, LEGACY_MASK, features)


def test_page_literals_are_what_the_page_passes(page_code):
    params, filters = page_literals(page_code)["export_params"], page_literals(page_code)["filters"]
    assert params == dict.fromkeys(("attachments", "metadata_fields", "data_row_details", "project_details",
                                    "label_details", "performance_details"), True)
    assert set(filters) == {"last_activity_at", "workflow_status"}
    assert export_params(params, "7.17.0") == ExportParams(**params)
