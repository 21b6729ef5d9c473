"""Learning-rate schedulers by traiNNer-redux's names (any case), each equal to torch's class step by step."""

from __future__ import annotations

import math

import pytest
import torch
from train_helpers import base_options, merge

from upres.errors import ConfigError
from upres.train.checkpoint import load_training_state
from upres.train.config import parse_options
from upres.train.loop import train
from upres.train.schedule import Schedule, build_optimizer

STEPS = 40
CASES = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("StepLR", {"step_size": 7}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("LinearLR", {"start_factor": 0.2, "end_factor": 0.9, "total_iters": 10}),
    ("LinearLR", {}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 8}),
    ("PolynomialLR", {"total_iters": 30, "power": 2.0}),
    ("MultiStepLR", {"milestones": [5, 20], "gamma": 0.1}),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": STEPS}),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": STEPS, "three_phase": True, "anneal_strategy": "linear"}),
    ("OneCycleLR", {"max_lr": 0.05, "total_steps": STEPS, "pct_start": 0.25, "cycle_momentum": False}),
]


def _parse(scheduler: dict, optim: dict | None = None, **train):
    data = {
        "name": "s",
        "datasets": {"train": {"type": "pairedimagedataset", "dataroot_gt": "x"}},
        "network_g": {"type": "compact"},
        "train": {"scheduler": scheduler, "optim_g": optim or {"type": "AdamW", "lr": 0.01}, **train},
    }
    return parse_options(data, "o.yml").train


def _lrs_and_momenta(optimizer, step) -> list[tuple[float, float]]:
    out = []
    for _ in range(STEPS):
        group = optimizer.param_groups[0]
        out.append((group["lr"], group["betas"][0] if "betas" in group else group.get("momentum", 0.0)))
        optimizer.step()
        step()
    return out


@pytest.mark.parametrize(
    "optim", [{"type": "adamw", "lr": 0.01}, {"type": "sgd", "lr": 0.01, "momentum": 0.9}]
)
@pytest.mark.parametrize(("name", "params"), CASES)
def test_each_scheduler_matches_torch(name, params, optim):
    opts = _parse({"type": name.upper(), **params}, optim)
    assert opts.scheduler.type == name
    ours_opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], opts.optim_g)
    ours = Schedule(ours_opt, opts.scheduler, warmup_iter=-1, total_iter=STEPS)
    ref_opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], opts.optim_g)
    ref = getattr(torch.optim.lr_scheduler, name)(ref_opt, **params)
    got = _lrs_and_momenta(ours_opt, ours.step)
    want = _lrs_and_momenta(ref_opt, ref.step)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), f"step {i}"


def test_cosine_restart_matches_basicsr(basicsr_module):
    from basicsr.models.lr_scheduler import CosineAnnealingRestartLR

    params = {"periods": [10, 15, 15], "restart_weights": [1, 0.5, 0.25], "eta_min": 1e-4}
    opts = _parse({"type": "cosineannealingrestartlr", **params})
    _assert_rates_equal(opts, CosineAnnealingRestartLR, params)


def _assert_rates_equal(opts, reference_class, params: dict) -> None:
    """upres's schedule and `reference_class(optimizer, **params)` give the same rate at every step."""
    ours_opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], opts.optim_g)
    ours = Schedule(ours_opt, opts.scheduler, warmup_iter=-1, total_iter=STEPS)
    ref_opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], opts.optim_g)
    ref = reference_class(ref_opt, **params)
    got = [lr for lr, _ in _lrs_and_momenta(ours_opt, ours.step)]
    assert got == pytest.approx([lr for lr, _ in _lrs_and_momenta(ref_opt, ref.step)], rel=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        {"milestones": [5, 12, 30], "gamma": 0.5, "restarts": [0, 12, 20], "restart_weights": [1, 0.5, 0.25]},
        {
            "milestones": [3, 3, 8],
            "gamma": 0.5,
            "restarts": [6],
            "restart_weights": [2.0],
        },  # a doubled milestone
        {
            "milestones": [4, 10],
            "gamma": 0.1,
            "restarts": [0],
            "restart_weights": [1],
        },  # BasicSR's defaults written out
    ],
)
@pytest.mark.parametrize("name", ["MultiStepLR", "multisteprestartlr"])
def test_multistep_restarts_match_basicsr(basicsr_module, params, name):
    """BasicSR option files carry `restarts`/`restart_weights` in MultiStepLR blocks (BasicSR's MultiStepLR is its
    MultiStepRestartLR): upres refused them as unknown keys."""
    from basicsr.models.lr_scheduler import MultiStepRestartLR

    opts = _parse({"type": name, **params})
    assert opts.scheduler.type == "MultiStepLR"
    _assert_rates_equal(opts, MultiStepRestartLR, params)


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        (
            {"type": "MultiStepLR", "milestones": [5], "restarts": [0, 10]},
            "restarts has 2 entries but restart_weights has 1",
        ),
        (
            {"type": "CosineAnnealingLR", "restarts": [10], "restart_weights": [1]},
            "restarts is for MultiStepLR (BasicSR's MultiStepRestartLR), not CosineAnnealingLR",
        ),
        (
            {"type": "MultiStepLR", "restarts": [-1], "restart_weights": [1]},
            "-1: each restart is an iteration",
        ),
        (
            {"type": "ReduceLROnPlateau"},
            "ReduceLROnPlateau follows a validation metric, which upres's schedules do not read; use one of",
        ),
        ({"type": "kneelr"}, "kneelr is traiNNer-redux's own and not implemented in upres; use one of"),
        ({"type": "ExponentialLR"}, "ExponentialLR needs gamma"),
        ({"type": "OneCycleLR"}, "OneCycleLR needs max_lr"),
        (
            {"type": "CosineAnnealingRestartLR", "periods": [5, 5]},
            "periods has 2 entries but restart_weights has 1",
        ),
        (
            {"type": "CosineAnnealingLR", "last_epoch": 5},
            "last_epoch: 5: upres starts a schedule at -1 (torch's default) and a resumed run takes its position",
        ),
    ],
)
def test_unavailable_or_incomplete_schedulers_are_named(scheduler, message):
    with pytest.raises(ConfigError, match="train.scheduler") as exc:
        _parse(scheduler)
    assert message in str(exc.value)


def test_one_cycle_with_an_optimizer_without_momentum_says_what_to_set():
    opts = _parse({"type": "OneCycleLR", "max_lr": 0.1}, {"type": "Adagrad", "lr": 0.01})
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(2))], opts.optim_g)
    with pytest.raises(
        ConfigError, match="OneCycleLR cycles the momentum, which Adagrad does not have; set cycle"
    ):
        Schedule(optimizer, opts.scheduler, -1, STEPS)


@pytest.mark.parametrize(("restart", "lr"), [(False, 5e-4), (True, 1e-3)])
def test_restart_scheduler_starts_the_schedule_again_on_resume(tmp_path, hr_folder, restart, lr):
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "train": {"total_iter": 6, "scheduler": {"type": "MultiStepLR", "milestones": [5], "gamma": 0.5}},
            "logger": {"save_checkpoint_freq": 3},
        },
    )
    opts["train"]["optim_g"]["lr"] = 1e-3
    train(parse_options(opts))
    resumed = merge(opts, {"train": {"total_iter": 9, "restart_scheduler": restart}})
    train(parse_options(resumed), resume="auto")
    state = load_training_state(exp / "training_states" / "9.state")
    # Resumed at 6: 3 more steps are steps 6-8 of the schedule (past milestone 5), or steps 0-2 of a new one.
    assert state["optimizer_g"]["param_groups"][0]["lr"] == pytest.approx(lr)
    # a longer run changes no rate of a MultiStepLR schedule: nothing to say
    log = (exp / "log.txt").read_text()
    assert "learning-rate schedule differs" not in log
    assert ("the learning-rate schedule starts again from its first step" in log) == restart


def test_restart_scheduler_left_in_the_file_restarts_the_schedule_once(tmp_path, hr_folder):
    """The key, set once to train at a new rate, stayed in the file: every later --resume auto (after a Ctrl+C, a
    crash) started the schedule again, replaying warm-up and milestones where the uninterrupted run went on."""
    from shutil import copytree

    from upres.io.model_files import read_tensors

    opts = merge(
        base_options(hr_folder, tmp_path / "a"),
        {
            "train": {
                "total_iter": 3,
                "warmup_iter": 2,
                "scheduler": {"type": "MultiStepLR", "milestones": [4]},
            },
            "logger": {"save_checkpoint_freq": 3},
        },
    )
    train(parse_options(opts))
    copytree(tmp_path / "a", tmp_path / "b")
    restarted = merge(opts, {"train": {"total_iter": 9, "restart_scheduler": True, "optim_g": {"lr": 4e-4}}})
    train(parse_options(restarted), resume="auto")  # a: 3 -> 9 in one go
    b = merge(restarted, {"path": {"experiments_root": str(tmp_path / "b")}})
    train(parse_options(merge(b, {"train": {"total_iter": 6}})), resume="auto")  # b: stopped at 6 ...
    train(parse_options(b), resume="auto")  # ... and resumed with the key still in the file
    log = (tmp_path / "b" / "log.txt").read_text()
    assert (
        "train.restart_scheduler: the schedule was restarted at iteration 3 with these settings and goes on"
        in log
    )
    lr = [load_training_state(e / "training_states" / "9.state")["optimizer_g"]["param_groups"][0]["lr"]
          for e in (tmp_path / "a", tmp_path / "b")]  # fmt: skip
    assert lr[0] == lr[1] == pytest.approx(4e-5)  # 6 steps from the restart: warmed up, past milestone 4
    models = [read_tensors(e / "models" / "net_g_9.safetensors")[0] for e in (tmp_path / "a", tmp_path / "b")]
    assert all(torch.equal(models[0][k], models[1][k]) for k in models[0])
    # a new rate restarts it again
    train(parse_options(merge(b, {"train": {"total_iter": 10, "optim_g": {"lr": 2e-4}}})), resume="auto")
    state = load_training_state(tmp_path / "b" / "training_states" / "10.state")
    assert state["optimizer_g"]["param_groups"][0]["lr"] == pytest.approx(
        2e-4
    )  # 1 step in: not 4e-5 (step 7)


def test_a_schedule_changed_before_resuming_runs_as_the_options_say_and_is_said(tmp_path, hr_folder):
    """A cosine reaches eta_min at total_iter: raising total_iter on resume lifts the rate back up. BasicSR and
    traiNNer-redux kept the state's schedule; upres runs the options' and says what changed."""
    exp = tmp_path / "exp"
    cosine = {"type": "CosineAnnealingLR", "eta_min": 1e-5}
    opts = merge(
        base_options(hr_folder, exp),
        {"train": {"total_iter": 6, "scheduler": cosine}, "logger": {"save_checkpoint_freq": 6}},
    )
    opts["train"]["optim_g"]["lr"] = 1e-3
    train(parse_options(opts))
    train(parse_options(merge(opts, {"train": {"total_iter": 12}})), resume="auto")
    log = (exp / "log.txt").read_text()
    at_6 = 1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * 6 / 12)) / 2
    said = (
        f"the options' learning-rate schedule differs from the training state's (total_iter 6 -> 12: the rate at "
        f"iteration 6 is {at_6:.4g} (the state's schedule: 1e-05) and follows the new schedule from here)"
    )
    assert said in log and log.count("learning-rate schedule differs") == 1
    state = load_training_state(exp / "training_states" / "12.state")
    assert state["optimizer_g"]["param_groups"][0]["lr"] == pytest.approx(1e-5)  # the new schedule's end


@pytest.mark.parametrize("restart", [False, True])
def test_a_rate_changed_before_resuming_is_said_and_restart_scheduler_uses_it(tmp_path, hr_folder, restart):
    """The state's schedule holds the rate it started from; a new `lr` in the options was ignored without a word."""
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp), {"train": {"total_iter": 3}, "logger": {"save_checkpoint_freq": 3}}
    )
    opts["train"]["optim_g"]["lr"] = 1e-3
    train(parse_options(opts))
    resumed = merge(opts, {"train": {"total_iter": 5, "restart_scheduler": restart}})
    resumed["train"]["optim_g"]["lr"] = 4e-3
    train(parse_options(resumed), resume="auto")
    log = (exp / "log.txt").read_text()
    said = "train.optim_g.lr is 0.004 in the options but 0.001 in the training state, whose schedule goes on"
    assert (said in log) is not restart
    state = load_training_state(exp / "training_states" / "5.state")
    assert state["optimizer_g"]["param_groups"][0]["lr"] == pytest.approx(4e-3 if restart else 1e-3)


def test_redux_s_last_epoch_minus_one_is_accepted():
    """traiNNer-redux passes torch's last_epoch through; its files carry `last_epoch: -1` (refused as unknown)."""
    assert (
        _parse(
            {"type": "CosineAnnealingLR", "T_max": 1000, "eta_min": 1e-7, "last_epoch": -1}
        ).scheduler.T_max
        == 1000
    )


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        (
            {"type": "CosineAnnealingRestartLR", "periods": [10, 10], "restart_weights": [1, -0.5]},
            "train.scheduler.restart_weights: -0.5: each value must be >= 0",
        ),
        (
            {"type": "CosineAnnealingRestartLR", "periods": [0, 10], "restart_weights": [1, 1]},
            "train.scheduler.periods: 0: each value must be > 0",
        ),
        (
            {"type": "PolynomialLR", "total_iters": 10, "power": -1},
            "train.scheduler.power: Input should be greater than or equal to 0 (got -1)",
        ),
    ],
)
def test_values_that_make_no_learning_rate_are_refused(scheduler, message):
    """A negative restart weight scheduled negative rates (the second cycle climbed the loss: -4.5e-4 at its start
    for lr 1e-3), a period of 0 divided by zero when the schedule was built, a negative power gave an infinite rate."""
    with pytest.raises(ConfigError) as exc:
        _parse(scheduler)
    assert str(exc.value).endswith(message)
