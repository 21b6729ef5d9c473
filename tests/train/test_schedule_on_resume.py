"""The learning rate across a resume and the NaN guard's roll-backs."""

from __future__ import annotations

import re

import pytest
import torch
from train_helpers import base_options, merge, patch_forward

from upres.train.config import parse_options
from upres.train.loop import train
from upres.train.schedule import Schedule
from upres.train.schedule_options import SchedulerOptions


@pytest.mark.parametrize(
    "kind",
    [
        {"type": "CosineAnnealingLR", "eta_min": 1e-4},
        {"type": "CosineAnnealingWarmRestarts", "T_0": 6, "eta_min": 1e-4},
        {
            "type": "CosineAnnealingRestartLR",
            "periods": [8, 12],
            "restart_weights": [1, 0.5],
            "eta_min": 1e-4,
        },
        {"type": "MultiStepLR", "milestones": [5, 15], "gamma": 0.5},
    ],
)
def test_a_resume_with_another_lr_in_the_options_goes_on_with_the_states_schedule(kind):
    """The schedule was built from the options' lr and scaled to the state's: right only for schedules that are a
    multiple of their base rate. With eta_min, a resume at another lr ended at half of eta_min."""
    opts = SchedulerOptions(**kind)

    def rates(lr, state=None, steps=20):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
        schedule = Schedule(opt, opts, warmup_iter=0, total_iter=20)
        if state is not None:
            schedule.load_state_dict(state)
        out = []
        for _ in range(steps):
            out.append(schedule.current_lr())
            opt.step()
            schedule.step()
        return out, schedule.state_dict()

    straight, _ = rates(5e-4)
    first, state = rates(5e-4, steps=10)
    resumed, _ = rates(1e-3, state=state, steps=10)  # the options now say 1e-3; the state's run goes on
    assert first + resumed == pytest.approx(straight, rel=1e-12, abs=0)


def test_each_roll_back_halves_the_rates_again_and_the_eighth_is_the_last(tmp_path, hr_folder, monkeypatch):
    """The guard halved the state's rate once, however many roll-backs there were, and made a ninth before it
    stopped."""
    # Every iteration after the state at 5 diverges.
    nan_after = {"call": 5}
    patch_forward(
        monkeypatch, lambda n, forward, x: forward(x) * float("nan") if n > nan_after["call"] else forward(x)
    )
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "train": {"total_iter": 200, "nan_rollback_after": 2, "ema_decay": 0},
            "logger": {"print_freq": 2, "save_checkpoint_freq": 5},
        },
    )
    advice = "lower train.optim_g/optim_d lr and add train.restart_scheduler: true"
    with pytest.raises(Exception, match=f"still non-finite after 8 roll-backs to iteration 5.*; {advice}"):
        train(parse_options(opts), device="cpu")
    log = (exp / "log.txt").read_text()
    scales = [float(s) for s in re.findall(r"halved the learning rate \(scale ([\d.e-]+)\)", log)]
    assert scales == [0.5**n for n in range(1, 9)]
    # The advice works: the resumed run trains at the lowered rate (without restart_scheduler, at the state's).
    nan_after["call"] = 10**9
    lowered = merge(opts, {"train": {"total_iter": 6, "optim_g": {"lr": 1e-4}, "restart_scheduler": True}})
    train(parse_options(lowered), resume="auto", device="cpu")
    assert re.findall(r"iter 6/6 .*\| lr ([\d.e-]+) \|", (exp / "log.txt").read_text()) == ["0.0001"]


def test_a_run_that_diverges_before_its_first_state_ends_in_an_error_with_nothing_saved(tmp_path, hr_folder):
    """With no state to roll back to, the guard's iteration skipped its checkpoint, validation and the final save:
    the run said 'training finished' (exit 0) with an empty models folder. And a state written from the diverging
    model (lr 1e30: weights finite but ~1e30) was what later roll-backs went back to."""
    from upres.train.persist import TrainingError

    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "train": {"total_iter": 30, "ema_decay": 0},
            "logger": {"print_freq": 5, "save_checkpoint_freq": 7},
            "val": {"val_freq": 7, "metrics": {"psnr": {"type": "calculate_psnr"}}},
        },
    )
    opts["datasets"]["val"] = {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}
    opts["train"]["optim_g"]["lr"] = 1e30
    with pytest.raises(TrainingError, match=r"iteration 30: the model diverged .* no checkpoint was written"):
        train(parse_options(opts), device="cpu")
    assert list((exp / "models").iterdir()) == [] and list((exp / "training_states").iterdir()) == []
    log = (exp / "log.txt").read_text()
    assert "no checkpoint yet, halving the learning rate" in log
    assert "iteration 7: the model is diverging; no checkpoint or validation of it" in log
    assert "validation val @" not in log


def test_a_dry_run_whose_iteration_is_not_finite_is_not_ok(tmp_path, hr_folder, monkeypatch):
    """It printed 'l_g_l1 nan ... skipped 1' and then 'dry run OK'."""
    from upres.train.persist import TrainingError

    patch_forward(monkeypatch, lambda n, forward, x: forward(x) * float("nan"))
    opts = base_options(hr_folder, tmp_path / "exp")
    with pytest.raises(TrainingError, match=r"dry run: the iteration's losses are not finite \(l_g_l1 nan"):
        train(parse_options(opts), dry_run=True, device="cpu")
    monkeypatch.undo()
    assert train(parse_options(opts), dry_run=True, device="cpu").dry_run_seconds is not None
