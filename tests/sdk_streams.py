"""The one way tests read an export through the SDK, as users do: the task's buffered stream."""

from __future__ import annotations

from typing import Any


def buffered(task: Any) -> list[dict]:
    """Every row of a finished export task, read with ``get_buffered_stream().start(...)``."""
    rows: list[dict] = []
    task.get_buffered_stream().start(stream_handler=lambda output: rows.append(output.json))
    return rows


def exported(project: Any, params: dict | None = None, filters: dict | None = None) -> list[dict]:
    """``project.export(params, filters)``, waited for and read: the SDK's whole walk."""
    task = project.export(params=params or {}, **({"filters": filters} if filters is not None else {}))
    task.wait_till_done()
    return buffered(task)
