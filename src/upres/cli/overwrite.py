"""Outputs that replace a file the user already has (a model, a finished video) only when asked with --force."""

from __future__ import annotations

import argparse
from pathlib import Path

from upres.errors import ConfigError


def add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="replace OUT when it already exists")


def refuse_existing(path: Path | str, force: bool) -> None:
    """Before any work: an existing file at `path` stays unless --force (convert and interp replaced another model
    without a word)."""
    path = Path(path)
    if not force and path.is_file():
        raise ConfigError(f"{path}: exists; add --force to replace it, or choose another name")
