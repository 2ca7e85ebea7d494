"""The dashboard's HTML pages: each view gathers facts from the backend and the world and
hands them to a template (autoescaped)."""

from __future__ import annotations

from flask import Response, render_template, request
from werkzeug.exceptions import HTTPException

from lbmock.world import World
from mockserver.handlers.common import backend, json_error


def world_facts(world: World) -> dict[str, object]:
    """What names the served world: seed, rows, projects, quality mode, datasets, slices, DICOM variants."""
    variants = getattr(world.rows, "dicom_variants", ()) or ()
    return {"seed": world.seed, "rows": len(world), "quality": world.quality.value,
            "projects": world.projects, "datasets": world.datasets, "slices": world.slices,
            "dicom_variants": sorted(variants)}


def overview() -> str:
    """``GET /_mock/dashboard/``: the world at a glance."""
    world = backend().world
    return render_template("dashboard/overview.html", title="Overview", facts=world_facts(world))


def page_error(exc: HTTPException) -> Response | tuple[str, int]:
    """A dashboard error: a short HTML page (a JSON error for images), never a traceback."""
    status = exc.code or 400
    status = 400 if status >= 500 else status
    message = exc.description or exc.name
    if request.path.endswith(".png"):
        return json_error(status, message, exc.name.upper().replace(" ", "_"))
    return render_template("dashboard/error.html", title=exc.name, status=status, message=message), status
