"""``client.get_projects`` and ``client.get_datasets`` through labelbox 3.40.1, 3.72.2 and 7.17.0.

Every release lists with the same query (``Client._get_all``: ``projects(where: ... skip: %d
first: %d)``, offset pages of 100 until a page comes back short, ``deleted == False`` added to any
``where``).  The driver (``drivers/sdk_projects.py``) runs against a five-project world in which two
projects share a name; it also lists with the SDK's own page size set to 2 and to 5, so its paging
crosses page boundaries as it would past 100 projects.
"""

from __future__ import annotations

from support import flow, releases

ALL = releases("3.40.1", "3.72.2", "7.17.0")


@ALL
def test_every_project_is_listed_with_the_fields_get_project_gives(projects_doc, projects_world, release):
    listed = flow(projects_doc["flows"], "projects")["projects"]
    assert [(p["uid"], p["name"], p["description"]) for p in listed] == [
        (p.id, p.name, p.description) for p in projects_world.projects]
    for record in listed:
        single = dict(flow(projects_doc["flows"], f"get_project:{record['uid']}"))
        del single["seconds"]
        assert record == single


@ALL
def test_where_filters_by_name_and_id(projects_doc, projects_world, release):
    flows = projects_doc["flows"]
    for name in projects_doc["plan"]["names"]:
        assert flow(flows, f"named:{name}")["uids"] == [p.id for p in projects_world.projects if p.name == name]
    assert any(len(flow(flows, f"named:{name}")["uids"]) == 2 for name in projects_doc["plan"]["names"])
    for project in projects_world.projects:
        assert flow(flows, f"by_id:{project.id}")["uids"] == [project.id]
    first = projects_world.projects[0]
    assert flow(flows, "name_and_id:0")["uids"] == [first.id]
    assert flow(flows, "name_and_id:1")["uids"] == []  # a name and another project's id: nothing
    assert flow(flows, "unknown_name")["uids"] == []


@ALL
def test_the_sdk_pages_across_page_boundaries(projects_doc, projects_world, release):
    everyone = [p.id for p in projects_world.projects]
    assert len(everyone) == 5
    two = flow(projects_doc["flows"], "pages:2")
    assert two["uids"] == everyone
    assert two["requests"] == [[0, 2], [2, 2], [4, 2]]  # the third page is short: the SDK stops
    five = flow(projects_doc["flows"], "pages:5")
    assert five["uids"] == everyone
    assert five["requests"] == [[0, 5], [5, 5]]  # a full page: the SDK asks once more and gets none


@ALL
def test_an_unsupported_filter_raises_invalid_query_error_saying_what(projects_doc, release):
    record = flow(projects_doc["flows"], "unsupported")
    assert "returned" not in record, record
    raised = record["raised"]
    module = "lbox.exceptions" if release.startswith("7.") else "labelbox.exceptions"
    assert (raised["module"], raised["type"]) == (module, "InvalidQueryError")
    assert "`description` is not supported" in raised["message"]
    assert "by name and id" in raised["message"]


@ALL
def test_datasets_are_listed_and_filtered_by_name(projects_doc, projects_world, release):
    flows = projects_doc["flows"]
    listed = flow(flows, "datasets")["datasets"]
    assert [(d["uid"], d["name"], d["row_count"]) for d in listed] == [
        (d.id, d.name, projects_world.row_count(d.id)) for d in projects_world.datasets]
    for record in listed:
        single = dict(flow(flows, f"get_dataset:{record['uid']}"))
        del single["seconds"]
        assert record == single
    for dataset in projects_world.datasets:
        assert flow(flows, f"datasets_named:{dataset.name}")["uids"] == [
            d.id for d in projects_world.datasets if d.name == dataset.name]
