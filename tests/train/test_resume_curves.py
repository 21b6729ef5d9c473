"""Curves after training goes back to a saved state (`--resume auto` after a crash, the NaN guard's roll-back): each
iteration once, with the values of the run that went on, in report_history.json and in TensorBoard."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from train_helpers import base_options, merge, patch_forward

from upres.train import loop
from upres.train.config import parse_options
from upres.train.feed import BatchFeed


class _Crash(BaseException):
    """A process killed outright (SIGKILL, power loss): no handler of the loop runs."""


class _Writer:
    """torch's SummaryWriter as far as the run uses it, recording what it is given."""

    made: list[_Writer] = []

    def __init__(self, log_dir: str, purge_step: int | None = None) -> None:
        self.log_dir, self.purge_step, self.points = log_dir, purge_step, []
        _Writer.made.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.points.append((tag, step, float(value)))

    def add_image(self, *a, **k) -> None:
        pass

    def close(self) -> None:
        pass


def _shown(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard draws from the writers of `log_dir`, in the order they were opened: a writer opened with
    `purge_step` hides the points of the earlier ones at or after that step (torch's documented purge_step)."""
    points: list[tuple[str, int, float]] = []
    for w in _Writer.made:
        if w.log_dir != str(log_dir):
            continue
        if w.purge_step is not None:
            points = [p for p in points if p[1] < w.purge_step]
        points += w.points
    out: dict[str, list[tuple[int, float]]] = {}
    for tag, step, value in points:
        out.setdefault(tag, []).append((step, value))
    return out


@pytest.fixture
def fake_tensorboard(monkeypatch):
    _Writer.made = []
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=_Writer))


def _options(hr: Path, exp: Path) -> dict:
    return merge(
        base_options(hr, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr)}},
            "train": {"total_iter": 6},
            "val": {"val_freq": 4, "save_img": False, "metrics": {"psnr": {"type": "calculate_psnr"}}},
            "logger": {"print_freq": 1, "save_checkpoint_freq": 3, "use_tb_logger": True},
        },
    )


def _history(exp: Path) -> dict[str, list]:
    saved = json.loads((exp / "report_history.json").read_text())
    return {k: [tuple(p) for p in v] for k, v in saved.items() if not k.startswith("__")}


def _straight_and_crashed(tmp_path: Path, hr_folder: Path, monkeypatch) -> None:
    """tmp_path/straight: 6 iterations; tmp_path/crashed: the same killed in iteration 6, resumed from its state of 3."""
    loop.train(parse_options(_options(hr_folder, tmp_path / "straight")))
    opts = parse_options(_options(hr_folder, tmp_path / "crashed"))
    real = BatchFeed.__call__

    def feed(self, it, micro):
        if it == 6:
            raise _Crash
        return real(self, it, micro)

    with monkeypatch.context() as patch:
        patch.setattr(BatchFeed, "__call__", feed)
        with pytest.raises(_Crash):
            loop.train(opts)
    loop.train(opts, resume="auto")


@pytest.mark.slow  # three short runs: ~5 s on an idle 2-core machine
def test_a_resume_after_a_crash_shows_each_iteration_once_in_tensorboard(
    tmp_path, hr_folder, monkeypatch, fake_tensorboard
):
    """Killed in iteration 6, the run resumes from its state of 3: TensorBoard drew iterations 4 and 5 (and the
    validation at 4) twice, from the killed session and the resumed one."""
    _straight_and_crashed(tmp_path, hr_folder, monkeypatch)
    straight = _shown(tmp_path / "straight" / "tb_logger")
    crashed = _shown(tmp_path / "crashed" / "tb_logger")
    assert [s for s, _ in straight["train/l_g_l1"]] == list(range(1, 7))
    assert [s for s, _ in straight["val/val/psnr"]] == [4, 6]
    assert crashed == straight
    assert _history(tmp_path / "crashed") == _history(tmp_path / "straight")
    assert (
        "training finished: test, iteration 6 of 6; this session trained 3->6 in "
        in (tmp_path / "crashed" / "log.txt").read_text()
    )
    assert "(this session, from iteration 3)" in (tmp_path / "crashed" / "report.html").read_text()


def test_a_nan_roll_back_leaves_each_iteration_once_in_the_curves(
    tmp_path, hr_folder, monkeypatch, fake_tensorboard
):
    """Iterations 7-10 give NaN; at 10 the guard rolls back to the state of 6 and trains 7-10 again: the report's
    curves and TensorBoard held 7, 8 and 9 twice (first NaN, then the values of the run that went on)."""
    patch_forward(
        monkeypatch, lambda n, forward, x: forward(x) * float("nan") if 7 <= n <= 10 else forward(x)
    )
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "train": {"total_iter": 12, "nan_rollback_after": 4, "ema_decay": 0},
            "logger": {"print_freq": 1, "save_checkpoint_freq": 6, "use_tb_logger": True},
        },
    )
    loop.train(parse_options(opts))
    assert "rolled back to 6.state (iteration 6)" in (exp / "log.txt").read_text()
    history = _history(exp)
    shown = _shown(exp / "tb_logger")
    for tag in ("train/l_g_l1", "train/lr"):
        assert [i for i, _ in history[tag]] == list(range(1, 13)), tag
        assert shown[tag] == history[tag], tag
    # The points kept after the roll-back are those of the steps trained again, at half the rate.
    assert all(v == v for _, v in history["train/l_g_l1"])
    assert [v for i, v in history["train/lr"] if i > 6] == [5e-4] * 6


@pytest.mark.slow
def test_with_tensorboard_itself_a_resumed_run_shows_each_iteration_once(tmp_path, hr_folder, monkeypatch):
    """As the first test, read back by TensorBoard's own event reader (where tensorboard is installed)."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def shown(exp: Path) -> dict[str, list[tuple[int, float]]]:
        reader = EventAccumulator(str(exp / "tb_logger"))
        reader.Reload()
        return {t: [(e.step, e.value) for e in reader.Scalars(t)] for t in reader.Tags()["scalars"]}

    _straight_and_crashed(tmp_path, hr_folder, monkeypatch)
    assert shown(tmp_path / "crashed") == shown(tmp_path / "straight")
