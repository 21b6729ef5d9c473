"""train() called from Python (a notebook, an app): the same guarantees as `upres train`."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from train_helpers import base_options

from upres.errors import ConfigError
from upres.train.config import parse_options
from upres.train.loop import train


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_second_fresh_train_call_into_an_earlier_run_is_refused_and_changes_nothing(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    train(parse_options(base_options(hr_folder, exp)), device="cpu")
    before = _tree(exp)
    # A notebook cell run again with a smaller model: it trained over the first run's iteration-5 files and left
    # its 10.state, which --resume auto then took with the wrong network.
    again = base_options(hr_folder, exp, total_iter=5)
    again["network_g"]["num_feat"] = 4
    with pytest.raises(ConfigError) as refused:
        train(parse_options(again), device="cpu")
    assert str(refused.value) == (
        f"{exp} holds an earlier run (2 training state(s) (newest: iteration 10) and 4 model file(s)); "
        "continue it with --resume auto, or give this run another path.experiments_root "
        "(or --archive-old to move the earlier one aside)"
    )
    assert _tree(exp) == before


def test_archive_old_moves_the_earlier_run_aside_and_resume_auto_continues_it(tmp_path, hr_folder, capsys):
    exp = tmp_path / "exp"
    train(parse_options(base_options(hr_folder, exp)), device="cpu")
    first = _tree(exp)
    more = parse_options(base_options(hr_folder, exp, total_iter=15))
    assert train(more, resume="auto", device="cpu").iteration == 15
    capsys.readouterr()
    train(parse_options(base_options(hr_folder, exp)), device="cpu", archive_old=True)
    assert "note: moved the earlier run in " in capsys.readouterr().out
    (archived,) = tmp_path.glob("exp_archived_*")
    assert {k: v for k, v in _tree(archived).items() if k.startswith("models/net_g_5")} == {
        k: v for k, v in first.items() if k.startswith("models/net_g_5")
    }
    assert sorted(p.name for p in (exp / "training_states").iterdir()) == ["10.state", "5.state"]


def test_a_run_whose_stdout_cannot_show_its_paths_finishes(tmp_path, hr_folder, monkeypatch):
    """Windows' `python run.py > out.txt` gives a cp1252 stdout: the run ended with UnicodeEncodeError when the last
    lines named its Japanese experiment folder, after training."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    monkeypatch.setattr(sys, "stdout", out)
    exp = tmp_path / "実験"
    assert train(parse_options(base_options(hr_folder, exp)), device="cpu").iteration == 10
    out.flush()
    shown = out.buffer.getvalue().decode("cp1252")
    escaped = os.sep.join([str(tmp_path), "\\u5b9f\\u9a13", "models", "net_g_ema_10.safetensors"])
    assert f"  last model:  {escaped}" in shown.splitlines()
    assert f"  last model:  {exp}/models/net_g_ema_10.safetensors" in (exp / "log.txt").read_text("utf-8")
