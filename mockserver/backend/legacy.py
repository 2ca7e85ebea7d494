"""Legacy ``exportLabels`` exports: one per client and window, polled until ready, then
served from cache on the next call with the same filters (as Labelbox does)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lbmock.export import LegacyWindow
from lbmock.mockserver.backend.state_manager import Transition
from lbmock.mockserver.backend.tasks import range_from
from lbmock.mockserver.exports.job import range_json
from lbmock.render.common import Urls


@dataclass
class LegacyExport:
    id: str
    window: LegacyWindow
    urls: Urls
    transition: Transition = field(default_factory=Transition.immediate)  # its legacy-export progression
    started: float = field(default_factory=time.time)  # wall-clock epoch s of the first poll
    polls: int = 0  # exportLabels calls so far, this one included
    project_id: str | None = None  # None: the world's first project

    def key(self) -> dict:
        """What identifies the export for its client: the same window and links reuse it."""
        return {"created": range_json(self.window.created), "last_activity": range_json(self.window.last_activity),
                "urls": self.urls.to_json(), "project_id": self.project_id}

    def spec(self) -> dict:
        return {**self.key(), "transition": self.transition.to_json(), "started": self.started}

    @classmethod
    def from_spec(cls, export_id: str, spec: dict, polls: int = 0) -> LegacyExport:
        window = LegacyWindow(range_from(spec["created"]), range_from(spec["last_activity"]))
        return cls(export_id, window, Urls(**spec["urls"]), Transition.from_json(spec["transition"]),
                   spec["started"], polls, spec.get("project_id"))

    def ready(self, now: float | None = None) -> bool:
        """Whether this poll hands out the download URL (else: ``shouldPoll``)."""
        return self.transition.progress(self.polls, (time.time() if now is None else now) - self.started) >= 1.0
