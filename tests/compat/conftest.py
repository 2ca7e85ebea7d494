"""SDK compatibility suite: the reference page's code, unmodified, through three labelbox releases.

Each release runs in its own virtualenv (``sdkvenv``), driven by plain scripts
in ``drivers/`` against ``lbmock serve`` subprocesses started here.  A driver
prints one JSON document of what the SDK observed; the tests compare it with
values computed in-process from the same seeded world.

Every test in this directory is marked ``compat`` (it runs by default;
deselect with ``-m "not compat"``).  Tests are parametrized by ``release``.
Each release's drivers run once per test session, whichever pytest-xdist
worker needs them first: the documents are shared between workers through
files under the session's base temp directory, guarded by ``flock`` (so with
``-n 2`` two releases run side by side and no driver runs twice).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import traceback
from pathlib import Path

import mocks
import pytest
from expected import RELEASES, filter_cases, legacy_cases, page_literals, unsuitable
from lbserver import ServeOptions, start_server
from ontology_worlds import schema_ids, user_ontology_world
from sdkvenv import SdkVenv, VenvError, cache_root, ensure_venv
from support import (
    AUTH_KEY,
    AUTH_PROJECT_ID,
    DRIVERS,
    FILE_BYTES,
    QUALITY_MODE,
    QUALITY_PROJECTS,
    QUALITY_ROWS,
    QUALITY_SEED,
    REFERENCE_DOC,
    ROWS,
    SEED,
    USER_TZ,
    extract_page_code,
)

from lbmock.contract_tests.wire import ServedProcess, unsigned
from lbmock.strategies.served_world import seeded_world

COMPAT_DIR = Path(__file__).resolve().parent
DRIVER_TIMEOUT = 300


@pytest.hookimpl(tryfirst=True)  # before -m selection looks at the marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        if COMPAT_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.compat)


def api_key_for(release: str) -> str:
    """One key per release: tasks and legacy exports are per key, so releases never share state."""
    return f"compat-{release}"


@contextlib.contextmanager
def _flock(path: Path, wait: bool = True):
    """Hold an exclusive lock on ``path``; with ``wait=False`` yield False at once if someone else holds it."""
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def shared_dir(request, tmp_path_factory) -> Path:
    """A directory every xdist worker of this session shares (the base temp dir's parent under xdist)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if hasattr(request.config, "workerinput") else base
    path = root / "lbmock-compat-shared"
    path.mkdir(exist_ok=True)
    return path


class SharedDocs:
    """Driver documents computed once per test session and shared by every xdist worker.

    The first worker that asks for a document computes it under an ``flock`` and writes it
    to the shared directory; the others read it back.  A worker that finds a document being
    computed elsewhere first computes another one nobody has started (``while_waiting``), so
    two workers run two releases side by side.  Failures (``pytest.fail``) are shared too:
    every worker fails the same way, without retrying.
    """

    def __init__(self, shared: Path) -> None:
        self.shared = shared
        self.memo: dict[str, dict] = {}

    def _compute_locked(self, name: str, compute) -> None:
        path, failure = self.shared / f"{name}.json", self.shared / f"{name}.failed"
        if not path.exists() and not failure.exists():
            try:
                path.write_text(json.dumps(compute()))
            except pytest.fail.Exception as exc:
                failure.write_text(str(exc))
            except Exception:  # a server that would not start, ...: report it once, everywhere
                failure.write_text(f"computing {name} failed:\n{traceback.format_exc()}")

    def try_compute(self, name: str, compute) -> None:
        """Compute ``name`` now if nobody is computing it and it is not done; never wait."""
        with _flock(self.shared / f"{name}.lock", wait=False) as locked:
            if locked:
                self._compute_locked(name, compute)

    def get(self, name: str, compute, while_waiting=None) -> dict:
        if name not in self.memo:
            lock = self.shared / f"{name}.lock"
            with _flock(lock, wait=False) as locked:
                if locked:
                    self._compute_locked(name, compute)
            if not locked:
                if while_waiting is not None:
                    while_waiting()
                with _flock(lock):
                    self._compute_locked(name, compute)
            failure = self.shared / f"{name}.failed"
            if failure.exists():
                pytest.fail(failure.read_text(), pytrace=False)
            self.memo[name] = json.loads((self.shared / f"{name}.json").read_text())
        return self.memo[name]


# ---------------------------------------------------------------- virtualenvs


@pytest.fixture(scope="session")
def sdk_venv_factory():
    """``release -> SdkVenv``: each release's venv, created or reused once per session.

    Venvs live under ``$LBMOCK_COMPAT_VENVS`` (default ``~/.cache/lbmock-compat``),
    one directory per release, keyed by a hash of the pinned requirements; builds
    take a file lock, so parallel workers never build the same venv twice.  A
    build failure (no package index, ...) FAILS the tests that need it.
    """
    built: dict[str, SdkVenv | VenvError] = {}

    def get(release: str) -> SdkVenv:
        if release not in built:
            try:
                built[release] = ensure_venv(release)
            except VenvError as exc:
                built[release] = exc
        value = built[release]
        if isinstance(value, VenvError):
            pytest.fail(f"cannot build the labelbox {release} virtualenv under {cache_root()}: {value}\n"
                        "The compatibility suite needs PyPI (or a configured index) the first time; "
                        "set LBMOCK_COMPAT_VENVS to a directory of prepared venvs to run offline.",
                        pytrace=False)
        return value

    return get


# ---------------------------------------------------------------- servers and the world


@pytest.fixture(scope="session")
def world():
    """The first seeded world from SEED on that can exercise every check (see ``expected.unsuitable``).

    Picked, not fixed, so that changes to the world strategies never leave the suite
    asserting over an empty selection; the server is started with the chosen seed.
    """
    literals = page_literals(extract_page_code(REFERENCE_DOC.read_text(encoding="utf-8")))
    reasons = {}
    for seed in range(SEED, SEED + 40):
        candidate = seeded_world(seed, ROWS)
        why = unsuitable(candidate, USER_TZ, FILE_BYTES, literals["export_params"], literals["filters"])
        if why is None:
            return candidate
        reasons[seed] = why
    pytest.fail(f"no seed in {SEED}..{SEED + 39} gives a {ROWS}-row world the suite can use: {reasons}",
                pytrace=False)


class LazyServer:
    """``lbmock serve`` started on first use (a worker that only reads shared documents never starts it)."""

    def __init__(self, config: ServeOptions, log_dir: Path, name: str, project_id: str | None = None) -> None:
        self.config, self.log_dir, self.name, self.project_id = config, log_dir, name, project_id
        self._server: ServedProcess | None = None

    def get(self) -> ServedProcess:
        if self._server is None:
            self._server = start_server(self.config, self.log_dir, self.name)
            if self.project_id is not None:
                assert self._server.project_id == self.project_id, "the server must serve the world the tests use"
        return self._server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


@pytest.fixture(scope="session")
def export_server(tmp_path_factory, world):
    """The exports server: the suite's world, several files per export, a non-UTC user timezone."""
    server = LazyServer(ServeOptions(seed=world.seed, rows=ROWS, file_bytes=FILE_BYTES, timezone=USER_TZ),
                        tmp_path_factory.mktemp("lbmock-export-server"), "export", world.project.id)
    yield server
    server.stop()


def _quality_unsuitable(world) -> str | None:
    """Why a consensus world cannot show what test_compat_catalog checks (None when it can)."""
    first, second = world.projects
    if len(world.datasets) < 2:
        return "a single dataset (a dataset export would hold every row)"
    dataset = world.datasets[0]
    in_dataset = [r for r in world if r.dataset.id == dataset.id]
    if not any(all(r.in_project(p.id) and r.in_project(p.id).labels for p in (first, second)) for r in in_dataset):
        return "no row of the first dataset is labelled in both projects"
    for p in (first, second):
        if not any(r.in_project(p.id) and len(r.in_project(p.id).labels) > 1 for r in world):
            return f"no row labelled several times in {p.id}"
    if not any(r.global_key is None and r.external_id is None for r in world):
        return "every row has an id"
    if not any(r.attachments for r in world):
        return "no attachment"
    if not all(any(r.dataset.id in (s.dataset_ids or {r.dataset.id}) and
                   (s.statuses is None or any(m.status in s.statuses for m in r.memberships)) for r in world)
               for s in world.slices):
        return "an empty slice"
    return None


@pytest.fixture(scope="session")
def quality_world():
    """The first consensus, two-project world from QUALITY_SEED on that shows every catalog check."""
    reasons = {}
    for seed in range(QUALITY_SEED, QUALITY_SEED + 20):
        candidate = seeded_world(seed, QUALITY_ROWS, quality=QUALITY_MODE, n_projects=QUALITY_PROJECTS)
        why = _quality_unsuitable(candidate)
        if why is None:
            return candidate
        reasons[seed] = why
    pytest.fail(f"no consensus world from seed {QUALITY_SEED} on suits the catalog checks: {reasons}", pytrace=False)


@pytest.fixture(scope="session")
def quality_server(tmp_path_factory, quality_world):
    """``lbmock serve --quality consensus --projects 2``: the catalog-side entry points."""
    config = ServeOptions(seed=quality_world.seed, rows=QUALITY_ROWS, quality=QUALITY_MODE,
                          projects=QUALITY_PROJECTS)
    server = LazyServer(config, tmp_path_factory.mktemp("lbmock-quality-server"), "quality", quality_world.project.id)
    yield server
    server.stop()


def catalog_plan(world) -> dict:
    rows = list(world)
    dataset = world.datasets[0]
    in_dataset = [r for r in rows if r.dataset.id == dataset.id]
    elsewhere = [r for r in rows if r.dataset.id != dataset.id]
    keyed = [r for r in rows if r.global_key is not None]
    return {
        "project_ids": [p.id for p in world.projects],
        "dataset_id": dataset.id,
        # a row without ids among them, listed out of world order
        "data_row_ids": [r.id for r in (rows[-3], next(r for r in rows if r.global_key is None
                                                       and r.external_id is None), rows[1])],
        "global_keys": [r.global_key for r in keyed[::7]],
        "slice_ids": [s.id for s in world.slices],
        "params": {"attachments": True, "metadata_fields": True, "data_row_details": True, "project_details": True,
                   "label_details": True, "performance_details": True, "embeddings": True},
        "filters": {"data_row_ids": [r.id for r in (*in_dataset[::3], *elsewhere[:2])]},
    }


@pytest.fixture(scope="session")
def catalog_factory(sdk_venv_factory, quality_server, quality_world, shared_docs):
    """``release -> driver document``: ``sdk_catalog.py`` once per release and session, with its plan."""

    def get(release: str) -> dict:
        plan = catalog_plan(quality_world)

        def run() -> dict:
            server = quality_server.get()
            return run_driver(sdk_venv_factory(release), "sdk_catalog.py",
                              [server.base_url, api_key_for(release), server.project_id], plan)

        return {**shared_docs.get(f"catalog-{release}", run), "plan": plan}

    return get


@pytest.fixture
def catalog(release, catalog_factory) -> dict:
    return catalog_factory(release)


@pytest.fixture(scope="session")
def ontology_world():
    """Two projects: the first with the user ontology of examples/world, the second a drawn one."""
    return user_ontology_world()


def ontology_plan(world) -> dict:
    return {
        "project_ids": [p.id for p in world.projects],
        "feature_schema_ids": [i for p in world.projects for i in schema_ids(p.ontology).values()],
        "unknown_ontology_id": "cl0no0such0ontology000001", "unknown_feature_schema_id": "cl0no0such0schema00000001",
        "searches": ["", "ONTOLOGY", "liver", "no such name"],
    }


def in_process_docs(sdk_venv_factory, shared_docs, world, plan: dict, script: str, name: str):
    """``release -> driver document``: ``drivers/<script>`` once per release and session (shared as
    ``<name>-<release>``), against a threaded in-process server on ``world``; the plan rides along."""

    def get(release: str) -> dict:
        def run() -> dict:
            with mocks.serving(world) as server:
                return run_driver(sdk_venv_factory(release), script,
                                  [server.base_url, api_key_for(release), server.project_id], plan)

        return {**shared_docs.get(f"{name}-{release}", run), "plan": plan}

    return get


@pytest.fixture(scope="session")
def ontology_factory(sdk_venv_factory, ontology_world, shared_docs):
    """``sdk_ontology.py`` on the world built here (one user ontology, one drawn)."""
    return in_process_docs(sdk_venv_factory, shared_docs, ontology_world, ontology_plan(ontology_world),
                           "sdk_ontology.py", "ontology")


@pytest.fixture
def ontology_doc(release, ontology_factory) -> dict:
    return ontology_factory(release)


@pytest.fixture(scope="session")
def projects_world():
    """Five projects sharing the datasets, two of them with one name: the first seed from 3 that draws it."""
    for seed in range(3, 43):
        candidate = seeded_world(seed, 6, n_projects=5)
        if len({p.name for p in candidate.projects}) < len(candidate.projects):
            return candidate
    pytest.fail("no seed in 3..42 draws two of five projects with one name", pytrace=False)


def projects_plan(world) -> dict:
    first = world.projects[0]
    other = next(p for p in world.projects if p.name != first.name)
    return {"project_ids": [p.id for p in world.projects], "names": sorted({p.name for p in world.projects}),
            "name_and_id": [[first.name, first.id], [first.name, other.id]],
            "dataset_names": [d.name for d in world.datasets],
            "page_sizes": [2, len(world.projects)]}  # a short last page; a full one, then an empty one


@pytest.fixture
def projects_doc(release, sdk_venv_factory, projects_world, shared_docs) -> dict:
    """``sdk_projects.py``'s document for ``release``, on the five-project world."""
    return in_process_docs(sdk_venv_factory, shared_docs, projects_world, projects_plan(projects_world),
                           "sdk_projects.py", "projects")(release)


@pytest.fixture(scope="session")
def auth_servers(tmp_path_factory):
    """The error-mapping servers, one per release (its driver sets faults and transitions, which are
    server-wide): only ``AUTH_KEY`` is accepted."""
    servers = {release: LazyServer(ServeOptions(seed=SEED + 1, rows=5, api_key=AUTH_KEY, project_id=AUTH_PROJECT_ID),
                                   tmp_path_factory.mktemp(f"lbmock-auth-server-{release}"), "auth", AUTH_PROJECT_ID)
               for release in RELEASES}
    yield servers
    for server in servers.values():
        server.stop()


# ---------------------------------------------------------------- drivers


def run_driver(venv: SdkVenv, script: str, args: list[str], plan: dict | None = None) -> dict:
    """Run ``drivers/<script> ARGS...`` with the venv's interpreter, the plan as JSON on stdin;
    it prints one JSON document on stdout."""
    cmd = [str(venv.python), str(DRIVERS / script), *args]
    try:
        done = subprocess.run(cmd, input=json.dumps(plan or {}), capture_output=True, text=True, cwd=DRIVERS,
                              timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} under labelbox {venv.release} ran over {DRIVER_TIMEOUT} s\n"
                    f"stderr: {(exc.stderr or '')[-3000:]}", pytrace=False)
    try:
        doc = json.loads(unsigned(done.stdout))  # signatures vary per server and task: compare without them
    except ValueError:
        pytest.fail(f"{script} under labelbox {venv.release} printed no JSON document (exit {done.returncode})\n"
                    f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-4000:]}", pytrace=False)
    if "crash" in doc:
        pytest.fail(f"{script} under labelbox {venv.release} crashed:\n{doc['crash']['traceback']}", pytrace=False)
    if doc.get("sdk_version") != venv.release:
        pytest.fail(f"{venv.path} runs labelbox {doc.get('sdk_version')}, not {venv.release}", pytrace=False)
    return doc


def flows_plan(release: str, world) -> dict:
    cases = filter_cases(world, USER_TZ)
    literals = page_literals(extract_page_code(REFERENCE_DOC.read_text(encoding="utf-8")))
    page = {"name": "page", "params": literals["export_params"], "filters": literals["filters"], "full": True}
    return {
        "reference_doc": str(REFERENCE_DOC),
        "v2_cases": [
            {"name": "params_empty", "params": {}, "filters": None, "full": True},
            {"name": "params_all", "params": dict.fromkeys(
                ("attachments", "metadata_fields", "data_row_details", "project_details", "label_details",
                 "performance_details", "embeddings", "interpolated_frames"), True), "filters": None, "full": True},
            # 3.40.1 has no streaming export: its filters go through export_v2
            *([c.to_plan() for c in cases] if release.startswith("3.40") else
              [c.to_plan() for c in cases if c.name == "workflow_InReview"]),
        ],
        "stream_cases": [page, *(c.to_plan() for c in cases)],
        "legacy_cases": legacy_cases(world),
        "with_line": 7,
    }


@pytest.fixture(scope="session")
def shared_docs(shared_dir) -> SharedDocs:
    return SharedDocs(shared_dir)


@pytest.fixture(scope="session")
def flows_factory(sdk_venv_factory, export_server, world, shared_docs):
    """``release -> driver document``: ``sdk_flows.py`` runs once per release and session."""

    def compute(release: str):
        def run() -> dict:
            venv = sdk_venv_factory(release)
            server = export_server.get()
            return run_driver(venv, "sdk_flows.py", [server.base_url, api_key_for(release), server.project_id],
                              flows_plan(release, world))

        return run

    def get(release: str) -> dict:
        def prefetch_others() -> None:
            for other in RELEASES:
                if other != release:
                    shared_docs.try_compute(f"flows-{other}", compute(other))

        return shared_docs.get(f"flows-{release}", compute(release), while_waiting=prefetch_others)

    return get


@pytest.fixture
def flows(release, flows_factory) -> dict:
    return flows_factory(release)["flows"]


@pytest.fixture
def base_url(release, flows_factory) -> str:
    """The base URL of the server the release's driver ran against (links in its exports point there)."""
    return flows_factory(release)["base_url"]


@pytest.fixture(scope="session")
def errors_factory(sdk_venv_factory, auth_servers, shared_docs):
    """``release -> driver document``: ``sdk_errors.py`` runs once per release and session."""

    def get(release: str) -> dict:
        def run() -> dict:
            venv = sdk_venv_factory(release)
            server = auth_servers[release].get()
            args = [server.base_url, AUTH_KEY, server.project_id, AUTH_KEY + "-wrong", "cl0no0such0project00000001"]
            return run_driver(venv, "sdk_errors.py", args)

        return shared_docs.get(f"errors-{release}", run)

    return get


@pytest.fixture
def errors_doc(release, errors_factory) -> dict:
    return errors_factory(release)["cases"]
