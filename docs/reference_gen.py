"""The docs site's reference pages, generated from the code so they cannot drift.

``docs/hooks.py`` (a MkDocs hook) replaces each ``<!-- lbmock-reference: NAME -->`` line of a page
with ``GENERATORS[NAME]()``; ``tests/test_docs.py`` builds the site and checks that every CLI option,
fault, admin route, world-file key and emulated call appears in the built pages.  Each generator
reads one source of truth:

* ``cli``: :func:`lbmock.cli.build_parser`, every subcommand;
* ``faults``: :class:`lbmock.mockserver.backend.faults.Fault` and ``FAULTS``;
* ``routes``: :data:`lbmock.mockserver.urls.ROUTES` and the dashboard's ``ROUTES``;
* ``world``: :meth:`lbmock.world_spec.WorldSpec.options` and the nested tables' dataclasses;
* ``sdk-calls``: the table of emulated SDK calls (``mockserver/handlers/emulated.py``), then
  the GraphQL schema's root fields (``mockserver/gql/schema.graphql``) and the REST routes;
* ``pytest``: the plugin's fixtures, marker and command-line options (``lbmock.contract_tests.plugin``);
* ``readers``: which DICOM readers read which variant, measured at the build (``docs/readers_table.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
from collections.abc import Callable, Iterator
from importlib import resources
from types import SimpleNamespace

import readers_table  # beside this file: at import time, while the hook's folder is on sys.path

MARKER = "<!-- lbmock-reference: {} -->"


def plain(text: str) -> str:
    """reStructuredText roles and literals of a docstring as Markdown."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([\w]+)`", r"`\1`", text)
    return text.replace("``", "`")


def cell(text: object) -> str:
    """Text for one Markdown table cell: one line, pipes escaped."""
    return " ".join(plain(str(text)).split()).replace("|", "\\|")


def code(text: object) -> str:
    text = str(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def first_line(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


# ---------------------------------------------------------------- CLI


def cli_commands() -> dict[str, argparse.ArgumentParser]:
    from lbmock.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def cli_options(command: argparse.ArgumentParser) -> Iterator[tuple[argparse.Action, str]]:
    """Each option of a subcommand (positional arguments too) with its help as ``--help`` prints it."""
    formatter = command._get_formatter()
    for action in command._actions:
        if action.dest == "help":
            continue
        yield action, " ".join(formatter._expand_help(action).split()) if action.help else ""


def cli() -> str:
    out = []
    for name, command in cli_commands().items():
        out.append(f"## `lbmock {name}`\n")
        if command.description:
            out.append(" ".join(command.description.split()) + "\n")
        usage = " ".join(command.format_usage().split())
        out.append(f"```text\n{usage}\n```\n")
        out.append("| option | value | what it does (default) |\n| --- | --- | --- |")
        for action, text in cli_options(command):
            flags = ", ".join(code(f) for f in action.option_strings) or code(action.dest)
            value = "" if action.nargs == 0 else code(action.metavar or action.dest.upper())
            if action.required:
                text += " (required)"
            out.append(f"| {flags} | {value} | {cell(text)} |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- faults


def faults() -> str:
    from lbmock.mockserver.backend.faults import FAULTS, MAX_MS, MILLISECONDS, SECOND_ARGS, Fault

    out = ["| fault | matches | argument | second argument |", "| --- | --- | --- | --- |"]
    for fault in Fault:
        matches, arg = FAULTS[fault]
        second = SECOND_ARGS.get(fault, "")
        if fault in MILLISECONDS:
            arg = f"{arg} (at most {MAX_MS:,} ms)"
        out.append(f"| {code(fault.value)} | {cell(matches)} | {cell(arg or 'none')} | "
                   f"{code(second) if second else ''} |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- routes


def route_rows() -> list[tuple[str, str, list[str], object]]:
    """(family, rule, methods, view) of every route the app serves."""
    from lbmock.mockserver import dashboard
    from lbmock.mockserver.urls import ROUTES

    rows = [(family, rule, methods, view) for family, routes in ROUTES.items() for rule, view, methods in routes]
    rows += [("dashboard", dashboard.PREFIX + rule.rstrip("/") + ("/" if rule == "/" else ""), methods, view)
             for rule, view, methods in dashboard.ROUTES]
    return rows


def routes() -> str:
    out = ["| route | methods | family | what it does |", "| --- | --- | --- | --- |"]
    for family, rule, methods, view in route_rows():
        out.append(f"| {code(rule)} | {', '.join(methods)} | {family} | {cell(first_line(view))} |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- world file


def _schema() -> dict:
    return json.loads(resources.files("lbmock").joinpath("fixtures/schemas/world_file.schema.json").read_text())


def nested_tables() -> dict[str, type]:
    from lbmock.world_spec import DatasetSpec, ProjectSpec, VolumeSpec

    return {"projects": ProjectSpec, "datasets": DatasetSpec, "volumes": VolumeSpec}


def _nested_descriptions(schema: dict, key: str) -> dict[str, dict]:
    node = schema["properties"].get(key, {})
    for candidate in [node, *node.get("oneOf", []), *node.get("anyOf", [])]:
        items = candidate.get("items", candidate)
        if "properties" in items:
            return items["properties"]
    return {}


def world() -> str:
    from lbmock.world_spec import WorldSpec

    schema = _schema()
    out = ["| key | default | flag | what it sets |", "| --- | --- | --- | --- |"]
    for name, default, option in WorldSpec.options():
        flag = code(option.flag or "--" + name.replace("_", "-")) if option.cli else "world file / JSON only"
        shown = option.unset or ("none" if default is None else json.dumps(default))
        out.append(f"| {code(name)} | {cell(shown)} | {flag} | {cell(option.help)} |")
    out.append("")
    for key, table in nested_tables().items():
        described = _nested_descriptions(schema, key)
        header = f"[[{key}]]" if key != "volumes" else f"[{key}]"
        out.append(f"### `{header}` keys\n")
        out.append("| key | type | what it sets |\n| --- | --- | --- |")
        for field in dataclasses.fields(table):
            prop = described.get(field.name, {})
            text = prop.get("description") or ", ".join(map(str, prop.get("enum", []))) or ""
            out.append(f"| {code(field.name)} | {cell(field.type)} | {cell(text)} |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- emulated SDK calls


def graphql_root_fields() -> list[tuple[str, str, str, str]]:
    """(root type, field, arguments, description) of every Query and Mutation field the mock answers."""
    from graphql import build_schema

    sdl = resources.files("lbmock").joinpath("mockserver/gql/schema.graphql").read_text()
    schema = build_schema(sdl)
    rows = []
    for root in (schema.query_type, schema.mutation_type):
        for name, fld in root.fields.items():
            args = ", ".join(f"{a}: {t.type}" for a, t in fld.args.items())
            rows.append((root.name, name, args, fld.description or ""))
    return rows


def sdk_calls() -> str:
    from lbmock.mockserver.handlers.emulated import markdown_table

    out = ["### SDK calls\n", markdown_table(), "\n### GraphQL root fields\n",
           "| type | field | arguments | note |", "| --- | --- | --- | --- |"]
    for root, name, args, note in graphql_root_fields():
        out.append(f"| {root} | {code(name)} | {cell(args)} | {cell(note)} |")
    out.append("\n### REST and file routes\n")
    out.append("| route | methods | what it does |\n| --- | --- | --- |")
    for family, rule, methods, view in route_rows():
        if family not in ("admin", "dashboard", "landing", "graphql"):
            out.append(f"| {code(rule)} | {', '.join(methods)} | {cell(first_line(view))} |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- pytest plugin


class _Options:
    """Collects ``addoption`` calls as pytest's parser would take them."""

    def __init__(self) -> None:
        self.options: list[tuple[tuple[str, ...], dict]] = []

    def getgroup(self, *args: object, **kwargs: object) -> _Options:
        return self

    def addoption(self, *names: str, **kwargs: object) -> None:
        self.options.append((names, kwargs))


def plugin_fixtures() -> list[tuple[str, str]]:
    from lbmock.contract_tests import plugin

    found = []
    for name, obj in vars(plugin).items():
        if type(obj).__name__ == "FixtureFunctionDefinition" or hasattr(obj, "_pytestfixturefunction"):
            wrapped = obj._get_wrapped_function() if hasattr(obj, "_get_wrapped_function") else obj
            found.append((name, inspect.getdoc(wrapped) or ""))
    return found


class _Config:
    """Collects the markers ``pytest_configure`` registers."""

    def __init__(self, options: list[tuple[tuple[str, ...], dict]]) -> None:
        self.markers: list[str] = []
        self._defaults = {names[0]: kwargs.get("default") for names, kwargs in options}
        self.option = SimpleNamespace(markers=True)  # as under `pytest --markers`: the markers' full help

    def addinivalue_line(self, name: str, line: str) -> None:
        if name == "markers":
            self.markers.append(line)

    def getoption(self, name: str) -> object:
        return self._defaults[name]


def plugin_markers() -> list[tuple[str, str, str]]:
    """(name, signature, description) of every marker the plugin registers."""
    from lbmock.contract_tests import plugin

    config = _Config(plugin_options())
    plugin.pytest_configure(config)
    found = []
    for line in config.markers:
        head, _, text = line.partition("): ")
        name, _, signature = head.partition("(")
        found.append((name, signature, text))
    return found


def plugin_options() -> list[tuple[tuple[str, ...], dict]]:
    from lbmock.contract_tests import plugin

    collector = _Options()
    plugin.pytest_addoption(collector)
    return collector.options


def pytest_plugin() -> str:

    out = ["## Fixtures\n", "| fixture | what it gives |", "| --- | --- |"]
    out += [f"| {code(name)} | {cell(doc)} |" for name, doc in plugin_fixtures()]
    out.append("\n## Markers\n")
    out.append("The closest marker wins (test, class, module). `lb_world`'s options are the "
               "[world-file keys](world-file.md), and `world=` a world file (beside the test module) or a "
               "`WorldSpec`, the other options on top.\n")
    out.append("| marker | options | what it sets |\n| --- | --- | --- |")
    for name, signature, text in plugin_markers():
        out.append(f"| {code('@pytest.mark.' + name)} | {cell(signature)} | {cell(text)} |")
    out.append("\n## Command-line options\n")
    out.append("| option | what it does |\n| --- | --- |")
    for names, kwargs in plugin_options():
        out.append(f"| {', '.join(code(n) for n in names)} | {cell(kwargs.get('help', ''))} |")
    return "\n".join(out) + "\n"


def architecture() -> str:
    """``mockserver/_mock_architecture.md`` as a page of the site: its title dropped (the page has its own),
    links to this site's pages (``../docs/X``) pointed at them, links to other repository files shown as paths."""
    text = resources.files("lbmock").joinpath("mockserver/_mock_architecture.md").read_text()
    if text.startswith("# "):
        text = text.split("\n", 1)[1]
    text = re.sub(r"\]\(\.\./docs/([^)]+)\)", r"](../\1)", text)
    return re.sub(r"\[([^\]]+)\]\((?!https?:|\.\./|#)([^)]+)\)", r"\1 (`mockserver/\2`)", text)


def readers() -> str:
    """The reader x variant table (``docs/readers_table.py``): every reader run on every variant's file."""
    return readers_table.markdown(readers_table.measure())


GENERATORS: dict[str, Callable[[], str]] = {
    "architecture": architecture,
    "cli": cli,
    "faults": faults,
    "routes": routes,
    "world": world,
    "sdk-calls": sdk_calls,
    "pytest": pytest_plugin,
    "readers": readers,
}


def expand(markdown: str) -> str:
    """``markdown`` with every reference marker replaced by its generated text."""
    for name, generate in GENERATORS.items():
        marker = MARKER.format(name)
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
