"""Optimizers and learning-rate schedules (with linear warm-up) from the option models."""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.optim import lr_scheduler
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from upres.errors import ConfigError
from upres.train import lr_schedules as ls
from upres.train.config import OptimizerOptions, SchedulerOptions


def build_optimizer(params, opts: OptimizerOptions) -> torch.optim.Optimizer:
    params = list(params)  # a second try must see them again
    cls = getattr(torch.optim, opts.type)
    kwargs = opts.kwargs()
    # Fused kernels accept a `found_inf` tensor and skip the update on the device: a NaN guard with no host sync.
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, foreach=True, **kwargs)


def supports_device_skip(optimizer: torch.optim.Optimizer) -> bool:
    return bool(optimizer.defaults.get("fused"))


@dataclass(frozen=True)
class SchedulerKind:
    """One `train.scheduler.type`: its learning rate after `it` optimizer steps as a closed form of the base rate,
    and the PyTorch scheduler it equals (option files from traiNNer-redux/BasicSR mean that one; tests compare)."""

    lr: Callable[[int, float, SchedulerOptions, int], float]  # (it, base lr, options, total_iter) -> lr
    # None where torch has no such scheduler (BasicSR's CosineAnnealingRestartLR: tested against BasicSR's).
    torch_equivalent: Callable[[torch.optim.Optimizer, SchedulerOptions, int], LRScheduler] | None


def _multistep(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    # BasicSR's MultiStepRestartLR: from the latest restart at or before `it`, lr x its weight, decayed by the
    # milestones after it (a milestone at the restart's own iteration is not applied, as in BasicSR).
    since, weight = -1, 1.0
    for r, w in zip(o.restarts or [], o.restart_weights):
        if since < r <= it:
            since, weight = r, w
    ms = o.milestones
    return base * weight * ls.gamma(o) ** (bisect.bisect_right(ms, it) - bisect.bisect_right(ms, since))


def _cosine_between(t: float, period: float, base: float, eta_min: float) -> float:
    # eta_min is the absolute floor, as in torch.optim.lr_scheduler (not a fraction of the base rate).
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / period)) / 2


def _cosine(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    # Past T_max the cosine goes on (back up), as torch's CosineAnnealingLR does.
    return _cosine_between(it, o.T_max or total_iter, base, o.eta_min)


def _cosine_restarts(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    t_i, t_cur = o.T_0 or total_iter, it
    while t_cur >= t_i:
        t_cur -= t_i
        t_i *= o.T_mult
    return _cosine_between(t_cur, t_i, base, o.eta_min)


def _constant(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    return base


SCHEDULERS: dict[str, SchedulerKind] = {
    "multisteplr": SchedulerKind(
        _multistep, lambda opt, o, total: lr_scheduler.MultiStepLR(opt, o.milestones, ls.gamma(o))
    ),
    "cosineannealinglr": SchedulerKind(
        _cosine, lambda opt, o, total: lr_scheduler.CosineAnnealingLR(opt, o.T_max or total, o.eta_min)
    ),
    "cosineannealingwarmrestarts": SchedulerKind(
        _cosine_restarts,
        lambda opt, o, total: lr_scheduler.CosineAnnealingWarmRestarts(
            opt, o.T_0 or total, o.T_mult, o.eta_min
        ),
    ),
    "constant": SchedulerKind(_constant, lambda opt, o, total: lr_scheduler.ConstantLR(opt, 1.0, 0)),
    "steplr": SchedulerKind(
        ls.step, lambda opt, o, total: lr_scheduler.StepLR(opt, o.step_size, ls.gamma(o))
    ),
    "exponentiallr": SchedulerKind(
        ls.exponential, lambda opt, o, total: lr_scheduler.ExponentialLR(opt, ls.gamma(o))
    ),
    "constantlr": SchedulerKind(
        ls.constant_factor, lambda opt, o, total: lr_scheduler.ConstantLR(opt, o.factor, o.total_iters)
    ),
    "linearlr": SchedulerKind(
        ls.linear,
        lambda opt, o, total: lr_scheduler.LinearLR(opt, o.start_factor, o.end_factor, o.total_iters),
    ),
    "polynomiallr": SchedulerKind(
        ls.polynomial, lambda opt, o, total: lr_scheduler.PolynomialLR(opt, o.total_iters, o.power)
    ),
    "onecyclelr": SchedulerKind(
        ls.one_cycle_lr,
        lambda opt, o, total: lr_scheduler.OneCycleLR(
            opt,
            o.max_lr,
            total_steps=o.total_steps or total,
            pct_start=o.pct_start,
            anneal_strategy=o.anneal_strategy,
            cycle_momentum=o.cycle_momentum,
            base_momentum=o.base_momentum,
            max_momentum=o.max_momentum,
            div_factor=o.div_factor,
            final_div_factor=o.final_div_factor,
            three_phase=o.three_phase,
        ),
    ),
    "cosineannealingrestartlr": SchedulerKind(ls.cosine_restart, None),
}


def scheduled_lr(it: int, base: float, opts: SchedulerOptions, warmup_iter: int, total_iter: int) -> float:
    """The learning rate after `it` optimizer steps, with the linear warm-up over the first `warmup_iter`."""
    lr = SCHEDULERS[opts.type.lower()].lr(it, base, opts, total_iter)
    if warmup_iter > 0 and it < warmup_iter:
        lr *= (it + 1) / warmup_iter
    return lr


class Schedule:
    """LambdaLR over `scheduled_lr`, times `lr_scale` (halved by the NaN guard's roll-back)."""

    def __init__(self, optimizer, opts: SchedulerOptions, warmup_iter: int, total_iter: int) -> None:
        self.lr_scale = 1.0
        self.opts, self.warmup_iter, self.total_iter = opts, warmup_iter, total_iter
        self.saved_shape: dict | None = None  # the shape of a resumed state's schedule (see shape_change)
        self.restarted: dict | None = None  # the last train.restart_scheduler: its iteration and settings
        self.momentum_key = (
            _momentum_key(optimizer) if opts.type == "OneCycleLR" and opts.cycle_momentum else None
        )

        # The rates the schedule is a function of: the options' at the start, the state's after a resume. Read at
        # each step, not captured: a schedule with an absolute floor (eta_min) is not a multiple of its base rate, and
        # a resume with another `lr` in the options ran neither schedule (it ended at half of eta_min).
        self._bases = [group["lr"] for group in optimizer.param_groups]
        if opts.type == "OneCycleLR" and 0 in self._bases:
            raise ConfigError(
                "train.scheduler OneCycleLR with an optimizer lr of 0: OneCycleLR's rates come from max_lr, which a "
                "rate of 0 cannot scale to; give lr any positive value (OneCycleLR does not read it)"
            )

        def factor(i: int) -> Callable[[int], float]:
            # a base rate of 0 (a frozen network) stays 0 whatever the schedule would add (an absolute eta_min)
            return lambda it: (
                self.lr_scale
                * scheduled_lr(it, self._bases[i], opts, warmup_iter, total_iter)
                / self._bases[i]
                if self._bases[i]
                else 0.0
            )

        self.scheduler = LambdaLR(optimizer, [factor(i) for i in range(len(optimizer.param_groups))])
        self._set_momentum()

    def step(self) -> None:
        with warnings.catch_warnings():
            # D's schedule steps every iteration, also before the GAN starts training D (as BasicSR's); torch's
            # warning about a scheduler stepping before its optimizer concerns epoch-based schedules, not LambdaLR.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            self.scheduler.step()
        self._set_momentum()

    @property
    def base_lr(self) -> float:
        """The rate the schedule scales: the options' at the start, the state's after a resume."""
        return self.scheduler.base_lrs[0]

    def restart(self, base_lr: float | None = None, at: int = 0) -> None:
        """Start the schedule again from its first step (train.restart_scheduler on resume at iteration `at`), from
        `base_lr` when given (the options' rate) instead of the state's."""
        self.restarted = {"at": at, "settings": self._restart_settings(base_lr or self.base_lr)}
        self.lr_scale = 1.0
        self.scheduler.last_epoch = 0
        if base_lr is not None:
            self.scheduler.base_lrs = [base_lr] * len(self.scheduler.base_lrs)
            for group in self.scheduler.optimizer.param_groups:
                group["initial_lr"] = base_lr
        self._apply()

    def restarted_with(self, base_lr: float) -> int | None:
        """The iteration of an earlier restart made with these settings (this rate, scheduler and warm-up), else
        None: train.restart_scheduler left in the file then asks for the restart that already happened."""
        done = self.restarted
        return done["at"] if done and done["settings"] == self._restart_settings(base_lr) else None

    def _restart_settings(self, base_lr: float) -> dict:
        return {
            "lr": base_lr,
            "scheduler": self.opts.model_dump(mode="json"),
            "warmup_iter": self.warmup_iter,
        }

    def set_scale(self, scale: float) -> None:
        """The NaN guard's factor on every rate, in effect from the next step on."""
        self.lr_scale = scale
        self._apply()

    def _apply(self) -> None:
        """Set the optimizer's rates for the schedule's current step (after a change of base, step or scale)."""
        self._bases = list(self.scheduler.base_lrs)
        for group, base, lam in zip(
            self.scheduler.optimizer.param_groups, self.scheduler.base_lrs, self.scheduler.lr_lambdas
        ):
            group["lr"] = base * lam(self.scheduler.last_epoch)
        self._set_momentum()

    def _set_momentum(self) -> None:
        # OneCycleLR also cycles Adam's beta1 (or SGD's momentum), inversely to the learning rate, as torch's does.
        if self.momentum_key is None:
            return
        momentum = ls.one_cycle(self.scheduler.last_epoch, self.opts, self.total_iter)[1]
        for group in self.scheduler.optimizer.param_groups:
            if self.momentum_key == "betas":
                group["betas"] = (momentum, *group["betas"][1:])
            else:
                group["momentum"] = momentum

    def current_lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def shape(self) -> dict:
        """What the rates are a function of besides the base rate: the options, warm-up and total_iter."""
        return {
            "scheduler": self.opts.model_dump(mode="json"),
            "warmup_iter": self.warmup_iter,
            "total_iter": self.total_iter,
        }

    def shape_change(self) -> str | None:
        """After a resume: how the options' schedule differs from the state's, where that changes a rate from the
        resumed iteration on (milestones moved, total_iter raised under a cosine), else None. The options' shape is
        the one that runs; BasicSR's and traiNNer-redux's resume kept the state's, so it is said."""
        saved = self.saved_shape
        if saved is None or saved == self.shape():
            return None
        try:
            old = SchedulerOptions.model_validate(saved["scheduler"])
        except ValueError:
            return "the state's schedule is not readable by this version"
        start, base = self.scheduler.last_epoch, self.base_lr
        end = max(saved["total_iter"], self.total_iter, start + 1)
        points = sorted({*range(start, end, max(1, (end - start) // 2000)), end})

        def rates(opts: SchedulerOptions, warmup: int, total: int) -> list[float]:
            return [scheduled_lr(it, base, opts, warmup, total) for it in points]

        before = rates(old, saved["warmup_iter"], saved["total_iter"])
        after = rates(self.opts, self.warmup_iter, self.total_iter)
        if all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-30) for a, b in zip(before, after)):
            return None
        new = self.shape()
        keys = [
            f"{k} {saved['scheduler'].get(k)} -> {v}"
            for k, v in new["scheduler"].items()
            if saved["scheduler"].get(k) != v
        ] + [f"{k} {saved[k]} -> {new[k]}" for k in ("warmup_iter", "total_iter") if saved[k] != new[k]]
        return (
            f"{', '.join(keys)}: the rate at iteration {start} is {after[0]:.4g} (the state's schedule: "
            f"{before[0]:.4g}) and follows the new schedule from here"
        )

    def state_dict(self) -> dict:
        return {
            "scheduler": self.scheduler.state_dict(),
            "lr_scale": self.lr_scale,
            "shape": self.shape(),
            "restarted": self.restarted,
        }

    def load_state_dict(self, state: dict) -> None:
        self.lr_scale = float(state["lr_scale"])
        self.saved_shape = state.get("shape")  # states written before it was recorded have none
        self.restarted = state.get("restarted")
        self.scheduler.load_state_dict(state["scheduler"])
        # LambdaLR.load_state_dict restores base_lrs/last_epoch; recompute the current lr with them and the scale.
        self._apply()


def _momentum_key(optimizer: torch.optim.Optimizer) -> str:
    if "betas" in optimizer.defaults:
        return "betas"
    if "momentum" in optimizer.defaults:
        return "momentum"
    raise ConfigError(
        f"train.scheduler: OneCycleLR cycles the momentum, which {type(optimizer).__name__} does not have; "
        "set cycle_momentum: false"
    )
