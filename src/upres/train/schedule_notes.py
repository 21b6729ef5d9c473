"""Notes on learning-rate schedules that do not fit the run: a milestone past train.total_iter decays nothing (a
total_iter shortened for a test run, or one zero too many in a milestone), and a key the scheduler's type does not read
(`T_max` with `type` left out: MultiStepLR, the default, held the rate constant), and nothing said so."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upres.train.config import Options
    from upres.train.schedule_options import SchedulerOptions

_ONE_CYCLE = (
    "max_lr", "total_steps", "pct_start", "anneal_strategy", "div_factor", "final_div_factor", "three_phase",
    "cycle_momentum", "base_momentum", "max_momentum",
)  # fmt: skip
# The keys each type reads (train/lr_schedules.py); `type` and `last_epoch` belong to every one.
READ_BY = {
    "MultiStepLR": ("milestones", "gamma", "restarts", "restart_weights"),
    "CosineAnnealingLR": ("T_max", "eta_min"),
    "CosineAnnealingWarmRestarts": ("T_0", "T_mult", "eta_min"),
    "constant": (),
    "StepLR": ("step_size", "gamma"),
    "ExponentialLR": ("gamma",),
    "LinearLR": ("start_factor", "end_factor", "total_iters"),
    "ConstantLR": ("factor", "total_iters"),
    "PolynomialLR": ("total_iters", "power"),
    "OneCycleLR": _ONE_CYCLE,
    "CosineAnnealingRestartLR": ("periods", "restart_weights", "eta_min"),
}


def schedule_notes(options: Options) -> list[str]:
    t = options.train
    notes = []
    for key in ("scheduler", "scheduler_d"):
        s = getattr(t, key)
        if s is None:
            continue
        unread = _unread_keys(s)
        if unread:
            default = "" if "type" in s.model_fields_set else " (the default type)"
            notes.append(
                f"train.{key}: {', '.join(unread)} {'has' if len(unread) == 1 else 'have'} no effect with "
                f"{s.type}{default}; set train.{key}.type to the scheduler they belong to, or remove them"
            )
        if s.type != "MultiStepLR":
            continue
        late = [m for m in s.milestones if m > t.total_iter]
        if late:
            notes.append(
                f"train.{key}.milestones {', '.join(map(str, late))}: after train.total_iter {t.total_iter}, so the "
                "learning rate does not decay there in this run"
            )
    return notes


def _unread_keys(s: SchedulerOptions) -> list[str]:
    read = {"type", "last_epoch", *READ_BY[s.type]}
    return sorted(k for k in s.model_fields_set if k not in read)
