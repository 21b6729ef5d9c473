"""Issue 12's structure rule, kept: small files that each own one thing, and a training loop short enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "upres"
MAX_FILE_LINES = 400
MAX_LOOP_LINES = 80


def test_no_source_file_is_over_the_limit():
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert not long, f"split these files (over {MAX_FILE_LINES} lines): {long}"


def test_the_training_loop_reads_in_one_screen_and_the_step_is_its_own_callable():
    tree = ast.parse((SRC / "train" / "loop.py").read_text(encoding="utf-8"))
    loop = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_train")
    assert loop.end_lineno - loop.lineno + 1 <= MAX_LOOP_LINES
    step = ast.parse((SRC / "train" / "step.py").read_text(encoding="utf-8"))
    classes = {n.name: n for n in step.body if isinstance(n, ast.ClassDef)}
    methods = {n.name for n in classes["TrainStep"].body if isinstance(n, ast.FunctionDef)}
    assert {"__call__", "forward_backward", "optimizer_step"} <= methods
