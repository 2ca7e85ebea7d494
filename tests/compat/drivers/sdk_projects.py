"""Drive one labelbox SDK release through ``client.get_projects`` and ``get_datasets``; print one JSON document.

Run by an SDK virtualenv's interpreter (only labelbox is installed there):

    <venv>/bin/python sdk_projects.py BASE_URL API_KEY PROJECT_ID < plan.json

The plan names ``project_ids``, ``names`` (project names to filter by), ``name_and_id`` ([name, id]
pairs), ``dataset_names`` and ``page_sizes``.  The flows: ``projects`` (every project, each with every
field its release's ``Project`` reads) and ``get_project:<id>`` (the same through ``client.get_project``),
``named:<name>``, ``by_id:<id>``, ``name_and_id:<i>`` (a pair joined with &), ``unknown_name``,
``unsupported`` (``Project.description == ...``: what the SDK raises), ``pages:<n>`` (every project with
the SDK's own page size set to n, and the ``skip``/``first`` of each request it sent), ``datasets`` with
``get_dataset:<id>``, and ``datasets_named:<name>``.
"""

from __future__ import annotations

import datetime
import re
import sys

import driverlib as lib
import labelbox
import labelbox.pagination
from labelbox import Dataset, Project

PAGING = re.compile(r"skip: (\d+) first: (\d+)")


def jsonable(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return getattr(value, "value", value)  # enums (queue mode, media type) by their wire value


def fields(entity) -> dict:
    """Every field the release's class reads from the answer, as the SDK parsed it."""
    return {f.name: jsonable(getattr(entity, f.name)) for f in type(entity).fields()}


def main() -> dict:
    plan, flows, doc, client = lib.begin(sys.argv[1:])
    ids, names = plan["project_ids"], plan["names"]

    with flows.flow("projects") as rec:
        rec["projects"] = [fields(p) for p in client.get_projects()]
    for pid in ids:
        with flows.flow(f"get_project:{pid}") as rec:
            rec.update(fields(client.get_project(pid)))
    for name in names:
        with flows.flow(f"named:{name}") as rec:
            rec["uids"] = [p.uid for p in client.get_projects(where=Project.name == name)]
    for pid in ids:
        with flows.flow(f"by_id:{pid}") as rec:
            rec["uids"] = [p.uid for p in client.get_projects(where=Project.uid == pid)]
    for i, (name, pid) in enumerate(plan.get("name_and_id", [])):
        with flows.flow(f"name_and_id:{i}") as rec:
            rec["uids"] = [p.uid for p in client.get_projects(where=(Project.name == name) & (Project.uid == pid))]
    with flows.flow("unknown_name") as rec:
        rec["uids"] = [p.uid for p in client.get_projects(where=Project.name == "no such project")]
    with flows.flow("unsupported") as rec:
        try:
            rec["returned"] = [p.uid for p in client.get_projects(where=Project.description == "x")]
        except Exception as exc:
            rec["raised"] = lib.error_info(exc)

    sent: list[list[int]] = []
    execute = client.execute

    def counting(query, *args, **kwargs):
        found = PAGING.search(query or "")
        if found:
            sent.append([int(found[1]), int(found[2])])
        return execute(query, *args, **kwargs)

    client.execute = counting
    default = labelbox.pagination._PAGE_SIZE
    for size in plan.get("page_sizes", []):
        with flows.flow(f"pages:{size}") as rec:
            sent.clear()
            labelbox.pagination._PAGE_SIZE = size  # the SDK's own paging, across page boundaries
            try:
                rec["uids"] = [p.uid for p in client.get_projects()]
            finally:
                labelbox.pagination._PAGE_SIZE = default
            rec["requests"] = list(sent)
    client.execute = execute

    with flows.flow("datasets") as rec:
        rec["datasets"] = [fields(d) for d in client.get_datasets()]
        for listed in rec["datasets"]:
            with flows.flow(f"get_dataset:{listed['uid']}") as got:
                got.update(fields(client.get_dataset(listed["uid"])))
    for name in plan.get("dataset_names", []):
        with flows.flow(f"datasets_named:{name}") as rec:
            rec["uids"] = [d.uid for d in client.get_datasets(where=Dataset.name == name)]
    return doc


if __name__ == "__main__":
    lib.run_driver(main, getattr(labelbox, "__version__", None))
