"""Worlds shaped like real projects: one test per discrepancy issue 12 found between lbmock and
Labelbox's public material (consensus/benchmark labels, optional ids, "Seconds to Label",
attachment types, several projects and their entry points, the precomputed embedding, the
ontology's vocabulary).  Each would have failed before the fix; the SDK-level checks of the same
facts run in tests/compat/test_compat_catalog.py."""

from __future__ import annotations

import mocks
import orjson
import pytest
from hypothesis import given, settings
from labelbox.schema.asset_attachment import AttachmentType

from lbmock import medical
from lbmock.contract_tests.wire import placeholder_sign, unsigned
from lbmock.export import ExportFilters, ExportScope, TimeRange, selected_rows, slice_filters, v2_lines
from lbmock.mockserver.backend.tasks import ExportTask
from lbmock.render.common import Urls
from lbmock.render.legacy import render_legacy_row
from lbmock.render.v2 import ExportParams, render_export_v2_row
from lbmock.strategies import seeded_world, worlds
from lbmock.validate import validate_row
from lbmock.world import QualityMode, WorkflowStatus

ALL = ExportParams.all()
KEY = {"Authorization": "Bearer test-key"}


def v2(world, row, scope=None):
    shown = (scope or ExportScope(project_id=world.project.id)).shown(world)
    return render_export_v2_row(shown, row, ALL, Urls())


# ---------------------------------------------------------------- consensus and benchmark


@settings(max_examples=40, deadline=None)
@given(worlds(min_rows=3, max_rows=6, quality=QualityMode.CONSENSUS, n_projects=1))
def test_consensus_labels_come_from_different_labellers_with_scores(world):
    assert world.project.consensus_expected_label_count in (2, 3)
    for row in world:
        labels = row.labels
        assert len(labels) <= world.project.consensus_expected_label_count
        assert len({lb.created_by for lb in labels}) == len(labels)
        scored = [lb.consensus_score is not None for lb in labels]
        assert all(scored) if len(labels) > 1 else not any(scored)
        rendered = v2(world, row)["projects"][world.project.id]["labels"]
        for label, out in zip(labels, rendered, strict=True):
            assert out["performance_details"].get("consensus_score") == label.consensus_score
            legacy = render_legacy_row(world.project, row, label, Urls())
            assert legacy["Agreement"] == (-1 if label.consensus_score is None else label.consensus_score)
        assert validate_row(v2(world, row), "v2") == []


def test_a_consensus_world_has_rows_labelled_several_times():
    world = seeded_world(3, 60, quality="consensus")
    several = [r for r in world if len(r.labels) > 1]
    assert several and len(several) < sum(1 for r in world if r.labels)  # some rows, not all


@settings(max_examples=40, deadline=None)
@given(worlds(min_rows=3, max_rows=6, quality=QualityMode.BENCHMARK))
def test_benchmark_labels_are_scored_against_the_gold_label(world):
    for row in world:
        for m in row.memberships:
            if len(m.labels) < 2:
                assert not any(lb.is_benchmark or lb.benchmark_score is not None for lb in m.labels)
                continue
            gold, *others = m.labels
            assert gold.is_benchmark and gold.benchmark_score is None and gold.benchmark_reference_label is None
            for lb in others:
                assert lb.benchmark_reference_label == gold.id and 0 <= lb.benchmark_score <= 1
                assert not lb.is_benchmark
            legacy = [render_legacy_row(world.project_by_id(m.project_id), row, lb, Urls()) for lb in m.labels]
            assert [x["Is Benchmark"] for x in legacy] == [1] + [0] * len(others)
            assert [x["Benchmark ID"] for x in legacy] == [None] + [gold.id] * len(others)
        assert validate_row(v2(world, row, ExportScope()), "v2") == []


def test_validate_refuses_a_benchmark_reference_to_a_missing_label():
    world = seeded_world(4, 40, quality="benchmark")
    row = next(r for r in world if len(r.labels) > 1)
    out = v2(world, row)
    label = out["projects"][world.project.id]["labels"][1]
    label["performance_details"]["benchmark_reference_label"] = "cl0not0on0this0row0000001"
    problems = validate_row(out, "v2")
    assert any("not another label of this project" in p.message for p in problems), problems
    del label["performance_details"]["benchmark_reference_label"]
    assert any("come together" in p.message for p in validate_row(out, "v2"))


@settings(max_examples=40, deadline=None)
@given(worlds(min_rows=2, max_rows=5))
def test_workflow_and_dates_consider_every_label(world):
    for row in world:
        for m in row.memberships:
            assert bool(m.labels) == (m.status != WorkflowStatus.TO_LABEL)
            for lb in m.labels:
                # every label is in before the row moves on to review; only the first is reviewed
                assert m.history[0].created_at <= lb.created_at <= m.history[1].created_at
                assert row.last_activity_at >= lb.last_activity_at
            assert all(not lb.reviews for lb in m.labels[1:])


def test_label_created_at_selects_a_row_by_any_of_its_labels():
    world = seeded_world(5, 60, quality="consensus")
    row = next(r for r in world if len(r.labels) > 1 and r.labels[1].created_at != r.labels[0].created_at)
    second = row.labels[1].created_at
    window = ExportFilters(labeled_at=TimeRange(second, second))
    assert row.id in [r.id for r in selected_rows(world, window)]


# ---------------------------------------------------------------- optional ids


def test_optional_ids_are_left_out_of_v2_and_null_in_legacy():
    world = seeded_world(6, 200)
    kinds = {(r.global_key is not None, r.external_id is not None) for r in world}
    assert kinds == {(True, True), (True, False), (False, True), (False, False)}
    for row in world:
        data_row = v2(world, row)["data_row"]
        assert None not in data_row.values()
        assert ("global_key" in data_row) == (row.global_key is not None)
        assert ("external_id" in data_row) == (row.external_id is not None)
        for label in row.labels:
            legacy = render_legacy_row(world.project, row, label, Urls())
            # legacy keeps both keys, null when unset (the SDK's legacy fixtures; issue 25.1)
            assert (legacy["External ID"], legacy["Global Key"]) == (row.external_id, row.global_key)
            assert validate_row(legacy, "legacy") == []
        assert validate_row(v2(world, row), "v2") == []


# ---------------------------------------------------------------- Seconds to Label


def test_seconds_to_label_is_create_plus_review_and_fractional():
    world = seeded_world(7, 60)
    legacy = [(lb, render_legacy_row(world.project, row, lb, Urls())) for row in world for lb in row.labels]
    for label, out in legacy:
        assert out["Seconds to Label"] == pytest.approx(label.seconds_to_create + label.seconds_to_review)
        assert out["Seconds to Create"] == label.seconds_to_create
    reviewed = [out for lb, out in legacy if lb.reviews]
    assert reviewed and all(out["Seconds to Label"] > out["Seconds to Create"] for out in reviewed)
    assert any(out["Seconds to Label"] != int(out["Seconds to Label"]) for _lb, out in legacy)


# ---------------------------------------------------------------- attachments, embedding, vocabulary


def test_attachment_types_are_the_current_sdks():
    world = seeded_world(8, 200)
    current = {t.value for t in AttachmentType}  # labelbox 7.17.0: TEXT is gone
    seen = {a.type for r in world for a in r.attachments}
    assert seen and seen <= current and "TEXT" not in seen


def test_precomputed_embedding_is_clip_vit_b32_with_512_dimensions():
    world = seeded_world(9, 3)
    for row in world:
        (embedding,) = v2(world, row)["embeddings"]
        assert embedding["id"] == "c200000000000000000000000"
        assert embedding["name"] == "Image Embedding V2 (CLIP ViT-B/32)"
        values = embedding["values"][0]["value"]
        assert embedding["dimensions"] == len(values) == 512 and all(-1 <= v <= 1 for v in values)
    assert "embeddings" not in render_export_v2_row(world.project, world.row(0), ExportParams(), Urls())


@settings(max_examples=30, deadline=None)
@given(worlds(max_rows=2))
def test_ontology_and_datasets_speak_radiology(world):
    for project in world.projects:
        names = [t.name for t in project.ontology.tools]
        assert len(set(names)) == len(names)
        for tool in project.ontology.tools:
            pool = medical.structures() if tool.kind == "mask" else medical.findings()
            assert tool.name in pool and tool.value == medical.value_of(tool.name)
        templates = {q.name for scope in ("global", "frame", "object") for q in medical.questions(scope)}
        questions = [*project.ontology.classifications, *(q for t in project.ontology.tools for q in t.classifications)]
        assert all(q.name in templates for q in questions)
    assert all(d.name in medical.dataset_names() for d in world.datasets)


# ---------------------------------------------------------------- several projects


def test_rows_show_every_project_they_are_in_except_in_project_exports():
    world = seeded_world(10, 60, n_projects=3)
    first, second, third = world.projects
    assert len({p.id for p in world.projects}) == 3
    assert all(p.datasets == first.datasets and p.owner == first.owner for p in world.projects)
    for row in world:
        member_of = [m.project_id for m in row.memberships]
        assert member_of[0] == first.id
        assert list(v2(world, row, ExportScope())["projects"]) == member_of
        assert list(v2(world, row, ExportScope(project_ids=frozenset({third.id})))["projects"]) == \
            [p for p in member_of if p == third.id]
    in_second = [r.id for r in selected_rows(world, ExportFilters(), ExportScope(project_id=second.id))]
    assert in_second == [r.id for r in world if r.in_project(second.id)]
    assert 0 < len(in_second) < len(world) == world.row_count(first.id)
    assert world.row_count(second.id) == len(in_second)
    several = [r for r in world if len(r.memberships) == 3 and all(m.labels for m in r.memberships)]
    assert several, "no row labelled in all three projects"


def test_catalog_filters_match_any_project_project_filters_only_their_own():
    world = seeded_world(11, 80, n_projects=2)
    first, second = world.projects
    done = ExportFilters(statuses=frozenset({WorkflowStatus.DONE}))
    anywhere = {r.id for r in selected_rows(world, done, ExportScope())}
    in_first = {r.id for r in selected_rows(world, done, ExportScope(project_id=first.id))}
    in_second = {r.id for r in selected_rows(world, done, ExportScope(project_id=second.id))}
    assert anywhere == in_first | in_second and in_second - in_first


def test_dataset_exports_and_counts_need_no_other_rows():
    world = seeded_world(12, 90, n_projects=2)
    for dataset in world.datasets:
        picked = ExportFilters(dataset_ids=frozenset({dataset.id}))
        expected = [r.id for r in world if r.dataset.id == dataset.id]
        assert [r.id for r in selected_rows(world, picked, ExportScope())] == expected
        assert world.row_count(dataset.id) == len(expected)
    for saved in world.slices:
        rows = list(selected_rows(world, slice_filters(saved), ExportScope()))
        assert rows and all(r.dataset.id in (saved.dataset_ids or {r.dataset.id}) for r in rows)


def test_catalog_export_tasks_survive_the_shared_state():
    task = ExportTask("t1", "owner", None, ALL, ExportFilters(dataset_ids=frozenset({"cl0ds"})), Urls(), 1,
                      True, scope=ExportScope(project_ids=frozenset({"cl0p2"})))
    again = ExportTask.from_spec("t1", "owner", orjson.loads(orjson.dumps(task.spec())), 0, None)
    assert (again.filters, again.scope) == (task.filters, task.scope)


# ---------------------------------------------------------------- the server's catalog side


@pytest.fixture(scope="module")
def client():
    world = seeded_world(13, 30, quality="benchmark", n_projects=2)
    return world, mocks.flask_client(world)


def gql(client, query, variables=None):
    resp = client.post("/graphql", data=orjson.dumps({"query": query, "variables": variables}), headers=KEY)
    assert resp.status_code < 500
    return resp.status_code, orjson.loads(resp.data)


def test_every_project_answers_with_its_quality_flags(client):
    world, http = client
    for project in world.projects:
        _status, body = gql(http, "query($id: ID!){project(where: {id: $id}){name isBenchmarkEnabled "
                                  "isConsensusEnabled dataRowCount}}", {"id": project.id})
        assert body["data"]["project"] == {"name": project.name, "isBenchmarkEnabled": True,
                                           "isConsensusEnabled": False, "dataRowCount": world.row_count(project.id)}


@pytest.mark.parametrize(("mutation", "filters", "params", "needle", "code"), [
    ("exportDataRowsInSlice", {"sliceId": "cl0no0such0slice000000001"}, {}, "slice cl0no0such0slice",
     "RESOURCE_NOT_FOUND"),
    ("exportDataRowsInCatalog", {"searchQuery": {"scope": None, "query": []}},
     {"projectIds": ["cl0no0such0project0000001"]}, "project cl0no0such0project", "RESOURCE_NOT_FOUND"),
    ("exportDataRowsInCatalog", {"searchQuery": {"scope": None, "query": []}},
     {"modelRunIds": ["cl0run"]}, "not supported for DICOM", "OPERATION_NOT_ALLOWED"),
])
def test_catalog_side_exports_refuse_unknown_things_clearly(client, mutation, filters, params, needle, code):
    _world, http = client
    kind = "Slice" if "Slice" in mutation else "Catalog"
    query = (f"mutation m($input: ExportDataRowsIn{kind}Input!){{{mutation}(input: $input){{taskId}}}}")
    _status, body = gql(http, query, {"input": {"filters": filters, "params": params, "streamable": True}})
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code and needle in error["message"]


def test_data_row_query_leaves_unset_ids_null(client):
    world, http = client
    row = next(r for r in world if r.external_id is None)
    _status, body = gql(http, "query($id: ID!){dataRow(where: {id: $id}){id externalId globalKey rowData}}",
                        {"id": row.id})
    got = body["data"]["dataRow"]
    # rowData: the row's DICOM file on this server, signed as of the request (compared unsigned)
    expected = Urls.served_at("http://localhost", sign=placeholder_sign).row_data(world.project.organization.id, row)
    assert {**got, "rowData": unsigned(got["rowData"])} == {"id": row.id, "externalId": None,
                                                            "globalKey": row.global_key, "rowData": expected}
    _status, body = gql(http, "query($id: ID!){dataRow(where: {id: $id}){id}}", {"id": row.labels[0].id
                                                                               if row.labels else "cl0nope"})
    assert body["errors"][0]["extensions"]["code"] == "RESOURCE_NOT_FOUND"


def test_generate_catalog_shows_every_project(capsysbinary):
    from lbmock.cli import main

    assert main(["generate", "--seed", "14", "--rows", "12", "--projects", "2", "--quality", "consensus",
                 "--catalog", "--quiet"]) == 0
    lines = capsysbinary.readouterr().out.splitlines()
    world = seeded_world(14, 12, quality="consensus", n_projects=2)
    assert [orjson.loads(x) for x in lines] == [orjson.loads(x) for x in v2_lines(world, world, ALL, Urls(),
                                                                                   ExportScope())]
    assert any(len(orjson.loads(x)["projects"]) == 2 for x in lines)


def test_masks_and_frames_of_another_projects_labels_are_served(client):
    world, http = client
    second = world.projects[1]
    row, label, _feature = next((r, lb, f) for r in world if r.in_project(second.id)
                               for lb in r.in_project(second.id).labels for f in lb.features if f.tool.kind == "mask")
    out = render_export_v2_row(second, row, ALL, Urls(api_base="http://localhost"))
    groups = out["projects"][second.id]["labels"][
        [lb.id for lb in row.in_project(second.id).labels].index(label.id)]["annotations"]["groups"].values()
    url = next(obj["mask"]["url"] for group in groups for frame in group["frames"].values()
               for obj in frame["objects"].values() if "mask" in obj)
    path = url.removeprefix("http://localhost")
    assert http.get(path, headers=KEY).status_code == 200
    assert http.get(path.replace(second.id, world.project.id), headers=KEY).status_code == 404  # not its project
    legacy = render_legacy_row(second, row, label, Urls(api_base="http://localhost"))
    records = http.get(legacy["Label"]["groups"][0]["frames"].removeprefix("http://localhost"), headers=KEY)
    assert records.status_code == 200


def test_validate_catches_seconds_to_label_without_the_creation_time():
    world = seeded_world(15, 20)
    row = next(r for r in world if r.labels)
    legacy = render_legacy_row(world.project, row, row.labels[0], Urls())
    legacy["Seconds to Label"] = legacy["Seconds to Create"] - 1
    assert any("includes creating the label" in p.message for p in validate_row(legacy, "legacy"))


@pytest.mark.parametrize("seed", [1, 7, 12])
def test_every_series_has_the_modality_its_dataset_announces(seed):
    # A "MR cardiac" row whose DICOM is CT is what a user sees first in the dashboard's row view.
    world = seeded_world(seed, 60, n_projects=2)
    for row in world:
        assert row.series.modality == medical.modality_of(row.dataset.name), (row.dataset.name, row.index)
    assert {row.series.modality for row in seeded_world(seed, 60, dicom_variants=["mr-rescale"])} == {"MR"}
