"""`upres prepare` shows its progress as `upres upscale` does: a bar on stderr when stderr is a terminal, else a line
per source on stdout. It chose and drew its bar on stdout: `upres prepare ... > list.txt` in a terminal showed
nothing there and filled the file with progress lines, and with stdout a terminal the bar went into stdout."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from upres.cli import main
from upres.io.images import write_image

NAMES = ["a.png", "b.png", "c.png"]


@pytest.fixture
def src(tmp_path):
    folder = tmp_path / "src"
    rng = np.random.default_rng(0)
    for name in NAMES:
        write_image(folder / name, rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    return folder


def _summary(out) -> str:
    return f"3 done, 0 already finished, 0 too small, 0 failed; 3 files written to {out}\n"


def test_with_stderr_a_terminal_the_bar_is_there_and_stdout_has_the_results_only(
    tmp_path, src, capsys, monkeypatch
):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    out = tmp_path / "out"
    assert main(["prepare", "lr", str(src), "-o", str(out), "-s", "2", "-j", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out == _summary(out)
    assert "prepare lr" in captured.err  # the bar


def test_with_stdout_a_terminal_and_stderr_not_stdout_has_a_line_per_source(
    tmp_path, src, capsys, monkeypatch
):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    out = tmp_path / "out"
    assert main(["prepare", "lr", str(src), "-o", str(out), "-s", "2", "-j", "1"]) == 0
    captured = capsys.readouterr()
    lines = [f"[{i}/3] done {src / name}\n" for i, name in enumerate(NAMES, 1)]
    assert captured.out == "".join(lines) + _summary(out)
    assert captured.err == ""
