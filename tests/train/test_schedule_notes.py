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
