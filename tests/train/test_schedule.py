"""Learning-rate schedules equal PyTorch's schedulers of the same name (eta_min is absolute, as there)."""

from __future__ import annotations

import typing

import pytest
import torch

from upres.train.config import SchedulerOptions
from upres.train.schedule import SCHEDULERS, Schedule

STEPS = 90
# Every option any scheduler reads, at once: each type takes its own. The second set leaves the periods to total_iter.
VARIANTS = {
    "set": dict(milestones=[7, 15, 40], gamma=0.3, T_max=20, T_0=6, T_mult=2, eta_min=1e-5),
    "defaults": dict(milestones=[30], eta_min=2e-4),
    "restarts_equal": dict(T_0=25, T_mult=1, eta_min=1e-6),
}

# What the other types need beyond the variant (torch has no default for these).
REQUIRED = {
    "steplr": dict(step_size=9),
    "exponentiallr": dict(gamma=0.97),
    "onecyclelr": dict(max_lr=0.01, total_steps=STEPS),
}


def _optimizer(lr: float = 1e-3) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _lrs(scheduler, optimizer, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_every_accepted_type_has_a_schedule():
    accepted = {t.lower() for t in typing.get_args(SchedulerOptions.model_fields["type"].annotation)}
    assert accepted == set(SCHEDULERS)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind", SCHEDULERS)
def test_each_schedule_equals_torch(kind, variant):
    if SCHEDULERS[kind].torch_equivalent is None:
        pytest.skip(f"torch has no {kind}; tests/train/test_schedulers.py compares it with BasicSR's")
    opts = SchedulerOptions(type=kind, **{**REQUIRED.get(kind, {}), **VARIANTS[variant]})
    ours_opt, ref_opt = _optimizer(), _optimizer()
    ours = _lrs(Schedule(ours_opt, opts, warmup_iter=-1, total_iter=60).scheduler, ours_opt, STEPS)
    ref = _lrs(SCHEDULERS[kind].torch_equivalent(ref_opt, opts, 60), ref_opt, STEPS)
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_eta_min_is_the_absolute_floor():
    # The case from the issue: {CosineAnnealingLR, T_max: 60, eta_min: 1e-5} at lr 1e-3 ends at 1e-5, not 1e-8.
    opts = SchedulerOptions(type="CosineAnnealingLR", T_max=60, eta_min=1e-5)
    opt = _optimizer(1e-3)
    lrs = _lrs(Schedule(opt, opts, warmup_iter=-1, total_iter=60).scheduler, opt, 61)
    assert lrs[0] == pytest.approx(1e-3) and lrs[60] == pytest.approx(1e-5, rel=1e-9)
    assert min(lrs) == pytest.approx(1e-5, rel=1e-9)


def test_warm_up_scales_the_schedule_linearly():
    opts = SchedulerOptions(type="CosineAnnealingLR", T_max=40, eta_min=1e-5)
    plain_opt, warm_opt = _optimizer(), _optimizer()
    plain = _lrs(Schedule(plain_opt, opts, -1, 40).scheduler, plain_opt, 40)
    warm = _lrs(Schedule(warm_opt, opts, 10, 40).scheduler, warm_opt, 40)
    assert warm[:10] == pytest.approx([p * (i + 1) / 10 for i, p in enumerate(plain[:10])], rel=1e-12)
    assert warm[10:] == pytest.approx(plain[10:], rel=1e-12)


@pytest.mark.parametrize(
    ("kind", "make_torch"),
    [
        ("MultiStepLR", lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, [10, 30])),
        ("StepLR", lambda opt: torch.optim.lr_scheduler.StepLR(opt, 9)),
    ],
)
def test_an_omitted_gamma_is_torchs_default(kind, make_torch):
    # traiNNer-redux and BasicSR build torch's schedulers: a file that leaves gamma out must decay alike here.
    opts = SchedulerOptions(type=kind, milestones=[10, 30], step_size=9)
    ours_opt, ref_opt = _optimizer(), _optimizer()
    ours = _lrs(Schedule(ours_opt, opts, warmup_iter=-1, total_iter=60).scheduler, ours_opt, 50)
    assert ours == pytest.approx(_lrs(make_torch(ref_opt), ref_opt, 50), rel=1e-9)
