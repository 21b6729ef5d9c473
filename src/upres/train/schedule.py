"""Optimizers and learning-rate schedules (with linear warm-up) from the option models."""

from __future__ import annotations

import bisect
import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from upres.train.config import OptimizerOptions, SchedulerOptions


def build_optimizer(params, opts: OptimizerOptions) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if opts.type.lower() == "adamw" else torch.optim.Adam
    kwargs = dict(lr=opts.lr, betas=opts.betas, eps=opts.eps, weight_decay=opts.weight_decay)
    # Fused kernels accept a `found_inf` tensor and skip the update on the device: a NaN guard with no host sync.
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, foreach=True, **kwargs)


def supports_device_skip(optimizer: torch.optim.Optimizer) -> bool:
    return bool(optimizer.defaults.get("fused"))


def lr_factor(it: int, opts: SchedulerOptions, warmup_iter: int, total_iter: int) -> float:
    """Multiplier of the base learning rate after `it` optimizer steps."""
    kind = opts.type.lower()
    if kind == "multisteplr":
        f = opts.gamma ** bisect.bisect_right(opts.milestones, it)
    elif kind == "cosineannealinglr":
        t_max = opts.T_max or total_iter
        f = _cosine(min(it, t_max), t_max, opts.eta_min)
    elif kind == "cosineannealingwarmrestarts":
        t0 = opts.T_0 or total_iter
        t_i, t_cur = t0, it
        while t_cur >= t_i:
            t_cur -= t_i
            t_i *= opts.T_mult
        f = _cosine(t_cur, t_i, opts.eta_min)
    else:
        f = 1.0
    if warmup_iter > 0 and it < warmup_iter:
        f *= (it + 1) / warmup_iter
    return f


def _cosine(t: int, period: int, eta_min_factor: float) -> float:
    return eta_min_factor + (1 - eta_min_factor) * 0.5 * (1 + math.cos(math.pi * t / period))


class Schedule:
    """LambdaLR over `lr_factor`, times `lr_scale` (halved by the NaN guard's roll-back)."""

    def __init__(self, optimizer, opts: SchedulerOptions, warmup_iter: int, total_iter: int) -> None:
        self.lr_scale = 1.0
        self.scheduler = LambdaLR(
            optimizer, lambda it: self.lr_scale * lr_factor(it, opts, warmup_iter, total_iter)
        )

    def step(self) -> None:
        self.scheduler.step()

    def current_lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict(), "lr_scale": self.lr_scale}

    def load_state_dict(self, state: dict) -> None:
        self.lr_scale = float(state["lr_scale"])
        self.scheduler.load_state_dict(state["scheduler"])
        # LambdaLR.load_state_dict restores base_lrs/last_epoch; recompute the current lr with the restored scale.
        for group, base in zip(self.scheduler.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)
