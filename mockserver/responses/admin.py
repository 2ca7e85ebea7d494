"""The mock's own endpoints, under /_mock/ (never on a Labelbox path)."""

from __future__ import annotations

import orjson
from flask import Response

from mockserver.responses.common import JSON, backend


def health() -> Response:
    be = backend()
    world = be.world
    body = {"status": "ok", "project_id": world.project.id, "rows": len(world), "seed": world.seed}
    return Response(orjson.dumps(body), mimetype=JSON)
