"""Helpers shared by the compatibility drivers.

The drivers run under an SDK virtualenv's interpreter, where only ``labelbox``
and its dependencies (``requests`` among them) are installed: this module uses
the standard library, ``requests`` and (in ``begin``) ``labelbox`` only, and never imports lbmock.

A driver reads its plan (one JSON object) from stdin, runs SDK flows and
writes ONE JSON document to stdout.  Anything else the SDK or the reference
page prints goes to stderr or into the document, never to stdout.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import os
import sys
import time
import traceback

# The reference page's "Export JSON annotations" code block runs from this comment line
# up to (not including) the "Annotation export formats" heading.
PAGE_CODE_FIRST_LINE = "# Set the export params"
PAGE_CODE_END_HEADING = "Annotation export formats"


def extract_page_code(doc_text: str) -> str:
    """The page's Python code block, byte for byte (trailing blank lines dropped)."""
    lines = doc_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(PAGE_CODE_FIRST_LINE))
    end = next(i for i, line in enumerate(lines) if i > start and line.strip() == PAGE_CODE_END_HEADING)
    block = lines[start:end]
    while block and not block[-1].strip():
        block.pop()
    return "\n".join(block) + "\n"


DEFAULT_REFERENCE_DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "reference",
                                     "labelbox-dicom-export-doc.txt")
CONNECTION = ("base_url", "api_key", "project_id")


def read_plan(argv: list[str], extra: tuple[str, ...] = ()) -> dict:
    """The driver's inputs.

    ``argv``: ``BASE_URL API_KEY PROJECT_ID [EXTRA...]`` (each falls back to the environment:
    ``LBMOCK_BASE_URL``, ``LBMOCK_API_KEY``, ``LBMOCK_PROJECT_ID``, ...).  stdin, when it is not
    a terminal, may carry a JSON object with the test's cases; it can be empty.
    """
    names = (*CONNECTION, *extra)
    plan: dict = {}
    if not sys.stdin.isatty():
        text = sys.stdin.read().strip()
        if text:
            plan = json.loads(text)
    for i, name in enumerate(names):
        value = argv[i] if i < len(argv) else os.environ.get(f"LBMOCK_{name.upper()}")
        if value is None:
            raise SystemExit(f"usage: {os.path.basename(sys.argv[0])} {' '.join(n.upper() for n in names)} "
                             "[< plan.json]  (or set LBMOCK_<NAME> for each)")
        plan[name] = value
    plan.setdefault("reference_doc", os.path.normpath(DEFAULT_REFERENCE_DOC))
    return plan


@contextlib.contextmanager
def json_stdout():
    """Route stray prints to stderr; yield a writer for the one JSON document."""
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield lambda doc: (real_stdout.write(json.dumps(doc)), real_stdout.flush())
    finally:
        sys.stdout = real_stdout


def begin(argv: list[str]) -> tuple[dict, Flows, dict, object]:
    """What a driver starts with: its plan (``read_plan``), its flows, the document they fill (the
    SDK's version, the base URL) and a ``labelbox.Client`` of the plan's server; deprecations quiet."""
    import warnings

    import labelbox

    plan = read_plan(argv)
    base = plan["base_url"]
    flows = Flows()
    doc: dict = {"sdk_version": labelbox.__version__, "base_url": base, "flows": flows.results}
    warnings.simplefilter("ignore", DeprecationWarning)
    client = labelbox.Client(api_key=plan["api_key"], endpoint=f"{base}/graphql", rest_endpoint=f"{base}/api/v1")
    return plan, flows, doc, client


def run_driver(main, sdk_version) -> None:
    """A driver's entry point: ``main()``'s document as the one JSON on stdout, even when it crashes."""
    with json_stdout() as emit:
        try:
            result = main()
        except BaseException as exc:  # report even a crash as the one JSON document
            result = {"sdk_version": sdk_version, "crash": error_info(exc)}
        emit(result)
    sys.exit(0)


def error_info(exc: BaseException) -> dict:
    kind = type(exc)
    return {
        "type": kind.__name__,
        "module": kind.__module__,
        "mro": [f"{k.__module__}.{k.__qualname__}" for k in kind.__mro__],
        "message": str(exc)[:4000],
        "traceback": "".join(traceback.format_exception(kind, exc, exc.__traceback__))[-6000:],
    }


class Flows:
    """Runs named flows; a flow that raises is recorded as ``{"error": ...}`` and the rest go on."""

    def __init__(self) -> None:
        self.results: dict[str, dict] = {}

    @contextlib.contextmanager
    def flow(self, name: str):
        record: dict = {}
        started = time.monotonic()
        try:
            yield record
        except Exception as exc:
            record["error"] = error_info(exc)
        record["seconds"] = round(time.monotonic() - started, 3)
        self.results[name] = record


def type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def run_page(code: str, namespace: dict, filename: str = "labelbox-dicom-export-doc") -> dict:
    """Execute the page's code unmodified, one top-level statement at a time.

    Stepping lets us keep every value the page binds (it assigns ``labels``
    twice) and time each statement; each statement's source is executed exactly
    as written.  Execution stops at the first statement that raises, as running
    the block in one go would.
    """
    tree = ast.parse(code, filename)
    printed = io.StringIO()
    steps: list[dict] = []
    bindings: list[tuple[str, object]] = []
    stopped_by = None
    for stmt in tree.body:
        step = {"line": stmt.lineno, "source": ast.get_source_segment(code, stmt)}
        started = time.monotonic()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(ast.Module([stmt], type_ignores=[]), filename, "exec"), namespace)
        except Exception as exc:
            step["seconds"] = round(time.monotonic() - started, 3)
            step["error"] = stopped_by = error_info(exc)
            steps.append(step)
            break
        step["seconds"] = round(time.monotonic() - started, 3)
        steps.append(step)
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    bindings.append((target.id, namespace[target.id]))
    return {"steps": steps, "bindings": bindings, "stopped_by": stopped_by, "printed_chars": len(printed.getvalue())}


def get(url: str, api_key: str | None):
    import requests

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    response = requests.get(url, headers=headers, timeout=30)
    response.raise_for_status()
    return response


def fetch_frames_and_masks(labels: list, api_key: str) -> tuple[dict, dict]:
    """For every group of every legacy label, GET its ``frames`` NDJSON (bearer auth), then
    every mask ``instanceURI`` in it.  Returns ({frames url: [records]}, {mask url: base64 PNG})."""
    frames: dict[str, list] = {}
    masks: dict[str, str] = {}
    for label in labels:
        for group in label["Label"]["groups"]:
            url = group["frames"]
            text = get(url, api_key).text
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
            frames[url] = records
            for record in records:
                for obj in record["objects"]:
                    if "instanceURI" in obj and obj["instanceURI"] not in masks:
                        masks[obj["instanceURI"]] = base64.b64encode(get(obj["instanceURI"], api_key).content).decode()
    return frames, masks


def v2_mask_urls(rows: list) -> list[str]:
    urls: list[str] = []
    for row in rows:
        for project in row.get("projects", {}).values():
            for label in project.get("labels", []):
                for group in label["annotations"]["groups"].values():
                    for frame in group["frames"].values():
                        for obj in frame["objects"].values():
                            if "mask" in obj:
                                urls.append(obj["mask"]["url"])
    return urls


def fetch_masks(urls: list[str], api_key: str) -> dict[str, str]:
    return {url: base64.b64encode(get(url, api_key).content).decode() for url in dict.fromkeys(urls)}


def row_ids(rows: list) -> list[str]:
    return [row["data_row"]["id"] for row in rows]
