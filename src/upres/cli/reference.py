"""docs/cli.md, generated from the argument parsers (`upres schema --cli docs/cli.md`).

Built from the parsers' actions rather than argparse's help formatter, whose line wrapping follows the terminal
width: the same code must give the same file on every machine, or the staleness test would flap.
"""

from __future__ import annotations

import argparse

HEADER = """# Command reference

Generated from the argument parsers in `src/upres/cli/` by `upres schema --cli docs/cli.md`; a test fails when this
file is stale. `upres COMMAND --help` prints the same with examples. Exit codes: 0 success, 1 some inputs failed
(batch commands, `doctor` errors), 2 bad usage, option file or model file, 130 interrupted. An argument starting
with `~/` is under the home folder, also after `=` (`--output=~/out`) and on Windows.
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_lines(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def _metavar(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.metavar is not None:
        name = action.metavar
    elif action.choices is not None:
        name = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        name = action.dest.upper()
    if action.nargs in ("+", "*"):
        return f"{name}..."
    return name


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(action: argparse.Action) -> str:
    if action.required or action.nargs == 0 or action.default in (None, argparse.SUPPRESS, []):
        return ""
    return f"`{action.default}`"


def _synopsis(prog: str, parser: argparse.ArgumentParser) -> str:
    parts = [prog]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        mv = _metavar(action)
        if action.option_strings:
            flag = action.option_strings[0]
            item = f"{flag} {mv}".strip()
            parts.append(item if action.required else f"[{item}]")
        else:
            parts.append(mv if action.nargs not in ("?", "*") else f"[{mv}]")
    if _subcommands(parser):
        parts.append("KIND ...")
    return " ".join(parts)


def _command_section(prog: str, parser: argparse.ArgumentParser, summary: str, level: int) -> list[str]:
    out = [f"{'#' * level} `{prog}`", ""]
    if summary:
        out += [summary[0].upper() + summary[1:] + ".", ""]
    out += ["```", _synopsis(prog, parser), "```", ""]
    if parser.description:
        out += ["```text", parser.description.strip("\n"), "```", ""]
    rows = [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
        and a.help != argparse.SUPPRESS
    ]
    if rows:
        out += ["| argument | value | default | meaning |", "| --- | --- | --- | --- |"]
        for a in rows:
            names = ", ".join(f"`{s}`" for s in a.option_strings) or f"`{_metavar(a)}`"
            value = f"`{_metavar(a)}`" if a.option_strings and a.nargs != 0 else ""
            req = " (required)" if a.required and a.option_strings else ""
            out.append(f"| {names} | {_cell(value)} | {_default(a)} | {_cell((a.help or '') + req)} |")
        out.append("")
    helps = _help_lines(parser)
    for name, sub in _subcommands(parser).items():
        out += _command_section(f"{prog} {name}", sub, helps.get(name, ""), level + 1)
    return out


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The Markdown command reference for every registered command, in `COMMANDS` order."""
    if parser is None:
        from upres.cli import build_parser

        parser = build_parser()
    lines = [HEADER]
    helps = _help_lines(parser)
    commands = _subcommands(parser)
    lines.append("| command | what it does |")
    lines.append("| --- | --- |")
    lines += [f"| [`upres {n}`](#upres-{n}) | {_cell(helps.get(n, ''))} |" for n in commands]
    lines.append("")
    for name, sub in commands.items():
        lines += _command_section(f"upres {name}", sub, helps.get(name, ""), 2)
    return "\n".join(lines).rstrip("\n") + "\n"
