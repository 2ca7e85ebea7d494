"""The ``lbmock serve`` options of the compatibility suite's servers (started by
:func:`lbmock.contract_tests.wire.start_serve`, the one helper that starts it and reads its banner)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lbmock.contract_tests.wire import ServedProcess, start_serve


@dataclass(frozen=True)
class ServeOptions:
    seed: int
    rows: int
    file_bytes: int | None = None
    timezone: str = "UTC"
    api_key: str | None = None
    project_id: str | None = None
    legacy_polls: int | None = None
    task_delay: float = 0.0
    quality: str = "none"
    projects: int = 1

    def argv(self) -> list[str]:
        args = ["--seed", str(self.seed), "--rows", str(self.rows), "--timezone", self.timezone,
                "--task-delay", str(self.task_delay)]
        if self.file_bytes is not None:
            args += ["--file-bytes", str(self.file_bytes)]
        if self.api_key is not None:
            args += ["--api-key", self.api_key]
        if self.project_id is not None:
            args += ["--project-id", self.project_id]
        if self.legacy_polls is not None:
            args += ["--legacy-polls", str(self.legacy_polls)]
        if self.quality != "none":
            args += ["--quality", self.quality]
        if self.projects != 1:
            args += ["--projects", str(self.projects)]
        return args


def start_server(options: ServeOptions, log_dir: Path, name: str, timeout: float = 60.0) -> ServedProcess:
    """``lbmock serve`` with ``options``; its banner read and /_mock/health answering."""
    return start_serve(*options.argv(), log_dir=log_dir, name=name, timeout=timeout)
