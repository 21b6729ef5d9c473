"""What the loop writes and reads back: checkpoints, resume, and the NaN guard's roll-back to the last state."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from upres.errors import UpresError
from upres.io.model_files import save_model
from upres.train.checkpoint import (
    STATE_SUFFIX,
    CheckpointError,
    capture_rng,
    fault_reason,
    fault_remedy,
    find_resume_state,
    list_states,
    prune,
    save_training_state,
    write_checkpoint_file,
    write_faults,
)
from upres.train.config import Options
from upres.train.distributed import DistContext, broadcast_object, gather_to_main
from upres.train.report import RunLog
from upres.train.resume_changes import data_change_note, data_roots, loss_settings, resume_changes
from upres.train.setup import Run
from upres.train.state import collect_state, has_nonfinite, restore_state, unwrap
from upres.train.together import together
from upres.train.validate import BestTracker


class TrainingError(UpresError):
    pass


class SharedTrainingError(TrainingError):
    """Met by every process at the same iteration (the NaN guard's verdict follows gradients they all share): said
    once under torchrun."""

    same_on_every_process = True


def resume_path(
    resume: str | None, states_dir: Path | None, log: RunLog | None = None, named: str = "--resume"
) -> Path | None:
    """The state to resume from; `--resume auto` passes over states that do not load, and says so. `named`: where
    `resume` came from, for the error (the flag, or the option file's path.resume_state)."""
    if resume is None:
        return None
    if resume == "auto":
        if not (states_dir and states_dir.is_dir()):
            return None
        skipped: list[str] = []
        found = find_resume_state(states_dir, skipped)
        if log is not None:
            for reason in skipped:
                log.warn(f"--resume auto: skipping {reason}")
        if found is None and skipped:
            # Starting from iteration 0 here would write over the earlier run's models, net_g_best included.
            raise TrainingError(
                f"--resume auto: none of the {len(skipped)} training state(s) in {states_dir} loads (newest: "
                f"{skipped[0]}); resume from a copy that loads (--resume PATH), or start afresh under a new name "
                "or with --archive-old"
            )
        return found
    path = Path(resume)
    if path.is_dir():
        raise TrainingError(f"{named} {path}: is a folder; {_state_in(path)}")
    if not path.is_file():
        raise TrainingError(f"{named} {path}: no such training state")
    return path


def _state_in(folder: Path) -> str:
    """What to give instead of a folder: its newest state (in it, or in its training_states), or where states are."""
    for where in (folder, folder / "training_states"):
        if where.is_dir() and (states := list_states(where)):
            return f"give a training state in it (the newest is {states[-1]})"
    return "give a training state file (experiments/<name>/training_states/<iteration>.state)"


def chosen_state(
    ctx: DistContext, resume: str | None, resume_state, states_dir: Path | None, log: RunLog
) -> Path | None:
    """The state this run resumes from (`--resume`, else the option file's path.resume_state), chosen by process 0
    for every process."""
    from_file = not resume and resume_state
    path = None
    with together(ctx):
        if ctx.is_main:
            named = "path.resume_state" if from_file else "--resume"
            path = resume_path(str(resume_state) if from_file else resume, states_dir, log, named)
            if resume == "auto" and path is None:
                log.note(f"--resume auto: no training state in {states_dir}; starting from iteration 0")
    return same_state_everywhere(ctx, path)


def newest_state(ctx: DistContext, states_dir: Path | None) -> Path | None:
    """The newest training state in `states_dir` as process 0 sees it, for every process (all must call this)."""
    states = list_states(states_dir) if ctx.is_main and states_dir and states_dir.is_dir() else []
    return same_state_everywhere(ctx, states[-1] if states else None)


def same_state_everywhere(ctx: DistContext, path: Path | None) -> Path | None:
    """Under torchrun, process 0's `path` on every process. Each process choosing its own (from its own disk, its
    own working folder) resumed them at different iterations, where they waited for each other for ever; a process
    that cannot read process 0's choice stops with the fix instead."""
    if not ctx.enabled:
        return path
    chosen = broadcast_object(ctx, None if path is None else str(path))
    with together(ctx):
        if chosen is not None and not Path(chosen).is_file():
            raise TrainingError(
                f"process {ctx.rank} cannot read the training state {chosen} that process 0 resumes from: under "
                "torchrun on several machines the experiment folder must be at the same path on every machine (a "
                "shared disk, or a copy of its training_states)"
            )
    return None if chosen is None else Path(chosen)


def resume_run(
    run: Run, path: Path, scaler, seed: int, ctx: DistContext, log: RunLog
) -> tuple[dict, int, BestTracker, int]:
    """Restore the state at `path`: (state, its iteration, the best-metric tracker, the seed to go on with)."""
    state = restore_state(run, path, scaler, ctx)
    start_iter = int(state["iteration"])
    if run.d is not None and run.d.pretrain_missing is not None and "net_d" not in state:
        raise TrainingError(
            f"path.pretrain_network_d {run.d.pretrain_missing}: no such file, and the training state {path} holds "
            "no discriminator to take its place; correct the path, or remove the key to start D from scratch"
        )
    best = BestTracker(
        {k: tuple(v) for k, v in state.get("best", {}).items()},
        int(state.get("stale", 0)),
        int(state.get("validated", -1)),  # states before it was recorded: the check below redoes a validation
        state.get("validation_due"),
    )
    if int(state["seed"]) != seed:
        seed = int(state["seed"])
    log.note(f"resumed from {path} at iteration {start_iter}")
    if run.g.ema is not None and "ema_g" not in state:
        log.note(
            f"the state has no EMA (ema_decay was 0): the EMA starts from the generator of iteration {start_iter}"
        )
    changed = data_change_note(state.get("data"), data_settings(run, ctx))
    if changed:
        log.note(changed)
    for note in resume_changes(state, run, path):
        log.note(note)
    return state, start_iter, best, seed


def continue_schedules(run: Run, restart: bool, log: RunLog, at: int = 0) -> None:
    """After a resume at iteration `at`: the learning-rate schedules go on from the state, or (`restart`) start again
    from their first step at the options' rates, unless the state's schedule was already restarted with these
    settings (the key left in the file: a resume after a Ctrl+C replayed the warm-up and milestones). A rate changed
    in the options is said either way: the state's wins otherwise. A schedule changed in the options (milestones,
    total_iter under a cosine) runs as the options say, and is said."""
    said: list[str] = []  # G's and D's schedules are usually one option block: its change is said once
    restarted, earlier = False, None
    for key, part in (("optim_g", run.g), ("optim_d", run.d)):
        if part is None:
            continue
        ours, saved = float(part.optimizer.defaults["lr"]), part.schedule.base_lr
        if restart and (earlier := part.schedule.restarted_with(ours)) is None:
            part.schedule.restart(ours, at)
            restarted = True
            continue
        change = part.schedule.shape_change()
        if change and change not in said:
            said.append(change)
            log.note(
                f"the options' learning-rate schedule differs from the training state's ({change}); to start it "
                "again from its first step instead, add train.restart_scheduler: true"
            )
        if not math.isclose(ours, saved, rel_tol=1e-9):
            log.note(
                f"train.{key}.lr is {ours:g} in the options but {saved:g} in the training state, whose schedule "
                "goes on; to train at the new rate, add train.restart_scheduler: true (the schedule starts again "
                "from its first step at it)"
            )
    if restarted:
        log.note(
            "train.restart_scheduler: the learning-rate schedule starts again from its first step, at the options' "
            f"rate: its warm-up and milestones count from iteration {at} (traiNNer-redux's key keeps counting from 0; "
            "upres follows milestones moved in the file without it); left in the file, later resumes go on from the "
            "state (a new lr or schedule starts it again)"
        )
    elif restart and earlier is not None:
        log.note(
            f"train.restart_scheduler: the schedule was restarted at iteration {earlier} with these settings and "
            "goes on from the state, as an uninterrupted run would; to start it again, change the lr or the schedule"
        )


def save_checkpoint(
    run: Run,
    opts: Options,
    exp_dir: Path | None,
    it: int,
    seed: int,
    scaler,
    best,
    ctx,
    log,
    pool=None,
    last: bool = False,
    window: dict | None = None,
    validation_due: bool = False,
) -> None:
    """Checkpoint: models and the training state, atomically. A failed periodic save (a full disk) is a note and
    training goes on, the previous state intact, so a long run is not lost to a moment without space; a failed last
    save stops with the error."""
    # Each rank mixes its own pair pool; all of them go into the one state file (every rank must take part).
    pools = gather_to_main(ctx, pool.state_dict()) if pool is not None and exp_dir is not None else None
    rngs = gather_to_main(ctx, capture_rng(ctx.device)) if exp_dir is not None else None
    windows = gather_to_main(ctx, window) if window is not None and exp_dir is not None else None
    # The others wait for process 0's writing; a last save that fails there stops them too (StoppedElsewhere).
    with together(ctx):
        if exp_dir is not None and ctx.is_main:
            _save_on_main(
                run, opts, exp_dir, it, seed, scaler, best, ctx, log, pools, rngs, windows, last, validation_due
            )  # fmt: skip


def _save_on_main(
    run: Run,
    opts: Options,
    exp_dir: Path,
    it: int,
    seed: int,
    scaler,
    best,
    ctx: DistContext,
    log: RunLog,
    pools: list | None,
    rngs: list | None,
    windows: list | None,
    last: bool,
    validation_due: bool = False,
) -> None:
    net = unwrap(run.g.net)
    nets = (
        [net] + ([run.g.ema.module] if run.g.ema is not None else []) + ([unwrap(run.d.net)] if run.d else [])
    )
    if any(has_nonfinite(n) for n in nets):
        log.note(f"iteration {it}: weights contain NaN/Inf; checkpoint NOT written (the previous one stays)")
        return
    fmt = opts.logger.save_checkpoint_format
    models = exp_dir / "models"
    try:
        save_model(
            models / f"net_g_{it}.{fmt}", net, run.g.info, param_key="params"
        )  # raw weights: BasicSR's key
        if run.g.ema is not None:
            save_model(models / f"net_g_ema_{it}.{fmt}", run.g.ema.module, run.g.info)
        if run.d is not None:
            write_checkpoint_file(
                models / f"net_d_{it}.pth",
                lambda p: torch.save({"params": unwrap(run.d.net).state_dict()}, p),
            )
        extra = {
            "best": {k: list(v) for k, v in best.best.items()},
            "stale": best.stale,
            "validated": best.validated,
            "validation_due": validation_due,  # at `it`: the state is written before that validation
            "data": data_settings(run, ctx),
            "losses": loss_settings(run),
            "data_roots": data_roots(run),
        }
        if pools is not None:
            extra["pair_pool"] = pools
        if windows is not None:
            extra["window_by_rank"] = windows  # TrainStep.window_state of every process
        save_training_state(
            exp_dir / "training_states",
            it,
            collect_state(run, it, seed, scaler, extra, rngs),
            opts.logger.keep_checkpoints,
        )
    except (CheckpointError, *write_faults()) as exc:
        # A full disk shows as OSError, as torch's RuntimeError ("unexpected pos") or as a SafetensorError.
        remedy = exc.remedy if isinstance(exc, CheckpointError) else fault_remedy(exc)
        if not isinstance(exc, CheckpointError):
            exc = f"could not write the models in {models} ({fault_reason(exc)})"
        if last:
            raise TrainingError(
                f"saving at iteration {it} failed: {exc}; {remedy}, then --resume auto goes on from the newest state"
            ) from None
        states = list_states(exp_dir / "training_states")
        kept = f"the newest saved state is {states[-1].name}" if states else "no state is saved yet"
        log.note(
            f"saving at iteration {it} failed ({exc}); training goes on and {kept}; {remedy} before the next "
            f"save at iteration {it + opts.logger.save_checkpoint_freq}"
        )
        return
    protect = set(models.glob("net_g_best*"))
    # Asked again here for the states save_training_state could not remove: they are named with the models.
    left = prune(exp_dir / "training_states", opts.logger.keep_checkpoints, STATE_SUFFIX)
    left += prune(models, opts.logger.keep_checkpoints, f".{fmt}", protect)
    left += prune(models, opts.logger.keep_checkpoints, ".pth", protect)
    if left:
        log.note(
            f"iteration {it}: saved; {len(left)} older file(s) beyond logger.keep_checkpoints could not be removed "
            f"and stay: {', '.join(left)}; close the program that has them open (Windows deletes no open file), the "
            "next save tries again"
        )


def data_settings(run: Run, ctx) -> dict[str, int]:
    """What fixes the order of training samples besides the seed (an exact resume needs them unchanged)."""
    return {
        "samples": len(run.train_set),
        "batch_size_per_gpu": run.batch_size,
        "accum_iter": run.accum_iter,
        "processes": ctx.world_size,
    }


def restore_pool(pool, state: dict, ctx, log: RunLog) -> None:
    """The pair pool as saved, so a resumed OTF run mixes exactly the pairs an uninterrupted one would."""
    if pool is None:
        return
    saved = state.get("pair_pool")
    if saved is None or len(saved) != ctx.world_size:
        why = (
            "no pair pool"
            if saved is None
            else f"the pair pools of {len(saved)} process(es), not {ctx.world_size}"
        )
        log.note(
            f"the training state holds {why}: the pool refills from new batches (resume is not bit-exact)"
        )
        return
    try:
        pool.load_state_dict(saved[ctx.rank], ctx.device)
    except ValueError as exc:
        log.note(f"{exc}: the pool refills from new batches (resume is not bit-exact)")


def roll_back(
    run: Run, newest: Path | None, scaler, log: RunLog, it: int, n_bad: int, pool, ctx: DistContext
) -> int:
    """After `n_bad` non-finite steps in a row: back to the `newest` state (`newest_state`) with half the learning
    rate."""
    parts = [run.g] + (
        [run.d] if run.d is not None else []
    )  # D diverges as often as G, and feeds G's GAN loss
    halved = [part.schedule.lr_scale * 0.5 for part in parts]
    for part, scale in zip(parts, halved):
        part.schedule.set_scale(scale)
    if newest is None:
        log.note(
            f"iteration {it}: {n_bad} non-finite steps in a row; no checkpoint yet, halving the learning rate"
        )
        return it
    state = restore_state(run, newest, scaler, ctx)
    restore_pool(pool, state, ctx, log)
    # restore_state brought back the state's scales: each roll-back halves the rates again (it halved the state's
    # once, so every roll-back ran at half the state's rate).
    for part, scale in zip(parts, halved):
        part.schedule.set_scale(scale)
    back = int(state["iteration"])
    log.note(
        f"iteration {it}: {n_bad} non-finite steps in a row; rolled back to {newest.name} (iteration {back}) "
        f"and halved the learning rate (scale {run.g.schedule.lr_scale:g})"
    )
    return back
