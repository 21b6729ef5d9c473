"""`upres train`: the training loop, top to bottom.

One iteration = `accum_iter` micro-batches, one optimizer step: `TrainStep` (step.py) does it, fed by `BatchFeed`
(feed.py). The loop around it owns logging, checkpoints (persist.py), validation and the NaN guard's roll-back.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from upres.io.atomic import sweep_stale_parts_in
from upres.train.checkpoint import list_states
from upres.train.compiling import compile_failure_text, is_compile_failure, toolchain_error
from upres.train.config import Options
from upres.train.distributed import DistContext, barrier, broadcast_object, setup_distributed, teardown
from upres.train.feed import BatchFeed, LoaderFailed
from upres.train.interrupt import HeldChildSignals, HeldInterrupts, StepAbandoned, StopAgreement
from upres.train.memory import is_out_of_memory, out_of_memory_text, peak_memory_mb
from upres.train.persist import (
    TrainingError,
    continue_schedules,
    resume_path,
    resume_run,
    roll_back,
    save_checkpoint,
)
from upres.train.report import RunLog
from upres.train.setup import Run, build_run, experiment_dir
from upres.train.step import TrainStep
from upres.train.validate import BestTracker, build_metrics
from upres.train.watch import RunWatch, amp_on_cpu, bf16_where_supported, precision_text, software_text

__all__ = ["TrainResult", "TrainingError", "train"]

MAX_ROLLBACKS_TO_ONE_STATE = 8  # the learning rates are then 1/256 of what diverged


@dataclass
class TrainResult:
    iteration: int
    exp_dir: Path | None
    best: dict
    last_losses: dict
    dry_run_seconds: float | None = None
    dry_run_iteration: int = 1  # the iteration the dry run trained (the first with every loss on)
    peak_memory_mb: float | None = None
    device: str = ""
    precision: str = ""  # "fp32", "AMP bf16", ... : what the dry run's time was measured with
    rank: int = 0  # under torchrun every process gets a result; only rank 0 reports it


def seed_everything(seed: int, rank: int) -> None:
    random.seed(seed + rank)
    np.random.seed((seed + rank) % 2**32)
    torch.manual_seed(seed + rank)


def train(
    opts: Options,
    resume: str | None = None,
    dry_run: bool = False,
    options_text: str = "",
    device: str = "auto",
) -> TrainResult:
    ctx = setup_distributed(device)
    try:
        return _train(ctx, opts, resume, dry_run, options_text)
    finally:
        teardown(ctx)


def _train(
    ctx: DistContext, opts: Options, resume: str | None, dry_run: bool, options_text: str
) -> TrainResult:
    seed = opts.manual_seed if opts.manual_seed is not None else random.SystemRandom().randrange(2**31)
    seed = int(broadcast_object(ctx, seed))
    seed_everything(seed, ctx.rank)
    _configure_torch(opts, ctx)
    if opts.use_compile and (missing := toolchain_error(ctx.device)):
        raise TrainingError(missing)  # before the experiment folder exists: nothing of this run is written
    exp_dir = None if dry_run else experiment_dir(opts)
    swept: list[Path] = []
    try:
        if exp_dir is not None and ctx.is_main:
            swept = _write_experiment(exp_dir, opts, seed, options_text)
        log = RunLog(exp_dir, opts.logger.use_tb_logger, enabled=ctx.is_main)
    except OSError as exc:  # a full disk or a read-only place, before anything is trained
        raise TrainingError(
            f"cannot write to the experiment folder {exp_dir} ({exc.strerror or exc}); free space there or choose "
            "another path.experiments_root"
        ) from None
    if swept:
        names = ", ".join(p.name for p in swept[:3]) + (", ..." if len(swept) > 3 else "")
        log.note(f"removed {len(swept)} unfinished file(s) that an earlier run left while writing ({names})")
    opts = bf16_where_supported(amp_on_cpu(opts, ctx.device, log.note), ctx.device, log.note)

    # The dataset check decodes every image once: the main process does it, the others wait at the barrier.
    run = build_run(opts, ctx.device, seed, ctx.world_size, check_data=ctx.is_main, announce=log.info)
    barrier(ctx)
    for note in [*opts.compat_notes, *run.notes]:
        log.note(note)
    metrics = _metrics(opts, run, ctx, log)
    amp_dtype = torch.bfloat16 if (opts.amp_bf16 or ctx.device.type == "cpu") else torch.float16
    scaler = torch.amp.GradScaler("cuda") if opts.use_amp and amp_dtype == torch.float16 else None

    states_dir = exp_dir / "training_states" if exp_dir else None
    start_iter, best, state = 0, BestTracker({}), None
    path = resume_path(
        resume or (str(opts.path.resume_state) if opts.path.resume_state else None), states_dir, log
    )
    if resume == "auto" and path is None:
        log.note(f"--resume auto: no training state in {states_dir}; starting from iteration 0")
    if path is not None:
        state, start_iter, best, seed = resume_run(run, path, scaler, seed, ctx, log)
        continue_schedules(run, opts.train.restart_scheduler, log)

    model, net_d = _wrap(run, opts, ctx)
    feed = BatchFeed(run, opts, ctx, seed, exp_dir, log, state, start_iter)
    step = TrainStep(run, opts, ctx, model, net_d, scaler, amp_dtype)
    total_iter = 1 if dry_run else opts.train.total_iter
    it = start_iter
    log.info(
        f"training {opts.name}: {run.g.info.family} x{opts.scale} ({' '.join(run.g.info.tags)}), {len(run.train_set)} "
        f"images, batch {run.batch_size} x accum {run.accum_iter} x {ctx.world_size} process(es) = effective "
        f"{run.batch_size * run.accum_iter * ctx.world_size}, iterations {it}->{total_iter}, seed {seed}, "
        f"device {ctx.device}{', AMP ' + str(amp_dtype).removeprefix('torch.') if opts.use_amp else ''}"
    )
    log.info(f"software: {software_text(ctx.device)}")
    last_losses: dict[str, float] = {}
    watch = RunWatch(opts, run, ctx, log, metrics, exp_dir, start_iter, total_iter, seed, options_text)

    def save(it: int, pool=None, last: bool = False) -> None:
        save_checkpoint(run, opts, exp_dir, it, seed, scaler, best, ctx, log, pool=pool, last=last)
        watch.save_history()  # the report's curves up to the state, which a resumed run continues

    def validation_due(it: int) -> bool:
        return metrics is not None and (it % opts.val.val_freq == 0 or it == total_iter)

    def validate(it: int) -> bool:
        """Score the model at `it` (main process); True when early stopping ends the run (then saved)."""
        stop = False
        if ctx.is_main:
            stop = watch.validate(it, best)
        stop = bool(broadcast_object(ctx, stop))
        barrier(ctx)
        if stop:
            log.note(f"early stop at iteration {it}: no improvement for {best.stale} validations")
            save(it, pool=feed.pool, last=True)
        return stop

    stop = False
    rollbacks: dict[int, int] = {}  # iteration rolled back to -> how many times
    held = HeldInterrupts(deferred=ctx.enabled).install()
    # A dead loader worker is reported between iterations, where the loader can start again, not mid-step.
    children = HeldChildSignals().install()
    agreement = StopAgreement(held, ctx.cpu_group) if ctx.enabled else None
    try:
        # A state is saved before the validation of its iteration: one that a crash or Ctrl+C cut off runs now, so
        # net_g_best, early stopping and the report go on as in an uninterrupted run.
        if it and not dry_run and validation_due(it) and best.validated != it:
            replayed = bool(broadcast_object(ctx, watch.replay_validation(it, best) if ctx.is_main else None))
            if not replayed:
                log.note(
                    f"the validation at iteration {it} did not finish before the run stopped: running it now"
                )
                stop = validate(it)
        while it < total_iter and not stop:
            try:
                children.check()
            except RuntimeError as exc:
                feed.recover(it, exc)  # `it` whole iterations: the loader starts again at the next
            # Ctrl+C waits for the end of the iteration: `it` always counts whole optimizer steps.
            with held.iteration():
                step(step.full_iteration() if dry_run else it + 1, feed)
                it += 1

                # --- the only host syncs: at print_freq (and on checkpoints/validation) -----------------------------
                if it % opts.logger.print_freq == 0 or it == total_iter:
                    n_bad = int(step.consecutive_bad)
                    if n_bad >= opts.train.nan_rollback_after:
                        failed_at = it
                        it = roll_back(run, states_dir, scaler, log, it, n_bad, feed.pool, ctx)
                        rollbacks[it] = rollbacks.get(it, 0) + 1
                        if rollbacks[it] > MAX_ROLLBACKS_TO_ONE_STATE:
                            # Halving again and again did not help: the run would loop here for ever.
                            text = (
                                f"iteration {failed_at}: still non-finite after {MAX_ROLLBACKS_TO_ONE_STATE} roll-backs "
                                f"to iteration {it}, each halving the learning rates; lower train.optim_g/optim_d lr "
                                "(or turn AMP off), then --resume auto"
                            )
                            log.note(text)
                            raise TrainingError(text)
                        step.consecutive_bad.zero_()
                        step.reset_window()
                        feed.restart(it)
                        feed.take_wait()
                        watch.restart_window(it)
                        continue
                    last_losses = watch.progress(step, it, feed.take_wait())
                    step.reset_window()

            if agreement is not None and agreement.poll():
                raise KeyboardInterrupt  # every rank, after the same iteration: the save below is collective
            if dry_run:
                break
            if it % opts.logger.save_checkpoint_freq == 0 or it == total_iter:
                save(it, pool=feed.pool, last=it == total_iter)
            if validation_due(it):
                stop = validate(it)
        if agreement is not None:
            agreement.close()
    except StepAbandoned:
        log.note(
            f"stopped during iteration {it + 1} by a second Ctrl+C, without saving it; {_newest(states_dir)}"
        )
        log.close()
        raise
    except RuntimeError as exc:
        # Half an iteration may have run (gradients, perhaps an optimizer): nothing of it is saved.
        if is_out_of_memory(exc):
            if watch.validating:
                text = out_of_memory_text(opts, ctx.device, it, _newest(states_dir), validating=True)
            else:
                text = out_of_memory_text(opts, ctx.device, it + 1, _newest(states_dir))
        elif isinstance(exc, LoaderFailed):
            text = f"{exc}; {_newest(states_dir)}"
        elif opts.use_compile and is_compile_failure(exc):
            text = compile_failure_text(exc, it + 1, _newest(states_dir))
        else:
            raise
        log.note(text)
        log.close()
        raise TrainingError(text) from None
    except KeyboardInterrupt:
        try:
            if not dry_run:
                log.note(f"interrupted after iteration {it}: saving the training state before exiting")
                try:
                    save(it, pool=feed.pool, last=True)
                except KeyboardInterrupt:
                    log.note(
                        f"a second Ctrl+C stopped that save: the state of iteration {it} is not written; "
                        f"{_newest(states_dir)}"
                    )
                    raise
        finally:
            log.close()
        if agreement is not None:
            agreement.leave_together()
        raise
    finally:
        held.uninstall()
        children.uninstall()
    result = TrainResult(it, exp_dir, {k: list(v) for k, v in best.best.items()}, last_losses, rank=ctx.rank)
    if dry_run:
        result.dry_run_seconds = watch.pace.wall
        result.dry_run_iteration = step.full_iteration()
        result.peak_memory_mb = peak_memory_mb(ctx.device)
        result.device, result.precision = str(ctx.device), precision_text(opts, ctx.device)
    else:
        watch.finish(it, best, "stopped early" if stop else "finished")
    log.close()
    return result


def _newest(states_dir: Path | None) -> str:
    saved = list_states(states_dir) if states_dir and states_dir.is_dir() else []
    return f"the newest saved state is {saved[-1].name}" if saved else "no training state is saved"


def _configure_torch(opts: Options, ctx: DistContext) -> None:
    if opts.deterministic:
        # cuBLAS is deterministic only with a fixed workspace, which must be chosen before its first call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if opts.fast_matmul:
        torch.set_float32_matmul_precision("high")


def _write_experiment(exp_dir: Path, opts: Options, seed: int, options_text: str) -> list[Path]:
    """Make the folders, record the options; returns the hidden part files of killed writes it removed (a state
    is hundreds of MB: a run that crashes while saving, again and again, would otherwise fill the disk)."""
    swept = sweep_stale_parts_in(exp_dir) if exp_dir.is_dir() else []
    for sub in ("models", "training_states", "visualization"):
        (exp_dir / sub).mkdir(parents=True, exist_ok=True)
        swept += sweep_stale_parts_in(exp_dir / sub)
    recorded = yaml.safe_load(options_text) if options_text else opts.model_dump(mode="json")
    if isinstance(recorded, dict) and recorded.get("manual_seed") is None:
        recorded["manual_seed"] = seed  # so the run can be repeated exactly
    (exp_dir / "options.yml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    return swept


def _metrics(opts: Options, run: Run, ctx: DistContext, log: RunLog) -> list | None:
    """The validation metrics, or None when validation is off."""
    if run.val_sets and opts.val is None:
        log.note("datasets has validation sets but no val block: validation is off")
    if not (opts.val and opts.val.val_enabled and run.val_sets):
        if opts.train.early_stop_patience is not None:
            log.note("train.early_stop_patience has no effect: the run has no validation")
        return None
    notes: list[str] = []
    metrics = build_metrics(opts.val, ctx.device, notes) if opts.val.metrics_enabled else []
    for note in notes:
        log.note(note)
    tracked = opts.train.early_stop_metric
    if tracked is not None and tracked not in {m.name for m in metrics}:
        raise TrainingError(
            f"train.early_stop_metric {tracked!r}: that metric cannot be computed here "
            f"({next((n for n in notes if n.startswith(f'val.metrics.{tracked} ')), 'see the log')}); name another "
            "of val.metrics or remove the key"
        )
    return metrics


def _wrap(run: Run, opts: Options, ctx: DistContext) -> tuple[nn.Module, nn.Module | None]:
    """G and D wrapped for several processes (DDP) and, for G, compiled when `use_compile` asks."""
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    model = DDP(run.g.net, device_ids=ids) if ctx.enabled else run.g.net
    if opts.use_compile:
        model = torch.compile(model, mode=opts.compile_mode)
    net_d = run.d.net if run.d else None
    if net_d is not None and ctx.enabled:
        net_d = DDP(net_d, device_ids=ids)
    return model, net_d
