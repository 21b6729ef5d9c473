"""argparse value types shared by the commands, so a bad number fails at parse time with the flag named."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive integer")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: cannot be negative")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):  # nan too
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number greater than 0")
    return value


def name_suffix(text: str) -> str:
    """A suffix of output file names (`upres test --suffix`): part of a name, never a path."""
    from upres.train.config import suffix_problem

    if why := suffix_problem(text):
        raise argparse.ArgumentTypeError(why)
    return text


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def output_path(text: str) -> Path:
    """An output path; empty (an unset shell variable in `-o "$OUT"`) was taken as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path; give the output's name")
    if text == "-":  # the usual name for standard output: it made a folder or file named "-"
        raise argparse.ArgumentTypeError(
            "'-' (standard output) is not supported; give a file or folder name (./- for one named '-')"
        )
    return Path(text)


def expand_home(argv: list[str]) -> list[str]:
    """`~` as the shell would have expanded it: in `--output=~/x` (bash leaves `~` after `=` alone), in a quoted
    `'~/x'`, and on Windows, whose shells never expand it. Left as it was, `-o` wrote into a folder named `~`."""
    return [_expand_one(arg) for arg in argv]


def _expand_one(arg: str) -> str:
    flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    if _is_home(value):
        return f"{flag}{eq}{os.path.expanduser(value)}"
    return arg


def _is_home(text: str) -> bool:
    return text == "~" or (len(text) > 1 and text[0] == "~" and text[1] in {"/", os.sep, os.altsep})
