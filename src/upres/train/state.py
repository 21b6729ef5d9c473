"""The training state: everything an exact resume needs, as tensors and plain containers only."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from upres.train.checkpoint import CheckpointError, load_training_state, restore_rng
from upres.train.distributed import DistContext
from upres.train.setup import Run


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


def collect_state(run: Run, iteration: int, seed: int, scaler, extra: dict, rngs: list[dict]) -> dict:
    """The training state; `rngs` holds every process's random streams in rank order (one for a single process)."""
    state = {
        "iteration": iteration,
        "seed": seed,
        "net_g": unwrap(run.g.net).state_dict(),
        "optimizer_g": run.g.optimizer.state_dict(),
        "optimizer_g_type": type(run.g.optimizer).__name__,
        "schedule_g": run.g.schedule.state_dict(),
        "rng": rngs[0],
        **extra,
    }
    if len(rngs) > 1:
        # Each process draws from its own streams (D's input noise, penalty interpolation): a resumed process
        # goes on with its own, not the main process's.
        state["rng_by_rank"] = rngs
    if run.g.ema is not None:
        state["ema_g"] = run.g.ema.state_dict()
    if run.d is not None:
        state["net_d"] = unwrap(run.d.net).state_dict()
        state["optimizer_d"] = run.d.optimizer.state_dict()
        state["optimizer_d_type"] = type(run.d.optimizer).__name__
        state["schedule_d"] = run.d.schedule.state_dict()
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    return state


def _same_optimizer(optimizer: torch.optim.Optimizer, state: dict, which: str, path: Path) -> None:
    """A state's optimizer moments fit only the optimizer that made them; torch loads another's without a word and
    fails at its first step (AdamW's state into SGD: KeyError 'momentum'). States from before the type was recorded
    are checked by the hyperparameters their groups hold."""
    from upres.train.optim_options import OPTIMIZER_PARAMS

    ours = type(optimizer).__name__
    theirs = state.get(f"optimizer_{which}_type")
    if theirs is None:
        groups = state.get(f"optimizer_{which}", {}).get("param_groups") or [{}]
        lacking = [k for k in OPTIMIZER_PARAMS.get(ours, ()) if k not in groups[0]]
        theirs = "another optimizer" if lacking else ours
    if theirs != ours:
        raise StateMismatch(
            f"--resume {path}: the state was trained with {theirs}, not train.optim_{which}.type {ours}; resume "
            f"with {theirs}, or start a new run from its model with path.pretrain_network_g"
        )


class StateMismatch(CheckpointError):
    """The state and the options disagree: every torchrun process loads the same file with the same options and
    meets it alike (each printed the same line)."""

    same_on_every_process = True


def _load(target, saved: dict, what: str, option: str, path: Path) -> None:
    """`target.load_state_dict(saved)`, or one line naming the first tensor that does not fit and what to do."""
    try:
        target.load_state_dict(saved)
    except (RuntimeError, ValueError, KeyError) as exc:
        detail = str(exc).strip().splitlines()
        reason = next((line.strip() for line in detail[1:] if line.strip()), detail[0] if detail else "")
        if isinstance(target, nn.Module):
            ours = {k: tuple(v.shape) for k, v in target.state_dict().items()}
            theirs = {k: tuple(v.shape) for k, v in saved.items()}
            key = next((k for k in ours if k in theirs and ours[k] != theirs[k]), None)
            if key is not None:
                reason = f"{key} is {list(theirs[key])} in the state, {list(ours[key])} in {option}"
            elif set(ours) != set(theirs):
                reason = f"keys differ (e.g. {sorted(set(ours) ^ set(theirs))[0]})"
        raise StateMismatch(
            f"--resume {path}: its {what} does not fit this run's {option} ({reason[:200]}); resume with the options "
            f"the state was written with, or start a new run from its model with path.pretrain_network_g"
        ) from None


def restore_state(run: Run, path: Path, scaler, ctx: DistContext) -> dict:
    """Load the state at `path` into `run`, with the random streams of this process (`ctx.rank`, on `ctx.device`)."""
    state = load_training_state(path)
    _load(unwrap(run.g.net), state["net_g"], "generator", "network_g", path)
    _same_optimizer(run.g.optimizer, state, "g", path)
    _load(run.g.optimizer, state["optimizer_g"], "generator optimizer", "train.optim_g", path)
    run.g.schedule.load_state_dict(state["schedule_g"])
    if run.g.ema is not None and "ema_g" in state:
        _load(run.g.ema.module, state["ema_g"], "EMA generator", "network_g", path)
    elif run.g.ema is not None:
        # EMA switched on at this resume: it starts from the resumed generator, not the one the run started with.
        run.g.ema.module.load_state_dict(unwrap(run.g.net).state_dict())
    if run.d is not None and "net_d" in state:
        _load(unwrap(run.d.net), state["net_d"], "discriminator", "network_d", path)
        _same_optimizer(run.d.optimizer, state, "d", path)
        _load(run.d.optimizer, state["optimizer_d"], "discriminator optimizer", "train.optim_d", path)
        run.d.schedule.load_state_dict(state["schedule_d"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    rng = rng_for_rank(state, ctx.rank)
    if rng is not None:
        restore_rng(rng, ctx.device)
    return state


def rng_for_rank(state: dict, rank: int) -> dict | None:
    """The random streams process `rank` goes on with. A process the state holds none for (more processes than it
    was written by, or a state of one process) keeps the streams it was seeded with: taking rank 0's would give two
    processes the same D noise."""
    by_rank = state.get("rng_by_rank")
    if isinstance(by_rank, list) and rank < len(by_rank):
        return by_rank[rank]
    return state["rng"] if rank == 0 else None


def has_nonfinite(module: nn.Module) -> bool:
    return any(not torch.isfinite(t).all() for t in module.state_dict().values() if t.is_floating_point())
