"""`lbmock --help` explains every option with its default.

The docs' command-line reference is generated from the same parsers (docs/reference_gen.py);
tests/test_docs.py checks that it names every option of every command."""

from __future__ import annotations

import argparse
import re
from importlib.metadata import version

import pytest

from lbmock.cli import build_parser, main

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


def test_version_is_the_installed_distributions(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lbmock {version('lbmock')}"


@pytest.mark.parametrize(("argv", "said"), [
    (["serve", "--rows", "-1"], "lbmock serve: error: argument --rows: rows must be between 0 and"),
    (["serve", "--ontology", "no-such-ontology.json"], "lbmock serve: error: argument --ontology: cannot read"),
    (["nope"], "lbmock: error: argument command: invalid choice: 'nope'"),
])
def test_a_usage_error_is_two_lines_the_mistake_then_where_the_options_are(argv, said, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(said), err  # no thirty-option usage block above it
    assert lines[1] == f"({said.split(':')[0]} --help lists every option)"
