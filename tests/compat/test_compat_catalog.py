"""Worlds shaped like real projects, through labelbox 3.72.2 and 7.17.0 (issue 12's "Done when").

The driver (``drivers/sdk_catalog.py``) runs against ``lbmock serve --quality
consensus --projects 2``: project exports, ``Dataset.export``/``export_v2``,
``DataRow.export``, ``client.get_catalog().export``, ``Slice.export``, the
object queries behind them, and 3.72.2's ``export_labels``.  Everything the
SDK returns is compared with the same world rendered in-process.
"""

from __future__ import annotations

import json

import pytest
from expected import server_urls
from support import flow, releases

from lbmock.export import ExportFilters, ExportScope, catalog_scope, selected_rows, v2_lines
from lbmock.render.v2 import ExportParams
from lbmock.world import QualityMode

CATALOG = releases("3.72.2", "7.17.0")
PARAMS = ExportParams(attachments=True, metadata_fields=True, data_row_details=True, project_details=True,
                      label_details=True, performance_details=True, embeddings=True)


def rendered(world, filters: ExportFilters, scope: ExportScope, base_url: str) -> list[dict]:
    rows = selected_rows(world, filters, scope)
    return [json.loads(line) for line in v2_lines(world, rows, PARAMS, server_urls(base_url), scope)]


def labels_of(row: dict, project_id: str) -> list[dict]:
    return row["projects"][project_id]["labels"]


@CATALOG
def test_projects_report_their_quality_mode(catalog, quality_world, release):
    assert quality_world.quality is QualityMode.CONSENSUS and len(quality_world.projects) == 2
    for project in quality_world.projects:
        record = flow(catalog["flows"], f"get_project:{project.id}")
        assert record["name"] == project.name
        if release == "7.17.0":  # 3.72.2 does not ask for the flags
            assert (record["consensus"], record["benchmark"]) == (True, False)


@CATALOG
def test_project_export_has_rows_labelled_several_times_with_scores(catalog, quality_world, release):
    base = catalog["base_url"]
    for project in quality_world.projects:
        rows = flow(catalog["flows"], f"project_export:{project.id}")["rows"]
        assert rows == rendered(quality_world, ExportFilters(), ExportScope(project_id=project.id), base)
        assert all(set(row["projects"]) == {project.id} for row in rows)  # a project export shows only itself
        several = [row for row in rows if len(labels_of(row, project.id)) > 1]
        assert several, f"no row of {project.id} has more than one label"
        for row in several:
            authors = [lb["label_details"]["created_by"] for lb in labels_of(row, project.id)]
            assert len(set(authors)) == len(authors), "consensus labels come from different labellers"
            for label in labels_of(row, project.id):
                assert 0 <= label["performance_details"]["consensus_score"] <= 1


@CATALOG
def test_dataset_export_shows_projects_only_when_asked(catalog, quality_world, release):
    """Issue 25.2: neither ``project_ids`` nor ``all_projects`` -> empty ``projects``; ``project_ids``
    -> those projects; ``all_projects=True`` -> every project (below)."""
    base, flows = catalog["base_url"], catalog["flows"]
    dataset = quality_world.datasets[0]
    filters = ExportFilters(dataset_ids=frozenset({dataset.id}))
    plain = flow(flows, "dataset_export")["rows"]
    assert plain == rendered(quality_world, filters, catalog_scope(), base) and plain
    assert all(row["projects"] == {} for row in plain)
    assert flow(flows, "dataset_export_v2")["rows"] == plain
    picked = catalog["plan"]["project_ids"][1:]
    rows = flow(flows, "dataset_export_project_ids")["rows"]
    assert rows == rendered(quality_world, filters, catalog_scope(picked), base)
    assert any(row["projects"] for row in rows) and all(set(row["projects"]) <= set(picked) for row in rows)


@CATALOG
def test_model_runs_raise_the_sdks_own_exceptions(catalog, release):
    """Issue 25.3: an unknown model run is ResourceNotFoundError; ``model_run_ids`` in a catalog-side
    export is OperationNotAllowedException naming the run (model-run export: "Not supported yet")."""
    module = "lbox.exceptions" if release.startswith("7.") else "labelbox.exceptions"
    raised = flow(catalog["flows"], "get_model_run_unknown")["raised"]
    assert (raised["module"], raised["type"]) == (module, "ResourceNotFoundError"), raised["traceback"]
    raised = flow(catalog["flows"], "dataset_export_model_run_ids")["raised"]
    assert (raised["module"], raised["type"]) == (module, "OperationNotAllowedException"), raised["traceback"]
    assert "cl0no0such0run" in raised["message"] and "not supported for DICOM" in raised["message"]


@CATALOG
def test_dataset_export_with_all_projects_holds_every_project_that_labelled_a_row(catalog, quality_world, release):
    base, flows = catalog["base_url"], catalog["flows"]
    dataset = quality_world.datasets[0]
    filters = ExportFilters(dataset_ids=frozenset({dataset.id}))
    expected = rendered(quality_world, filters, catalog_scope(all_projects=True), base)
    assert flow(flows, "get_dataset")["name"] == dataset.name
    rows = flow(flows, "dataset_export_all_projects")["rows"]
    assert rows == expected and rows
    both = {p.id for p in quality_world.projects}
    labelled_in_both = [r for r in rows if set(r["projects"]) == both
                        and all(labels_of(r, pid) for pid in both)]
    assert labelled_in_both, "no row of the dataset is labelled in both projects"
    picked = catalog["plan"]["filters"]["data_row_ids"]
    assert flow(flows, "dataset_export_filtered")["ids"] == [
        r["data_row"]["id"] for r in expected if r["data_row"]["id"] in picked]


@CATALOG
def test_some_rows_lack_external_id_or_global_key(catalog, quality_world, release):
    rows = flow(catalog["flows"], "catalog_export")["rows"]
    assert rows == rendered(quality_world, ExportFilters(), catalog_scope(), catalog["base_url"])
    assert any("external_id" not in r["data_row"] for r in rows)
    assert any("global_key" not in r["data_row"] for r in rows)
    assert any("external_id" not in r["data_row"] and "global_key" not in r["data_row"] for r in rows)


@CATALOG
def test_no_attachment_has_a_type_the_sdk_rejects(catalog, release):
    record = flow(catalog["flows"], "attachment_types")
    assert record["seen"] and "TEXT" not in record["seen"]
    assert record["rejected"] == []


@CATALOG
def test_precomputed_embedding_is_clip_with_512_dimensions(catalog, release):
    for row in flow(catalog["flows"], "catalog_export")["rows"]:
        (embedding,) = row["embeddings"]
        assert embedding["name"] == "Image Embedding V2 (CLIP ViT-B/32)"
        assert embedding["id"] == "c200000000000000000000000"
        assert embedding["dimensions"] == 512 == len(embedding["values"][0]["value"])


@CATALOG
def test_data_row_export_by_ids_keys_and_unknown_ids(catalog, quality_world, release):
    flows, plan = catalog["flows"], catalog["plan"]
    world_order = [r.id for r in quality_world]
    assert flow(flows, "data_row_export")["ids"] == [i for i in world_order if i in plan["data_row_ids"]]
    by_key = {r.global_key: r.id for r in quality_world if r.global_key is not None}
    wanted = {by_key[k] for k in plan["global_keys"]}
    assert flow(flows, "data_row_export_keys")["ids"] == [i for i in world_order if i in wanted]
    unknown = flow(flows, "data_row_export_unknown")
    assert unknown["status"] == "COMPLETE" and unknown["total_lines"] is None and unknown["ids"] == []


@CATALOG
def test_get_data_row_reports_missing_ids_as_none(catalog, quality_world, release):
    by_id = {r.id: r for r in quality_world}
    for row_id in catalog["plan"]["data_row_ids"]:
        record = flow(catalog["flows"], f"get_data_row:{row_id}")
        row = by_id[row_id]
        assert (record["external_id"], record["global_key"]) == (row.external_id, row.global_key)
        # rowData: the row's DICOM file on this server, signed (compared with the placeholder signature)
        assert record["row_data"] == server_urls(catalog["base_url"]).row_data(quality_world.project.organization.id,
                                                                               row)


@CATALOG
def test_catalog_export_project_ids_shows_only_those_projects(catalog, quality_world, release):
    second = quality_world.projects[1].id
    rows = flow(catalog["flows"], "catalog_export_project_ids")["rows"]
    scope = catalog_scope([second])
    assert rows == rendered(quality_world, ExportFilters(), scope, catalog["base_url"])
    assert all(set(r["projects"]) <= {second} for r in rows)
    assert len(rows) == len(quality_world)  # project_ids narrows what rows show, not which rows


@CATALOG
def test_slices_export_their_rows(catalog, quality_world, release):
    assert len(quality_world.slices) >= 2
    for saved in quality_world.slices:
        record = flow(catalog["flows"], f"slice:{saved.id}")
        assert record["name"] == saved.name
        filters = ExportFilters(dataset_ids=saved.dataset_ids, statuses=saved.statuses)
        assert record["rows"] == rendered(quality_world, filters, catalog_scope(), catalog["base_url"])
        assert record["rows"], f"slice {saved.name!r} is empty"
    if release == "7.17.0":
        listed = flow(catalog["flows"], "slices")["slices"]
        assert [s["uid"] for s in listed] == [s.id for s in quality_world.slices]


@pytest.mark.parametrize("release", ["3.72.2"], ids=["lb3.72.2"])
def test_export_labels_seconds_to_label_and_agreement(catalog, quality_world, release):
    for project in quality_world.projects:
        labels = flow(catalog["flows"], f"legacy:{project.id}")["labels"]
        world_labels = {lb.id: lb for row in quality_world if row.in_project(project.id)
                        for lb in row.in_project(project.id).labels}
        assert [lb["ID"] for lb in labels] == list(world_labels)
        for legacy in labels:
            label = world_labels[legacy["ID"]]
            assert legacy["Seconds to Label"] == pytest.approx(label.seconds_to_create + label.seconds_to_review)
        assert any(lb["Seconds to Label"] != int(lb["Seconds to Label"]) for lb in labels), "never fractional"
        agreements = [lb["Agreement"] for lb in labels if lb["Agreement"] != -1]
        assert agreements and all(0 <= a <= 1 for a in agreements)
