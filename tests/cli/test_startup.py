"""`upres --help` and every command's `--help` answer without importing torch, numpy or matplotlib (under a second)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from upres.cli import COMMANDS

PROBE = """
import sys
from upres.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "numpy", "PIL", "scipy", "skimage", "matplotlib") if m in sys.modules)
print("HEAVY", ",".join(heavy))
"""


def _heavy_after(argv: list[str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=True,
    ).stdout
    return next(line for line in out.splitlines() if line.startswith("HEAVY")).removeprefix("HEAVY").strip()


def test_top_level_help_imports_no_heavy_module():
    assert _heavy_after(["--help"]) == ""


@pytest.mark.parametrize("command", ["train", "info", "convert", "interp", "upscale"])
def test_command_help_imports_no_heavy_module(command: str):
    assert command in COMMANDS
    assert _heavy_after([command, "--help"]) == ""
