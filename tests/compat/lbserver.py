"""Run ``lbmock serve`` as a subprocess for the compatibility suite."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SERVING = re.compile(r"lbmock: serving seed (\d+), (\d+) rows at (http://\S+)")
PROJECT = re.compile(r"lbmock: project id (\S+)")


@dataclass(frozen=True)
class ServerConfig:
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
        args = ["serve", "--port", "0", "--seed", str(self.seed), "--rows", str(self.rows),
                "--timezone", self.timezone, "--task-delay", str(self.task_delay)]
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


@dataclass
class RunningServer:
    config: ServerConfig
    process: subprocess.Popen
    base_url: str
    project_id: str
    log: Path
    banner: str = field(repr=False, default="")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(config: ServerConfig, log_dir: Path, name: str, timeout: float = 60.0) -> RunningServer:
    """Start ``python -m lbmock.cli serve --port 0 ...``, parse its banner, wait for /_mock/health."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.stdout", log_dir / f"{name}.stderr"
    cmd = [sys.executable, "-m", "lbmock.cli", *config.argv()]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    base = project = None
    try:
        while base is None or project is None:
            text = out_path.read_text(errors="replace")
            serving, pid = SERVING.search(text), PROJECT.search(text)
            if serving and pid:
                base, project = serving.group(3), pid.group(1)
                break
            if process.poll() is not None:
                raise RuntimeError(f"lbmock serve exited with {process.returncode} before serving: {cmd}\n"
                                   f"stdout: {text}\nstderr: {err_path.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"lbmock serve printed no banner within {timeout} s: {cmd}")
            time.sleep(0.05)
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_mock/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lbmock serve at {base} never answered /_mock/health\n"
                                   f"stderr: {err_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        raise
    return RunningServer(config, process, base, project, err_path, out_path.read_text())
