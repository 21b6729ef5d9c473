"""A MultiStepLR milestone past train.total_iter decays nothing in the run (a total_iter shortened for a test, or a
milestone with one zero too many); it was accepted without a word."""

from __future__ import annotations

from train_helpers import MINIMAL_OPTIONS, merge

from upres.train.config import parse_options


def _notes(train: dict) -> list[str]:
    return [
        n for n in parse_options(merge(MINIMAL_OPTIONS, {"train": train})).compat_notes if "milestones" in n
    ]


def test_milestones_past_total_iter_are_said():
    train = {"total_iter": 1000, "scheduler": {"type": "MultiStepLR", "milestones": [500, 1000, 2000, 30000]}}
    assert _notes(train) == [
        "train.scheduler.milestones 2000, 30000: after train.total_iter 1000, so the learning rate does not decay "
        "there in this run"
    ]


def test_the_discriminator_schedule_is_checked_too():
    train = {"total_iter": 100, "scheduler_d": {"type": "MultiStepLR", "milestones": [50, 150]}}
    assert _notes(train) == [
        "train.scheduler_d.milestones 150: after train.total_iter 100, so the learning rate does not decay there "
        "in this run"
    ]


def test_milestones_within_the_run_say_nothing():
    assert _notes({"total_iter": 1000, "scheduler": {"type": "MultiStepLR", "milestones": [500, 1000]}}) == []
    assert _notes({"total_iter": 10, "scheduler": {"type": "CosineAnnealingLR", "T_max": 10}}) == []


def _all_notes(train: dict) -> list[str]:
    return parse_options(merge(MINIMAL_OPTIONS, {"train": train})).compat_notes


def test_keys_of_another_scheduler_are_said():
    """`type` left out is MultiStepLR: a cosine block without it held the rate constant, without a word."""
    notes = _all_notes({"scheduler": {"T_max": 1000, "eta_min": 1e-7}})
    assert (
        "train.scheduler: T_max, eta_min have no effect with MultiStepLR (the default type); set "
        "train.scheduler.type to the scheduler they belong to, or remove them"
    ) in notes
    notes = _all_notes({"scheduler_d": {"type": "cosineannealinglr", "T_max": 9, "milestones": [5]}})
    assert (
        "train.scheduler_d: milestones has no effect with CosineAnnealingLR; set train.scheduler_d.type to the "
        "scheduler they belong to, or remove them"
    ) in notes
    assert not [
        n
        for n in _all_notes({"scheduler": {"type": "StepLR", "step_size": 5, "gamma": 0.5}})
        if "effect" in n
    ]


# A valid other value for each key: changing a key the note calls unread must leave the schedule as it was.
_OTHER = dict(
    milestones=[3, 8], gamma=0.3, T_max=7, T_0=5, T_mult=2, eta_min=1e-5, step_size=4, start_factor=0.5,
    end_factor=0.2, total_iters=6, factor=0.5, power=2.0, max_lr=0.05, total_steps=30, pct_start=0.5,
    anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0, three_phase=True, cycle_momentum=False,
    base_momentum=0.5, max_momentum=0.9, restart_weights=[0.5],
)  # fmt: skip
_NEEDS = {"StepLR": dict(step_size=9), "ExponentialLR": dict(gamma=0.97), "OneCycleLR": dict(max_lr=0.01),
          "CosineAnnealingRestartLR": dict(periods=[10, 20], restart_weights=[1.0, 0.5])}  # fmt: skip


def test_the_keys_said_to_have_no_effect_have_none():
    import torch

    from upres.train.config import SchedulerOptions
    from upres.train.schedule import Schedule
    from upres.train.schedule_notes import READ_BY
    from upres.train.schedule_options import SchedulerName

    assert set(READ_BY) == set(SchedulerName.__args__)
    assert {k for keys in READ_BY.values() for k in keys} <= set(SchedulerOptions.model_fields)

    def lrs(opts: SchedulerOptions) -> list[float]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        sched = Schedule(opt, opts, warmup_iter=-1, total_iter=30).scheduler
        out = []
        for _ in range(30):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    for kind, read in READ_BY.items():
        base = _NEEDS.get(kind, {})
        reference = lrs(SchedulerOptions(type=kind, **base))
        for key, value in _OTHER.items():
            if key in read or key in base:
                continue
            assert lrs(SchedulerOptions(type=kind, **base, **{key: value})) == reference, (kind, key)
