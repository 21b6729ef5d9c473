"""Closed forms of torch's step-wise schedulers that traiNNer-redux option files name, beyond multi-step and cosine:
the learning rate after `it` optimizer steps from the base rate (train/schedule.py registers each one beside the
torch scheduler it equals), and OneCycleLR's momentum."""

from __future__ import annotations

import math

from upres.train.schedule_options import SchedulerOptions

# torch's (and so BasicSR's and traiNNer-redux's) default: a file that omits gamma decays alike everywhere.
DEFAULT_GAMMA = {"MultiStepLR": 0.1, "StepLR": 0.1}


def gamma(o: SchedulerOptions) -> float:
    return o.gamma if o.gamma is not None else DEFAULT_GAMMA.get(o.type, 0.1)


def step(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    assert o.step_size is not None
    return base * gamma(o) ** (it // o.step_size)


def exponential(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    return base * gamma(o) ** it


def constant_factor(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    return base * (o.factor if it < o.total_iters else 1.0)


def linear(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    if o.total_iters == 0:
        return base * o.end_factor
    done = min(it, o.total_iters) / o.total_iters
    return base * (o.start_factor + (o.end_factor - o.start_factor) * done)


def polynomial(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    if o.total_iters == 0:
        return base
    return base * (1 - min(it, o.total_iters) / o.total_iters) ** o.power


def cosine_restart(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    """BasicSR's CosineAnnealingRestartLR: cycles of `periods`, each starting at its `restart_weights` share."""
    periods = o.periods or []
    start = 0
    for i, (period, weight) in enumerate(zip(periods, o.restart_weights, strict=True)):
        # BasicSR fails past the last cycle; upres stays at that cycle's end.
        if it <= start + period or i == len(periods) - 1:
            t = min(it - start, period)
            return o.eta_min + weight * 0.5 * (base - o.eta_min) * (1 + math.cos(math.pi * t / period))
        start += period
    return base


def one_cycle_lr(it: int, base: float, o: SchedulerOptions, total_iter: int) -> float:
    return one_cycle(it, o, total_iter)[0]


def _anneal(start: float, end: float, pct: float, strategy: str) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def one_cycle(it: int, o: SchedulerOptions, total_iter: int) -> tuple[float, float]:
    """(learning rate, momentum) of torch's OneCycleLR after `it` steps; its base rate is max_lr / div_factor."""
    assert o.max_lr is not None
    total = o.total_steps or total_iter
    it = min(it, total - 1)  # torch refuses to step past total_steps; upres stays at the final rate
    initial = o.max_lr / o.div_factor
    final = initial / o.final_div_factor
    hi, lo = o.max_momentum, o.base_momentum
    rise = float(o.pct_start * total) - 1
    if o.three_phase:
        phases = [
            (rise, initial, o.max_lr, hi, lo),
            (float(2 * o.pct_start * total) - 2, o.max_lr, initial, lo, hi),
            (total - 1, initial, final, hi, hi),
        ]
    else:
        phases = [(rise, initial, o.max_lr, hi, lo), (total - 1, o.max_lr, final, lo, hi)]
    start_step = 0.0
    for i, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
        if it <= end_step or i == len(phases) - 1:
            pct = (it - start_step) / (end_step - start_step)
            return _anneal(lr0, lr1, pct, o.anneal_strategy), _anneal(m0, m1, pct, o.anneal_strategy)
        start_step = end_step
    raise AssertionError("unreachable")
