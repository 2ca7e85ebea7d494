"""One virtualenv per labelbox SDK release, built on demand and cached.

The three releases' dependencies conflict (pydantic 1 vs 2, labelbox vs
lbox-clients), so each lives in its own venv under a cache directory:

    ${LBMOCK_COMPAT_VENVS:-~/.cache/lbmock-compat}/<release>

A venv is reused when its stamp file records the same key, a hash of the
release, the pinned requirements and the base interpreter's version.  A venv
without a stamp (for instance a symlink to a venv someone built by hand) is
adopted when the pinned distributions are installed at exactly the pinned
versions; otherwise it is rebuilt.  Builds hold an exclusive ``flock`` on
``<root>/.<release>.lock``, so concurrent pytest-xdist workers (or concurrent
test runs) never build the same venv at once: the second waits, then reuses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RELEASES = ("3.40.1", "3.72.2", "7.17.0")

# labelbox pinned exactly, plus the dependencies whose version changes what the SDK does
# (pydantic major, the HTTP stack, the retry library, lbox-clients for 7.x).  These are the
# versions resolved and verified on this project's machines (the suite installs exactly these).
_HTTP_STACK = ("requests==2.34.2", "google-api-core==2.44.0")
PINS: dict[str, tuple[str, ...]] = {
    "3.40.1": ("labelbox==3.40.1", "pydantic==1.10.27", "ndjson==0.3.1", *_HTTP_STACK),
    "3.72.2": ("labelbox==3.72.2", "pydantic==2.14.4", "python-dateutil==2.8.2", *_HTTP_STACK),
    "7.17.0": ("labelbox==7.17.0", "lbox-clients==1.1.2", "pydantic==2.14.4", *_HTTP_STACK),
}

STAMP = "lbmock-compat.json"
PIP_TIMEOUT_SECONDS = 900


class VenvError(RuntimeError):
    """The venv could not be built (pip failed, no index, ...); the message says why."""


@dataclass(frozen=True)
class SdkVenv:
    release: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def cache_root() -> Path:
    configured = os.environ.get("LBMOCK_COMPAT_VENVS")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "lbmock-compat"


def venv_key(release: str) -> str:
    material = {"release": release, "pins": sorted(PINS[release]),
                "python": list(sys.version_info[:3]), "implementation": sys.implementation.name}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(lock_path: Path):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_stamp(path: Path) -> dict | None:
    try:
        return json.loads((path / STAMP).read_text())
    except (OSError, ValueError):
        return None


def _installed_versions(python: Path, names: list[str]) -> dict[str, str | None] | None:
    """``{distribution: version or None}`` as the venv's interpreter sees them; None if it cannot run."""
    probe = ("import json, sys\nfrom importlib import metadata\nout = {}\n"
             "for name in sys.argv[1:]:\n"
             "    try:\n        out[name] = metadata.version(name)\n"
             "    except metadata.PackageNotFoundError:\n        out[name] = None\n"
             "print(json.dumps(out))\n")
    try:
        done = subprocess.run([str(python), "-c", probe, *names], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        return json.loads(done.stdout)
    except ValueError:
        return None


def satisfies_pins(python: Path, release: str) -> bool:
    pins = dict(pin.split("==", 1) for pin in PINS[release])
    found = _installed_versions(python, list(pins))
    if found is None:
        return False
    # distribution names compare case- and separator-insensitively; metadata.version normalises lookup
    return all(found.get(name) == version for name, version in pins.items())


def usable(path: Path, release: str) -> bool:
    python = path / "bin" / "python"
    if not python.exists():
        return False
    stamp = _read_stamp(path)
    if stamp is not None:
        return stamp.get("key") == venv_key(release) and satisfies_pins(python, release)
    return satisfies_pins(python, release)  # adopted: a venv built elsewhere with the same pins


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()  # never delete through a symlink: it points at someone else's venv
    elif path.exists():
        shutil.rmtree(path)


def _run(cmd: list[str], what: str, log: Path) -> None:
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        try:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=PIP_TIMEOUT_SECONDS,
                                  env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        except subprocess.TimeoutExpired:
            raise VenvError(f"{what} timed out after {PIP_TIMEOUT_SECONDS} s; see {log}") from None
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise VenvError(f"{what} failed (exit {done.returncode}); see {log}. Last output:\n{tail}")


def build(release: str, path: Path) -> None:
    """Create the venv at ``path`` with ``python -m venv`` and pip-install the pins."""
    _remove(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.parent / f"{release}.build.log"
    log.write_text("")
    _run([sys.executable, "-m", "venv", str(path)], f"creating the venv for labelbox {release}", log)
    pins = list(PINS[release])
    _run([str(path / "bin" / "python"), "-m", "pip", "install", "--no-input", "--retries", "2", "--timeout", "60",
          *pins],
         f"pip install {' '.join(pins)} (needs the package index, e.g. PyPI, to be reachable)", log)
    if not satisfies_pins(path / "bin" / "python", release):
        raise VenvError(f"after pip install, the venv for labelbox {release} does not hold {pins}; see {log}")
    (path / STAMP).write_text(json.dumps({"key": venv_key(release), "release": release, "pins": pins}, indent=1))


def ensure_venv(release: str, root: Path | None = None) -> SdkVenv:
    """The venv for ``release``, built if missing or stale; safe under concurrency."""
    if release not in PINS:
        raise ValueError(f"unknown labelbox release {release!r}; known: {', '.join(RELEASES)}")
    root = root or cache_root()
    path = root / release
    with _locked(root / f".{release}.lock"):
        if not usable(path, release):
            build(release, path)
    return SdkVenv(release, path)
