"""A run resumed between two progress lines logs what the uninterrupted run logs: the loss sums since the last line,
the `skipped N` count and the NaN guard's run of non-finite steps are part of the training state."""

from __future__ import annotations

import json
import re
from pathlib import Path

from train_helpers import base_options, merge, patch_forward

from upres.train.config import parse_options
from upres.train.loop import train


def _options(hr: Path, root: Path) -> dict:
    # A state at 3, lines at 4 and 8: a resume from it starts inside a window.
    return merge(
        base_options(hr, root),
        {"train": {"total_iter": 8, "ema_decay": 0}, "logger": {"print_freq": 4, "save_checkpoint_freq": 3}},
    )


def _curves(root: Path) -> str:
    history = json.loads((root / "report_history.json").read_text())
    return json.dumps({k: v for k, v in history.items() if k.startswith("train/")})  # NaN compares as text


def _lines(root: Path) -> list[tuple[str, str]]:
    """(iteration, "lr ... | losses ... | skipped N") of every progress line."""
    return re.findall(r"iter (\d+)/8 .*? \| (lr .*? \| skipped \d+) \|", (root / "log.txt").read_text())


def test_a_resume_between_two_progress_lines_logs_the_uninterrupted_runs_losses_and_skipped_steps(
    tmp_path, hr_folder, monkeypatch
):
    nan_at = {"call": 2}  # iteration 2's step is skipped (its loss is NaN): `skipped 1` from then on
    patch_forward(
        monkeypatch, lambda n, forward, x: forward(x) * float("nan") if n == nan_at["call"] else forward(x)
    )
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(parse_options(_options(hr_folder, straight)), device="cpu")
    nan_at["call"] = 0
    train(
        parse_options(_options(hr_folder, resumed)),
        resume=str(straight / "training_states" / "3.state"),
        device="cpu",
    )
    expected = _lines(straight)
    assert [it for it, _ in expected] == ["4", "8"] and "skipped 1" in expected[0][1]
    assert _lines(resumed) == expected
    assert _curves(resumed) == _curves(straight)
