"""The docs site: built with ``mkdocs build --strict``, a reference that names everything the code
has, and every code block of the docs and the README run against a mock this test starts.

Code blocks, page by page, in order (one namespace a page, like a notebook):

* ``python``: executed in-process, in the page's scratch folder;
* ``sh``: each line run by the shell in that folder, ``lbmock`` and ``python3`` being this
  interpreter's; a line ``lbmock serve ARGS`` starts ``lbmock serve --port 0 ARGS`` (``start_serve``)
  and becomes the page's server;
* ``toml``: a world file, loaded with ``load_world_file``;
* ``text`` and other languages: output shown to the reader, not run.

``http://127.0.0.1:8080`` (and ``localhost:8080``) in a block is the page's server, started with
``--seed 1 --rows 200`` when the page starts none; ``<project id>``, ``<task id>`` and
``<data row id>`` are filled from it.  ``<!-- docs-test: file NAME -->`` before a block writes it
to NAME in the scratch folder instead (a ``conftest.py``, a test module, a world file) for a later
block to use; ``<!-- docs-test: skip: REASON -->`` skips it, with the reason reported.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import reference_gen  # noqa: E402

PAGES = [*sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md")), "README.md"]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(skip|file)\s*:?\s*(.*?)\s*-->")
RUN = {"python", "sh", "bash", "toml"}
DEFAULT_SERVE = ("--seed", "1", "--rows", "200")


@dataclass
class Block:
    page: str
    line: int
    lang: str
    code: str
    directive: str | None = None  # "skip" or "file"
    arg: str = ""  # the skip's reason or the file's name


def blocks(page: str) -> list[Block]:
    text = (ROOT / page).read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        directive = DIRECTIVE.search(before)
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, match.group(1) or "text", match.group(2),
                           *(directive.groups() if directive else (None, ""))))
    return found


# ---------------------------------------------------------------- the site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-6000:]
    return out


def built(site: Path, page: str) -> str:
    import html

    return html.unescape((site / page / "index.html").read_text())


def test_the_site_builds_strictly_with_every_page(site):
    for page in DOCS.rglob("*.md"):
        name = page.relative_to(DOCS).with_suffix("").as_posix()
        if name == "performance-table":
            continue  # included by explanation/performance.md
        target = site / ("" if name == "index" else name) / "index.html"
        assert target.exists(), f"{page} was not built"
    assert "lbmock-reference:" not in "".join(p.read_text() for p in site.rglob("*.html")), "a marker left"


def test_the_cli_reference_names_every_option_of_every_command(site):
    page = built(site, "reference/cli")
    for name, command in reference_gen.cli_commands().items():
        assert f"lbmock {name}" in page
        for action, _help in reference_gen.cli_options(command):
            for flag in action.option_strings or [action.dest]:
                assert flag in page, f"lbmock {name} {flag} is missing from reference/cli"


def test_the_fault_reference_names_every_fault(site):
    from lbmock.mockserver.backend.faults import FAULTS, Fault

    page = built(site, "reference/faults")
    assert set(FAULTS) == set(Fault)
    for fault in Fault:
        assert fault.value in page, f"fault {fault.value} is missing from reference/faults"
    guide = (DOCS / "how-to" / "faults.md").read_text()
    for fault in Fault:
        assert f"`{fault.value}`" in guide, f"the faults guide does not describe {fault.value}"


def test_the_route_reference_names_every_route(site):
    page = built(site, "reference/admin-api")
    for _family, rule, methods, _view in reference_gen.route_rows():
        assert rule in page, f"route {rule} is missing from reference/admin-api"
        for method in methods:
            assert method in page


def test_the_world_file_reference_names_every_key(site):
    from lbmock.world_spec import WorldSpec

    page = built(site, "reference/world-file")
    for name, _default, _option in WorldSpec.options():
        assert f"{name}" in page, f"world option {name} is missing from reference/world-file"
    for table_name, table in reference_gen.nested_tables().items():
        assert table_name in page
        for field in __import__("dataclasses").fields(table):
            assert field.name in page, f"[[{table_name}]] key {field.name} is missing from reference/world-file"
    markers = built(site, "reference/pytest-plugin")
    for name, _default, _option in WorldSpec.options():
        assert name in markers


def test_the_sdk_call_reference_names_every_emulated_call(site):
    page = built(site, "reference/sdk-calls")
    fields = reference_gen.graphql_root_fields()
    assert len(fields) > 10
    for root, name, _args, _note in fields:
        assert name in page, f"{root}.{name} is missing from reference/sdk-calls"


def test_the_pytest_reference_names_every_fixture_and_option(site):
    page = built(site, "reference/pytest-plugin")
    fixtures = reference_gen.plugin_fixtures()
    assert {"lb_world", "lb_mock", "lb_server", "lb_target"} <= {name for name, _doc in fixtures}
    for name, _doc in fixtures:
        assert name in page
    markers = reference_gen.plugin_markers()
    assert {"lb_world", "lb_server_options"} <= {name for name, _s, _t in markers}
    for name, _signature, _text in markers:
        assert f"@pytest.mark.{name}" in page, f"marker {name} is missing from reference/pytest-plugin"
    for names, _kwargs in reference_gen.plugin_options():
        for flag in names:
            assert flag in page, f"pytest option {flag} is missing from reference/pytest-plugin"


def test_the_readers_page_shows_the_table_measured_at_the_build(site):
    """Every reader and every variant of today's code, and a verdict in every cell (docs/readers_table.py)."""
    import readers_table

    page = built(site, "reference/readers")
    for reader in readers_table.READERS:
        assert reader.name in page
    for variant in readers_table.variant_names():
        row = next((line for line in page.splitlines() if f">{variant}</code></td>" in line), None)
        assert row is not None, f"variant {variant} is missing from reference/readers"
    assert page.count("<td>correct</td>") >= len(readers_table.variant_names())
    assert "lbmock-reference" not in page and "readers.md" not in page
    assert "reference/readers" in built(site, "reference/dicom").replace("../readers/", "reference/readers")


# ---------------------------------------------------------------- code blocks


def test_every_block_that_cannot_run_says_why():
    skipped, counted = [], {"run": 0, "file": 0, "shown": 0}
    for page in PAGES:
        for block in blocks(page):
            if block.directive == "skip":
                assert len(block.arg) > 10, f"{page}:{block.line}: a skipped block needs a reason"
                skipped.append(f"{page}:{block.line}: {block.arg}")
            elif block.directive == "file":
                counted["file"] += 1
            elif block.lang in RUN:
                counted["run"] += 1
            else:
                counted["shown"] += 1
    print(f"docs code blocks: {counted['run']} run, {counted['file']} written as files for them, "
          f"{counted['shown']} output shown, {len(skipped)} skipped:")
    print("\n".join(skipped))
    assert counted["run"] > 20


@contextlib.contextmanager
def _inside(folder: Path):
    """Run in ``folder`` (contextlib has a chdir of its own from Python 3.11 on; the floor is 3.10)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


class Page:
    """One page's run: its scratch folder, namespace and server."""

    def __init__(self, page: str, folder: Path) -> None:
        self.page, self.folder = page, folder
        self.namespace: dict = {"__name__": f"docs_{Path(page).stem}"}
        self.server = None
        for name in ("examples", "fixtures", "tests"):
            (folder / name).symlink_to(ROOT / name)
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                    "LBMOCK_CACHE_DIR": str(folder / ".cache")}

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def serve(self, args: list[str]) -> None:
        from lbmock.contract_tests.wire.serve import start_serve

        self.close()
        self.server = start_serve(*args, log_dir=self.folder / "logs", env=self.env)

    def fill(self, code: str) -> str:
        if not re.search(r"(127\.0\.0\.1|localhost):8080|<(project|task|data row) id>", code):
            return code
        if self.server is None:
            self.serve(list(DEFAULT_SERVE))
        host = self.server.base_url.split("://", 1)[1]
        code = re.sub(r"(127\.0\.0\.1|localhost):8080", host, code)
        code = code.replace("<project id>", self.server.project_id)
        if "<task id>" in code:
            code = code.replace("<task id>", self.task_id())
        if "<data row id>" in code:
            code = code.replace("<data row id>", self.data_row_id())
        return code

    def client(self):
        import labelbox

        return labelbox.Client(**self.server.client_kwargs())

    def task_id(self) -> str:
        task = self.client().get_project(self.server.project_id).export(params={})
        return task.uid

    def data_row_id(self) -> str:
        from lbmock.strategies.served_world import resolve_world
        from lbmock.world_spec import WorldSpec

        argv = self.server.argv
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
        rows = int(argv[argv.index("--rows") + 1]) if "--rows" in argv else 100
        return next(row.id for row in resolve_world(WorldSpec(seed=seed, rows=rows)) if row.labels)

    def run(self, block: Block) -> None:
        where = f"{block.page}:{block.line}"
        if block.directive == "file":
            (self.folder / block.arg).write_text(self.fill(block.code))
        elif block.lang == "python":
            code = self.fill(block.code)
            with _inside(self.folder), contextlib.redirect_stdout(io.StringIO()):
                exec(compile(code, where, "exec"), self.namespace)
        elif block.lang == "toml":
            from lbmock.world_spec import load_world_file

            path = self.folder / f"block-{block.line}.toml"
            path.write_text(block.code)
            load_world_file(path)
        else:
            self.shell(block, where)

    def shell(self, block: Block, where: str) -> None:
        for line in textwrap.dedent(block.code).replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            if words[-1] == "&":
                words = words[:-1]
            if words[:2] == ["lbmock", "serve"]:
                self.serve(words[2:])
                continue
            command = shlex.join(shlex.split(self.fill(line), comments=True))
            command = command[:-2] if command.endswith(" &") else command
            command = re.sub(r"^lbmock\b", shlex.quote(sys.executable) + " -m lbmock.cli", command)
            command = re.sub(r"^python3? ", shlex.quote(sys.executable) + " ", command)
            for op in ("'>'", "'|'", "'&&'"):  # shlex.join quoted the shell's operators
                command = command.replace(op, op.strip("'"))
            done = subprocess.run(command, shell=True, cwd=self.folder, env=self.env, capture_output=True,
                                  text=True, timeout=600)
            assert done.returncode == 0, f"{where}: `{line}` exit {done.returncode}\n{done.stdout[-3000:]}\n" \
                                         f"{done.stderr[-3000:]}"


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_code_blocks_run(page, tmp_path):
    runnable = [b for b in blocks(page) if b.directive != "skip" and (b.lang in RUN or b.directive == "file")]
    if not runnable:
        pytest.skip(f"{page}: no code block to run")
    state = Page(page, tmp_path)
    try:
        for block in runnable:
            state.run(block)
    finally:
        state.close()


def test_the_dashboard_pages_the_docs_link_to_answer():
    """Every ``/_mock/dashboard/...`` URL the docs show (placeholders filled from the served world) answers 200."""
    from urllib.parse import quote

    import labelbox
    import requests

    from lbmock.mockserver import ThreadedMockServer

    urls = set()
    for page in PAGES:
        text = (ROOT / page).read_text().replace("<data row id>", "ROWID").replace("rows/<id>", "rows/ROWID")
        text = text.replace("<plane>", "Axial").replace("<frame>", "1").replace("<task id>", "TASKID")
        for match in re.finditer(r"/_mock/dashboard/[^\s`)\"'\]<>{}]*", text):
            if text[match.end():match.end() + 1] not in ("<", "{") and not match.group().endswith("..."):
                urls.add(match.group())
    assert len(urls) >= 5, urls
    with ThreadedMockServer(seed=1, rows=200) as server:
        project_id = requests.get(f"{server.base_url}/_mock/health", timeout=30).json()["project_id"]
        row = next(row for row in server.world if row.labels)
        task = labelbox.Client(**server.client_kwargs).get_project(project_id).export(params={})
        for url in sorted(urls):
            url = url.replace("ROWID", row.id).replace("TASKID", task.uid)
            url = url.replace("project=ID", f"project={project_id}")
            url = url.replace("label=ID", f"label={row.labels[0].id}")
            url = url.replace("tool=Liver", "tool=" + quote(server.world.project.ontology.tools[0].name))
            answer = requests.get(server.base_url + url, timeout=60)
            assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:300]}"
        print(f"dashboard URLs in the docs: {len(urls)} answered 200")
