"""`lbmock --help` explains every option with its default, and the README's option tables say the same."""

from __future__ import annotations

import argparse
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from lbmock.cli import build_parser, main

README = Path(__file__).resolve().parent.parent / "README.md"
DEFAULT = re.compile(r"\(default: (.+)\)$", re.S)


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _options(command: argparse.ArgumentParser) -> dict[str, str]:
    """Each optional option's name and its help line, as ``--help`` prints it (``%(default)s`` expanded).

    Required options (``lbmock oracle --data-row``) have no default to state."""
    formatter = command._get_formatter()
    return {a.option_strings[-1]: " ".join(formatter._expand_help(a).split())
            for a in command._actions if a.option_strings and a.dest != "help" and not a.required}


def _readme_tables() -> dict[str, dict[str, str]]:
    """``| `lbmock CMD` option | default | ... |`` tables: command -> {option: default as written}."""
    tables: dict[str, dict[str, str]] = {}
    current = None
    for line in README.read_text().splitlines():
        head = re.match(r"\| `lbmock (\w+)[^`]*` option \| default \|", line)
        if head:
            current = tables.setdefault(head.group(1), {})
        elif current is not None and line.startswith("| `--"):
            name, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
            if default != "required":
                current[name.strip("`").split()[0]] = default.replace("`", "")
        elif not line.startswith("|"):
            current = None
    return tables


@pytest.mark.parametrize("command", ["serve", "generate", "validate", "oracle", "capture"])
def test_every_option_says_what_it_does_and_its_default(command):
    parser = _commands()[command]
    defaults = {a.option_strings[-1]: a.default for a in parser._actions if a.option_strings}
    for name, text in _options(parser).items():
        found = DEFAULT.search(text)
        assert found, f"lbmock {command} {name}: no '(default: ...)' in its help: {text!r}"
        assert len(text[: found.start()].strip()) > 10, f"lbmock {command} {name}: help says nothing: {text!r}"
        value = defaults[name]
        if value not in (None, False, []):  # a real value is printed as is; None/False/[] are described
            assert found.group(1).startswith(str(value)), f"lbmock {command} {name}: help {text!r}, default {value!r}"


def test_readme_option_tables_match_help():
    tables = _readme_tables()
    assert sorted(tables) == ["capture", "generate", "oracle", "serve", "validate"]
    for command, parser in _commands().items():
        helped = {name: DEFAULT.search(text).group(1) for name, text in _options(parser).items()}
        assert sorted(tables[command]) == sorted(helped), f"README's `lbmock {command}` table lists other options"
        for name, default in helped.items():
            assert tables[command][name] == default, f"README: lbmock {command} {name} defaults to {default!r}"


def test_version_is_the_installed_distributions(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lbmock {version('lbmock')}"
