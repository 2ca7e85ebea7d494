"""The user's code under test: it reads a Labelbox project and another HTTP API."""

from __future__ import annotations

import labelbox
import requests


def project_report(client: labelbox.Client, project_id: str) -> dict:
    project = client.get_project(project_id)
    sky = requests.get("https://weather.example.org/today", timeout=10).json()["sky"]
    return {"project": project.name, "sky": sky}
