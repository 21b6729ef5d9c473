"""argparse value types shared by the commands, so a bad number fails at parse time with the flag named."""

from __future__ import annotations

import argparse
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
    return Path(text)
