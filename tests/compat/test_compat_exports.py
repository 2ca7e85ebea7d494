"""Export v2 params, filters and streaming through each SDK release.

3.72.2 and 7.17.0 stream: ``project.export(...)`` + ``wait_till_done()``, the
RESULT stream's metadata header (``get_total_lines`` / ``get_total_file_size``)
and ``get_buffered_stream()``; 3.72.2 also ``get_stream()`` (JsonConverter) and
``with_line(n)``.  3.40.1 has only ``export_v2``, a plain Task whose ``.result``
downloads the NDJSON; it knows the date filters but silently drops
``data_row_ids``, ``global_keys``, ``batch_ids`` and ``workflow_status``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from expected import (
    FILTER_CASE_NAMES,
    OPTIONAL_ROW_KEYS,
    RELEASES,
    STREAMING,
    expected_rows,
    export_filters,
    export_params,
    filter_cases,
    is_340,
    page_literals,
    rendered_rows,
    server_urls,
)
from support import FILE_BYTES, REFERENCE_DOC, USER_TZ, extract_page_code, flow, releases

from lbmock.export import v2_lines
from lbmock.render.v2 import ExportParams
from lbmock.world import WorkflowStatus

ALL = releases(*RELEASES)
STREAMING_ONLY = releases(*STREAMING)
ALL_PARAMS = dict.fromkeys(("attachments", "metadata_fields", "data_row_details", "project_details", "label_details",
                            "performance_details", "embeddings", "interpolated_frames"), True)


@pytest.fixture(scope="module")
def cases(world) -> dict:
    built = {c.name: c for c in filter_cases(world, USER_TZ)}
    assert tuple(built) == FILTER_CASE_NAMES
    return built


def _ids(rows) -> list[str]:
    return [r.id for r in rows]


# ---------------------------------------------------------------- params (include / exclude)


@ALL
def test_params_empty_leaves_every_optional_field_out(flows, world, base_url, release):
    record = flow(flows, "v2:params_empty")
    rows = record["rows"]
    assert record["ids"] == _ids(world)
    for row in rows:
        assert not set(OPTIONAL_ROW_KEYS) & row.keys()
        # global_key and external_id only "If utilized" (export glossary): some rows have neither
        assert {"id", "row_data"} <= set(row["data_row"]) <= {"id", "global_key", "row_data", "external_id"}
        project = row["projects"][world.project.id]
        assert "project_details" not in project
        for label in project["labels"]:
            assert not {"label_details", "performance_details"} & label.keys()
    assert rows == rendered_rows(world, world, ExportParams(), base_url)


@ALL
def test_params_all_includes_what_the_release_can_ask_for(flows, world, base_url, release):
    record = flow(flows, "v2:params_all")
    params = export_params(ALL_PARAMS, release)
    if is_340(release):  # 3.40.1 cannot ask for embeddings or interpolated frames
        assert not params.embeddings and not params.interpolated_frames
    else:
        assert params == ExportParams.all()
    rows = record["rows"]
    assert record["ids"] == _ids(world)
    assert all(("embeddings" in row) == params.embeddings for row in rows)
    assert all({"attachments", "metadata_fields"} <= row.keys() and "details" in row["data_row"] for row in rows)
    assert rows == rendered_rows(world, world, params, base_url)
    interpolated = rendered_rows(world, world, ExportParams.all(), base_url)
    keyframes_only = rendered_rows(world, world, replace(ExportParams.all(), interpolated_frames=False),
                                   base_url)
    assert interpolated != keyframes_only  # the world has frames between keyframes
    assert (rows == interpolated) == params.interpolated_frames


@ALL
def test_export_v2_task_kind_and_errors(flows, release):
    for name in ("v2:params_empty", "v2:params_all"):
        record = flow(flows, name)
        assert record["status"] == "COMPLETE"
        assert record["errors"] is None
        assert record["result_type"] == "builtins.list"
        expected = ("labelbox.schema.task.Task" if is_340(release)
                    else "labelbox.schema.export_task.ExportTask")
        assert record["task_type"] == expected


# ---------------------------------------------------------------- filters


@releases("3.40.1")
@pytest.mark.parametrize("name", FILTER_CASE_NAMES)
def test_340_export_v2_filters(flows, world, cases, release, name):
    case = cases[name]
    record = flow(flows, f"v2:{name}")
    expected = expected_rows(world, export_filters(case.filters, release, USER_TZ))
    assert record["ids"] == _ids(expected)
    assert record["task_type"] == "labelbox.schema.task.Task" and record["errors"] is None


@STREAMING_ONLY
@pytest.mark.parametrize("name", FILTER_CASE_NAMES)
def test_streamed_export_filters(flows, world, cases, release, name):
    case = cases[name]
    record = flow(flows, f"stream:{name}")
    expected = expected_rows(world, export_filters(case.filters, release, USER_TZ))
    assert record["status"] == "COMPLETE"
    assert record["has_errors"] is False
    assert record["ids"] == _ids(expected)
    if expected:
        assert record["total_lines"] == len(expected)
        assert record["has_result"] is True
    else:  # an empty stream has no metadata header: no totals, no buffered stream
        assert record["total_lines"] is None and record["total_size"] is None
        assert record["has_result"] is False
        assert "does not have a RESULT stream" in record["buffered_stream_error"]


@STREAMING_ONLY
def test_export_v2_honours_streaming_release_filters(flows, world, cases, release):
    record = flow(flows, "v2:workflow_InReview")
    expected = expected_rows(world, export_filters(cases["workflow_InReview"].filters, release, USER_TZ))
    assert expected and record["ids"] == _ids(expected)
    assert record["task_type"] == "labelbox.schema.export_task.ExportTask"


def test_filter_cases_are_meaningful(world, cases):
    """Every case selects some rows but not all (except ``empty``), and the timezone-sensitive
    ones select differently when their strings are read in UTC: the server must honour the
    timezone the SDK sends."""
    n = len(world)
    for name, case in cases.items():
        selected = expected_rows(world, export_filters(case.filters, "7.17.0", USER_TZ))
        if name == "empty":
            assert not selected
        else:
            assert 0 < len(selected) < n, name
        if case.tz_sensitive:
            as_utc = expected_rows(world, export_filters(case.filters, "7.17.0", "UTC"))
            assert _ids(as_utc) != _ids(selected), f"{name} does not tell {USER_TZ} from UTC"
    statuses = {s: expected_rows(world, export_filters({"workflow_status": s.value}, "7.17.0", USER_TZ))
                for s in WorkflowStatus}
    assert sum(len(rows) for rows in statuses.values()) == n and all(statuses.values())


# ---------------------------------------------------------------- streaming


@STREAMING_ONLY
def test_streamed_page_export_equals_export_v2(flows, world, base_url, release):
    page = flow(flows, "page")
    record = flow(flows, "stream:page")
    assert record["task_type"] == "labelbox.schema.export_task.ExportTask"
    assert record["has_errors"] is False and record["has_result"] is True
    assert record["rows"] == page["export_json"]
    assert record["total_lines"] == len(page["export_json"])


@STREAMING_ONLY
def test_stream_spans_several_files(flows, world, base_url, release):
    """The metadata header counts the bytes of the whole stream, which is cut into several files."""
    record = flow(flows, "stream:page")
    literals = page_literals(extract_page_code(REFERENCE_DOC.read_text(encoding="utf-8")))
    params = export_params(literals["export_params"], release)
    rows = expected_rows(world, export_filters(literals["filters"], release, USER_TZ))
    size = sum(len(line) for line in v2_lines(world, rows, params, server_urls(base_url)))
    assert record["total_size"] == size
    assert record["total_size"] > 2 * FILE_BYTES


@releases("3.72.2")
def test_get_stream_json_converter(flows, release):
    page = flow(flows, "stream:page")
    record = flow(flows, "get_stream")
    assert record["ids"] == page["ids"]
    assert record["lines"] == list(range(len(page["ids"])))


@releases("3.72.2")
def test_get_stream_with_line(flows, release):
    page = flow(flows, "stream:page")
    record = flow(flows, "get_stream_with_line")
    n = record["line"]
    assert 0 < n < len(page["ids"]) - 1
    assert record["ids"] == page["ids"][n:]
    assert record["lines"] == list(range(n, len(page["ids"])))
