"""A flag is spelled the same in every command: `upres test -m M` and `upres degrade -s 2` were refused as unknown
arguments where eval, upscale and video take `-m` and eval, doctor and prepare take `-s`."""

from __future__ import annotations

import argparse

import pytest

from upres.cli import build_parser, main

SHORT = {
    "--model": "-m",
    "--scale": "-s",
    "--output": "-o",
    "--config": "-c",
    "--quiet": "-q",
    "--workers": "-j",
}


def _commands(parser: argparse.ArgumentParser, name: str = "upres"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _commands(sub, f"{name} {sub_name}")
    yield name, parser


def test_every_long_flag_has_its_short_form_wherever_it_is_taken():
    missing = [
        f"{name} {long}"
        for name, parser in _commands(build_parser())
        for action in parser._actions
        for long, short in SHORT.items()
        if long in action.option_strings and short not in action.option_strings
    ]
    assert missing == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["interp", "a.pth", "b.pth", "-o", "x", "--tile", "-3"],
            "argument --tile: '-3': cannot be negative",
        ),
        (
            ["degrade", "-c", "o.yml", "in", "-o", "x", "-s", "0"],
            "argument -s/--scale: '0': must be a positive integer",
        ),
    ],
)
def test_a_bad_number_is_refused_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
