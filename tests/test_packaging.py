"""What users install works on its own.

The wheel ships lbmock's data folder, no top-level `fixtures`, and the plugin; installed WITHOUT
extras into a fresh venv (plus only pytest, pytest-xdist and the SDK), its CLI runs and the
installed contract suite passes from an empty folder against the mock and the server, with xdist
too. This needs PyPI (CI has it); pip gets generous timeouts and retries.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BARE_EXTRAS = ["pytest", "pytest-xdist", "labelbox==7.17.0"]  # what a user adds to `pip install lbmock`
PLUGIN_FIXTURES = ("lb_world", "lb_mock", "lb_server", "lb_target")
NETWORK_TROUBLE = re.compile(r"NewConnectionError|ConnectTimeout|ReadTimeout|Temporary failure in name resolution|"
                             r"Connection (reset|refused|aborted)|ProtocolError|IncompleteRead|HTTP error 5\d\d")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (built,) = out.glob("lbmock-*.whl")
    return built


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"lbmock", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, tops  # one name
    for schema in ("export_v2_dicom_row", "legacy_row", "frame_record"):
        assert f"lbmock/fixtures/schemas/{schema}.schema.json" in names
    assert "lbmock/fixtures/samples/v2_project_export_row.json" in names
    assert "lbmock/faker_pools.json" in names and "lbmock/mockserver/gql/schema.graphql" in names
    assert "lbmock/py.typed" in names and "lbmock/__main__.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    for shipped in ("templates/dashboard/base.html", "static/dashboard.css", "static/dashboard.js"):
        assert f"lbmock/mockserver/dashboard/{shipped}" in names  # the dashboard works offline from the wheel
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "lbmock = lbmock.contract_tests.plugin" in entry_points and "lbmock = lbmock.cli:main" in entry_points


def test_sdist_holds_the_license_and_builds_the_same_wheel(wheel, tmp_path):
    done = subprocess.run([sys.executable, "-m", "build", "--sdist", "-o", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    import tarfile

    (sdist,) = tmp_path.glob("lbmock-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "tests/test_packaging.py"} <= members
    rebuilt = tmp_path / "from-sdist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(rebuilt), str(sdist)],
                   check=True, capture_output=True, timeout=600)
    (again,) = rebuilt.glob("lbmock-*.whl")
    assert sorted(zipfile.ZipFile(again).namelist()) == sorted(zipfile.ZipFile(wheel).namelist())


def _env() -> dict[str, str]:
    """The environment of a user's shell: none of the outer pytest's, xdist's or venv's variables, no key."""
    drop = ("PYTEST_", "LABELBOX_", "COV_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _run(argv: list[str], cwd: Path, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, **kwargs)


def _bare_venv(wheel: Path, where: Path) -> Path:
    """A fresh venv holding the wheel without extras, plus BARE_EXTRAS; its bin folder."""
    venv.EnvBuilder(with_pip=False).create(where)  # this pip installs into it: 9 s less than ensurepip
    bindir = where / ("Scripts" if os.name == "nt" else "bin")
    install = [sys.executable, "-m", "pip", "--python", str(bindir / "python"), "install", "-q", "--no-compile",
               "--disable-pip-version-check", "--timeout", "120", "--retries", "10", str(wheel), *BARE_EXTRAS]
    for _attempt in range(2):  # a second try rides out a transient mirror or network hiccup
        done = _run(install, cwd=where, timeout=1800)
        if done.returncode == 0:
            return bindir
    output = done.stdout + done.stderr
    if NETWORK_TROUBLE.search(output):  # the network, not lbmock: say so rather than turn CI red
        pytest.skip(f"PyPI unreachable while building the bare venv: {output[-1500:]}")
    pytest.fail(f"pip could not install the wheel without extras:\n{output[-4000:]}")


def _passed(done: subprocess.CompletedProcess, what: str) -> int:
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, f"{what}: exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    assert not re.search(r"failed|error", summary), f"{what}: {summary}"
    assert "skipped" not in summary, (f"{what}: {summary}: a contract test found nothing to check in the plugin's "
                                      "default world; give --lb-seed a default whose world has it")
    return int(re.search(r"(\d+) passed", summary).group(1))


def test_bare_install_runs_the_cli_and_the_installed_contract_suite(wheel, tmp_path_factory):
    bindir = _bare_venv(wheel, tmp_path_factory.mktemp("bare") / "venv")
    # A user's project: no conftest, no ini file, no source tree around, but modules of its own
    # under the generic names lbmock once installed at the top (they must not clash).
    empty = tmp_path_factory.mktemp("project")
    for own in ("strategies.py", "mockserver.py", "contract_tests.py"):
        (empty / own).write_text("raise ImportError('the user\'s own module was imported by lbmock')\n")
    (empty / "fixtures").mkdir()
    (empty / "fixtures" / "__init__.py").write_text("raise ImportError('the user\'s own fixtures package')\n")

    shown = _run([str(bindir / "lbmock"), "--version"], cwd=empty)
    assert shown.returncode == 0 and shown.stdout.strip() == f"lbmock {version('lbmock')}", shown
    as_module = _run([str(bindir / "python"), "-m", "lbmock", "--version"], cwd=empty)
    assert as_module.returncode == 0 and as_module.stdout.strip() == shown.stdout.strip(), as_module
    generated = _run([str(bindir / "lbmock"), "generate", "--rows", "3", "--quiet"], cwd=empty)
    assert generated.returncode == 0 and len(generated.stdout.splitlines()) == 3, generated.stderr
    checked = _run([str(bindir / "lbmock"), "validate", "-"], cwd=empty, input=generated.stdout)
    assert checked.returncode == 0 and checked.stdout.startswith("OK: 3 rows"), checked

    pytest_cmd = [str(bindir / "python"), "-m", "pytest", "--pyargs", "lbmock.contract_tests", "-q"]
    counts = {}
    for target in ("mock", "server"):
        counts[target] = _passed(_run([*pytest_cmd, f"--lb-target={target}"], cwd=empty), f"--lb-target={target}")
    parallel = _run([*pytest_cmd, "--lb-target=mock", "-n", "2"], cwd=empty)
    counts["mock -n 2"] = _passed(parallel, "--lb-target=mock -n 2")
    assert "bringing up nodes" in parallel.stdout  # xdist really ran it
    assert len(set(counts.values())) == 1 and counts["mock"] > 20, counts

    listed = _run([str(bindir / "python"), "-m", "pytest", "--fixtures"], cwd=empty)
    assert listed.returncode == 0, listed.stderr
    for name in PLUGIN_FIXTURES:  # `name -- path:line`, then exactly one indented line saying what it gives
        entry = re.search(rf"^{name}(?: \[[^\]]*\])? -- .*\n    (\S.*)\n(?!    \S)", listed.stdout, re.M)
        assert entry and len(entry.group(1)) > 20, f"pytest --fixtures: {name} lacks a one-line description"
