"""The one way tests and benchmarks start ``lbmock serve`` in its own process and read its banner."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SERVING = re.compile(r"lbmock: serving (?:world file .*, )?(?:replay of .*, )?seed (\d+), (\d+) rows at (http://[^\s,]+)")
PROJECT = re.compile(r"lbmock: project id (\S+)")


@dataclass
class ServedProcess:
    """A running ``lbmock serve``: where it listens and what it serves."""

    process: subprocess.Popen
    base_url: str
    project_id: str
    argv: list[str]
    stdout: Path
    stderr: Path
    started: float = field(default=0.0)  # time.perf_counter() before the process was started

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def banner(self) -> str:
        return self.stdout.read_text(errors="replace")

    def client_kwargs(self, api_key: str = "any-non-empty-key") -> dict[str, str]:
        return {"api_key": api_key, "endpoint": f"{self.base_url}/graphql", "rest_endpoint": f"{self.base_url}/api/v1"}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> ServedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_serve(*args: str, log_dir: Path | None = None, name: str = "lbmock", timeout: float = 60.0,
                ready: bool = True, env: Mapping[str, str] | None = None, wrap: Sequence[str] = (),
                reach: Callable[[str], str] | None = None) -> ServedProcess:
    """``python -m lbmock.cli serve --port 0 ARGS...``; parse its banner, then (``ready``) wait for
    ``/_mock/health``.  Output goes to ``<log_dir>/<name>.stdout|.stderr`` (a temp dir by default).
    ``wrap``: a command to run it under (another network namespace's); ``reach``: the URL the test
    reaches the banner's at (from outside that namespace)."""
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="lbmock-serve-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.stdout", log_dir / f"{name}.stderr"
    argv = ["serve", "--port", "0", *args]
    cmd = [*wrap, sys.executable, "-m", "lbmock.cli", *argv]
    started = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   env=None if env is None else dict(env))
    served = ServedProcess(process, "", "", argv, out_path, err_path, started)
    deadline = time.monotonic() + timeout
    try:
        while True:
            text = out_path.read_text(errors="replace")
            serving, project = SERVING.search(text), PROJECT.search(text)
            if serving and project:
                served.base_url, served.project_id = serving.group(3), project.group(1)
                if reach is not None:
                    served.base_url = reach(served.base_url)
                break
            if process.poll() is not None:
                raise RuntimeError(f"lbmock serve exited with {process.returncode} before serving: {cmd}\n"
                                   f"stdout: {text}\nstderr: {err_path.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"lbmock serve printed no banner within {timeout} s: {cmd}")
            time.sleep(0.02)
        # with --admin-token, /_mock/health asks for it too
        token = args[args.index("--admin-token") + 1] if "--admin-token" in args[:-1] else None
        health = urllib.request.Request(f"{served.base_url}/_mock/health",
                                        headers={"X-Lbmock-Admin-Token": token} if token else {})
        while ready:
            try:
                with urllib.request.urlopen(health, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lbmock serve at {served.base_url} never answered /_mock/health\n"
                                   f"stderr: {err_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.02)
    except BaseException:
        served.stop()
        raise
    return served
