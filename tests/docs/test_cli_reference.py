"""docs/cli.md is generated from the argument parsers and must match a fresh generation."""

from __future__ import annotations

import argparse
from pathlib import Path

from upres.cli import COMMANDS, build_parser, main
from upres.cli.reference import cli_reference

REPO = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current() -> None:
    assert (REPO / "docs" / "cli.md").read_text(encoding="utf-8") == cli_reference(), (
        "docs/cli.md is stale: run `upres schema --cli docs/cli.md`"
    )


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_command_and_flag_is_in_the_reference() -> None:
    text = cli_reference()
    for name in COMMANDS:
        assert f"## `upres {name}`" in text, name
    for parser in _parsers(build_parser()):
        for action in parser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help", "--version"):
                    assert f"`{flag}`" in text, f"{parser.prog} {flag}"


def test_reference_does_not_depend_on_terminal_width(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = cli_reference()
    monkeypatch.setenv("COLUMNS", "300")
    assert cli_reference() == narrow


def test_schema_cli_writes_the_reference(tmp_path, capsys) -> None:
    out = tmp_path / "cli.md"
    assert main(["schema", "--cli", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == cli_reference()
    assert f"wrote {out}" in capsys.readouterr().out
