"""The training state: everything an exact resume needs, as tensors and plain containers only."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from upres.train.checkpoint import capture_rng, load_training_state, restore_rng
from upres.train.setup import Run


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


def collect_state(run: Run, iteration: int, seed: int, scaler, extra: dict) -> dict:
    state = {
        "iteration": iteration,
        "seed": seed,
        "net_g": unwrap(run.g.net).state_dict(),
        "optimizer_g": run.g.optimizer.state_dict(),
        "schedule_g": run.g.schedule.state_dict(),
        "rng": capture_rng(),
        **extra,
    }
    if run.g.ema is not None:
        state["ema_g"] = run.g.ema.state_dict()
    if run.d is not None:
        state["net_d"] = unwrap(run.d.net).state_dict()
        state["optimizer_d"] = run.d.optimizer.state_dict()
        state["schedule_d"] = run.d.schedule.state_dict()
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    return state


def restore_state(run: Run, path: Path, scaler) -> dict:
    state = load_training_state(path)
    unwrap(run.g.net).load_state_dict(state["net_g"])
    run.g.optimizer.load_state_dict(state["optimizer_g"])
    run.g.schedule.load_state_dict(state["schedule_g"])
    if run.g.ema is not None and "ema_g" in state:
        run.g.ema.load_state_dict(state["ema_g"])
    if run.d is not None and "net_d" in state:
        unwrap(run.d.net).load_state_dict(state["net_d"])
        run.d.optimizer.load_state_dict(state["optimizer_d"])
        run.d.schedule.load_state_dict(state["schedule_d"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    restore_rng(state["rng"])
    return state


def has_nonfinite(module: nn.Module) -> bool:
    return any(not torch.isfinite(t).all() for t in module.state_dict().values() if t.is_floating_point())
