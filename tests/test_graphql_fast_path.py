"""The SDK's ``exportFileFromOffset`` query answered outside Flask and graphql-core
(``handlers/graphql.file_from_offset_fast``): byte for byte what the general path answers, the
same journal entry, and every other request left to the general path."""

from __future__ import annotations

import json

import mocks
import pytest
from flask import Flask
from werkzeug.test import Client

from lbmock.contract_tests.wire import FlaskTransport, WireClient
from lbmock.mockserver.handlers.graphql import SDK_FILE_FROM_OFFSET
from lbmock.strategies import seeded_world

KEY = "Bearer test-key"


@pytest.fixture(scope="module")
def app():
    return mocks.app(seeded_world(4, 40), file_bytes=20_000)


@pytest.fixture(scope="module")
def task(app):
    """A completed export of every row, read once (so its plan exists): (task id, stream size)."""
    walker = WireClient(FlaskTransport(app.test_client()), "test-key", app.extensions["lbmock"].world.project.id,
                        poll_interval=0)
    task_id = walker.create_export()
    walked = walker.stream(task_id)
    assert len(walked.files) > 2, "the test wants several files"
    return task_id, len(walked.data)


def post(client: Client, body: bytes | str, key: str | None = KEY, **extra: str):
    headers = {"Content-Type": "application/json", **({"Authorization": key} if key else {}), **extra}
    return client.post("/graphql", data=body, headers=headers)


def sdk_body(task_id: str, offset: object, stream: str = "RESULT", query: str = SDK_FILE_FROM_OFFSET, **more) -> str:
    """What labelbox 7.17.0 sends (``json.dumps`` of query and variables)."""
    return json.dumps({"query": query, "variables": {"where": {"id": task_id}, "streamType": stream,
                                                     "offset": offset}, **more})


def both(app: Flask, body: bytes | str, **kw):
    """The answer through the app as served (fast path installed) and through Flask alone, and
    the journal entry each left."""
    journal = app.extensions["lbmock"].journal
    answers = []
    for client in (Client(app.wsgi_app), Client(Flask.wsgi_app.__get__(app))):
        before = len(journal.entries())
        reply = post(client, body, **kw)
        entries = journal.entries()[before:]
        answers.append((reply.status_code, reply.headers.get("Content-Type"), reply.get_data(),
                        [(e.method, e.path, e.operation, e.variables, e.status) for e in entries]))
    return answers


def test_every_file_of_a_stream_is_answered_as_the_general_path_does(app, task):
    task_id, size = task
    offset, files = 0, 0
    while offset < size:
        fast, general = both(app, sdk_body(task_id, str(offset)))
        assert fast == general
        assert fast[0] == 200 and fast[3][0][2] == "GetExportFileFromOffsetPyApi"
        offset = json.loads(fast[2])["data"]["task"]["exportFileFromOffset"]["offsets"]["end"] + 1
        files += 1
    # an offset inside a file answers that file
    fast, general = both(app, sdk_body(task_id, str(size - 1)))
    assert fast == general and fast[0] == 200
    assert files > 2


@pytest.mark.parametrize("case", ["past the end", "errors stream", "unknown task", "offset as a number",
                                  "offset not digits", "another key", "no key", "operation name",
                                  "spaced document", "extra variable", "not json"])
def test_anything_else_is_answered_by_the_general_path(app, task, case):
    task_id, size = task
    body, kw = sdk_body(task_id, "0"), {}
    if case == "past the end":
        body = sdk_body(task_id, str(size))
    elif case == "errors stream":
        body = sdk_body(task_id, "0", "ERRORS")
    elif case == "unknown task":
        body = sdk_body("ckunknowntask0000000000000", "0")
    elif case == "offset as a number":
        body = sdk_body(task_id, 0)
    elif case == "offset not digits":
        body = sdk_body(task_id, "-1")
    elif case == "another key":
        kw = {"key": "Bearer another-key"}  # tasks are per client
    elif case == "no key":
        kw = {"key": None}
    elif case == "operation name":
        body = sdk_body(task_id, "0", operationName="Other")
    elif case == "spaced document":
        body = sdk_body(task_id, "0", query=SDK_FILE_FROM_OFFSET.replace("{task", "{ task"))
    elif case == "extra variable":
        body = json.dumps({"query": SDK_FILE_FROM_OFFSET, "variables": {"where": {"id": task_id},
                                                                        "streamType": "RESULT", "offset": "0",
                                                                        "x": 1}})
    elif case == "not json":
        body = b"{" + sdk_body(task_id, "0").encode()
    fast, general = both(app, body, **kw)
    assert fast == general


def test_a_fault_or_a_stub_sends_the_query_the_general_way(app, task):
    backend = app.extensions["lbmock"]
    task_id, _size = task
    backend.faults.add("rate-limit", times=1)
    try:
        status = post(Client(app.wsgi_app), sdk_body(task_id, "0")).status_code
    finally:
        backend.faults.clear()
    assert status == 429
    stub = backend.stubs.add({"data": {"task": None}}, operation="GetExportFileFromOffsetPyApi", times=1)
    try:
        reply = post(Client(app.wsgi_app), sdk_body(task_id, "0"))
    finally:
        backend.stubs.remove(stub.id)
    assert reply.status_code == 200 and reply.get_json() == {"data": {"task": None}}


def test_the_sdk_query_skips_graphql_core(app, task, monkeypatch):
    import lbmock.mockserver.handlers.graphql as handler

    def not_here(*_args, **_kw):
        raise AssertionError("the general path ran")

    monkeypatch.setattr(handler, "run_graphql", not_here)
    reply = post(Client(app.wsgi_app), sdk_body(task[0], "0"))
    assert reply.status_code == 200
    assert reply.get_json()["data"]["task"]["exportFileFromOffset"]["offsets"]["start"] == 0
