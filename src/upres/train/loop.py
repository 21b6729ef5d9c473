"""`upres train`: a training run, top to bottom: seed and experiment folder, the run's parts (setup.py), resume,
then the iterations (iterations.py) and the result.

One iteration = `accum_iter` micro-batches, one optimizer step: `TrainStep` (step.py) does it, fed by `BatchFeed`
(feed.py). `Iterations` around it owns checkpoints (persist.py), validation, progress and the NaN guard's roll-back.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from upres.console import say
from upres.errors import UpresError
from upres.io.atomic import sweep_stale_parts_in
from upres.train import run_lock
from upres.train.checkpoint import fault_remedy
from upres.train.compiling import toolchain_error
from upres.train.config import Options
from upres.train.distributed import DistContext, broadcast_object, setup_distributed, teardown
from upres.train.experiment import check_outside_data, prepare_experiment_dir
from upres.train.feed import BatchFeed
from upres.train.iterations import Iterations
from upres.train.log_records import records_to_log
from upres.train.memory import peak_memory_mb
from upres.train.options_record import record_options
from upres.train.persist import (
    TrainingError,
    chosen_state,
    continue_schedules,
    resume_run,
)
from upres.train.report import RunLog
from upres.train.sampler import epoch_size_words
from upres.train.setup import Run, build_run, experiment_dir
from upres.train.step import TrainStep
from upres.train.together import together
from upres.train.validate import BestTracker, build_metrics
from upres.train.watch import RunWatch, amp_on_cpu, bf16_where_supported, precision_text, software_text

__all__ = ["TrainResult", "TrainingError", "train"]


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
    archive_old: bool = False,
) -> TrainResult:
    """A fresh start into a folder holding an earlier run stops with a ConfigError (`archive_old` moves that run
    aside), as `upres train` does: called again from a notebook, a run trained over the first one's files."""
    if int(os.environ.get("RANK", "0")) == 0:
        # Before the process group forms: the other torchrun ranks wait for this one, so they follow its decision.
        said = prepare_experiment_dir(opts, resume, archive_old, dry_run)
        if said:
            say(f"note: {said}", sys.stdout)
    ctx = setup_distributed(device)
    try:
        with contextlib.ExitStack() as held:
            return _train(ctx, opts, resume, dry_run, options_text, held)
    finally:
        teardown(ctx)


def _train(
    ctx: DistContext,
    opts: Options,
    resume: str | None,
    dry_run: bool,
    options_text: str,
    held: contextlib.ExitStack,
) -> TrainResult:
    seed, exp_dir, log, opts = _open_experiment(ctx, opts, dry_run, held)
    # A dry run writes nothing but reads the states as the real run would, so that it checks the one it resumes.
    states_dir = (exp_dir or experiment_dir(opts)) / "training_states"
    path = chosen_state(ctx, resume, opts.path.resume_state, states_dir, log)
    # The dataset check decodes every image once: the main process does it, the others wait for it.
    with together(ctx):
        run = build_run(
            opts, ctx.device, seed, ctx.world_size, ctx.is_main, log.info, resuming=path is not None
        )
    for note in [*opts.compat_notes, *run.notes]:
        log.note(note)
    metrics = _metrics(opts, run, ctx, log)
    amp_dtype = torch.bfloat16 if (opts.amp_bf16 or ctx.device.type == "cpu") else torch.float16
    scaler = torch.amp.GradScaler("cuda") if opts.use_amp and amp_dtype == torch.float16 else None

    start_iter, best, state = 0, BestTracker({}), None
    if path is not None:
        state, start_iter, best, seed = resume_run(run, path, scaler, seed, ctx, log)
        continue_schedules(run, opts.train.restart_scheduler, log, start_iter)
        if start_iter > opts.train.total_iter and not dry_run:
            log.note(
                f"train.total_iter {opts.train.total_iter} is below the state's iteration {start_iter}: nothing is "
                "trained; raise train.total_iter to go on"
            )
    with together(ctx):
        if exp_dir is not None and ctx.is_main:
            # Recorded once the state is known to fit, with the seed the run goes on with (a resumed run's own).
            _record_options(exp_dir, opts, seed, options_text, start_iter, log)

    model, net_d = _wrap(run, opts, ctx, fresh=state is None)
    feed = BatchFeed(run, opts, ctx, seed, exp_dir, log, state, start_iter)
    step = TrainStep(run, opts, ctx, model, net_d, scaler, amp_dtype)
    step.resume_window(None if dry_run else state, ctx.rank)
    # A dry run trains one iteration, also from a resumed state (from one it trained none and said OK, "15->1").
    total_iter = start_iter + 1 if dry_run else opts.train.total_iter
    log.info(_start_line(opts, run, ctx, seed, start_iter, total_iter, amp_dtype))
    log.info(f"software: {software_text(ctx.device)}")
    watch = RunWatch(opts, run, ctx, log, metrics, exp_dir, start_iter, total_iter, seed, options_text)
    iterations = Iterations(
        opts,
        ctx,
        run,
        log,
        watch,
        feed,
        step,
        scaler,
        best,
        metrics is not None,
        exp_dir,
        seed,
        total_iter,
        dry_run,
    )
    done = iterations(start_iter)

    it = done.iteration
    result = TrainResult(
        it, exp_dir, {k: list(v) for k, v in best.best.items()}, done.last_losses, rank=ctx.rank
    )
    if dry_run:
        result.dry_run_seconds = watch.pace.wall
        result.dry_run_iteration = step.full_iteration()
        result.peak_memory_mb = peak_memory_mb(ctx.device)
        result.device, result.precision = str(ctx.device), precision_text(opts, ctx.device)
    else:
        watch.finish(it, best, "stopped early" if done.stopped_early else "finished")
    log.close()
    return result


def _open_experiment(
    ctx: DistContext, opts: Options, dry_run: bool, held: contextlib.ExitStack
) -> tuple[int, Path | None, RunLog, Options]:
    """The run's seed (the same on every process), torch's settings, the experiment folder (held by this run until
    `held` closes) and its log (none for a dry run), and the options with AMP settings the device cannot run replaced
    (each said in the log)."""
    seed = opts.manual_seed if opts.manual_seed is not None else random.SystemRandom().randrange(2**31)
    seed = int(broadcast_object(ctx, seed))
    seed_everything(seed, ctx.rank)
    held.enter_context(_torch_settings(opts, ctx))
    if opts.use_compile and (missing := toolchain_error(ctx.device)):
        raise TrainingError(missing)  # before the experiment folder exists: nothing of this run is written
    check_outside_data(opts, experiment_dir(opts))
    exp_dir = None if dry_run else experiment_dir(opts)
    swept: list[Path] = []
    locked = True
    with together(ctx), _unwritable_as_error(exp_dir):
        if exp_dir is not None and ctx.is_main:
            if not exp_dir.exists():  # pushed first, so it runs after the lock is let go
                held.push(functools.partial(_remove_if_setup_failed, exp_dir, _first_missing(exp_dir)))
            exp_dir.mkdir(parents=True, exist_ok=True)
            # before the first write: a second run changes nothing
            locked = held.enter_context(run_lock.hold(exp_dir))
            swept = _make_folders(exp_dir)
        log = RunLog(exp_dir, opts.logger.use_tb_logger, enabled=ctx.is_main)
    held.enter_context(records_to_log(log))
    if not locked:
        log.note(run_lock.no_lock_note(exp_dir))
    if swept:
        names = ", ".join(p.name for p in swept[:3]) + (", ..." if len(swept) > 3 else "")
        log.note(f"removed {len(swept)} unfinished file(s) that an earlier run left while writing ({names})")
    opts = bf16_where_supported(amp_on_cpu(opts, ctx.device, log.note), ctx.device, log.note)
    return seed, exp_dir, log, opts


def _start_line(
    opts: Options,
    run: Run,
    ctx: DistContext,
    seed: int,
    start_iter: int,
    total_iter: int,
    amp_dtype: torch.dtype,
) -> str:
    size = epoch_size_words(len(run.train_set), opts.train_dataset.dataset_enlarge_ratio)
    return (
        f"training {opts.name}: {run.g.info.family} x{opts.scale} ({' '.join(run.g.info.tags)}), {size}, batch "
        f"{run.batch_size} x accum {run.accum_iter} x {ctx.world_size} process(es) = effective "
        f"{run.batch_size * run.accum_iter * ctx.world_size}, iterations {start_iter}->{total_iter}, seed {seed}, "
        f"device {ctx.device}{', AMP ' + str(amp_dtype).removeprefix('torch.') if opts.use_amp else ''}"
    )


@contextlib.contextmanager
def _torch_settings(opts: Options, ctx: DistContext) -> Iterator[None]:
    """The run's process-wide torch settings, put back as they were when it ends: from Python (a notebook) a
    deterministic run left every later run and the caller's own code deterministic, and fast_matmul left TF32 on."""
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.get_float32_matmul_precision(),
    )
    if opts.deterministic:
        # cuBLAS is deterministic only with a fixed workspace, which must be chosen before its first call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = ctx.device.type == "cuda"
    torch.set_float32_matmul_precision("high" if opts.fast_matmul else "highest")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark = before[2]
        torch.set_float32_matmul_precision(before[3])


def _first_missing(path: Path) -> Path:
    """The outermost folder of `path` that does not exist yet (the one `mkdir(parents=True)` makes first)."""
    while not path.parent.exists() and path.parent != path:
        path = path.parent
    return path


def _remove_if_setup_failed(exp_dir: Path, made: Path, exc_type, exc, tb) -> bool:
    """A run refused while it was set up (no VGG19 weights, a dataset fault found by the check) left a new experiment
    folder holding only its log, its lock and empty folders; "stops before anything is written" means none, nor an
    empty `experiments/` it made for it. Kept once the options are recorded (training began) or anything else is in
    it."""
    if exc_type is None or not issubclass(exc_type, UpresError) or (exp_dir / "options.yml").exists():
        return False
    ours = {"log.txt", run_lock.LOCK_NAME, "models", "training_states", "visualization"}
    if all(p.name in ours and (p.is_file() or not any(p.iterdir())) for p in exp_dir.iterdir()):
        shutil.rmtree(exp_dir, ignore_errors=True)
        folder = exp_dir.parent
        # Only folders this run made, and only empty ones.
        while made != exp_dir and folder.is_relative_to(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
            if folder == made:
                break
            folder = folder.parent
    return False


def _make_folders(exp_dir: Path) -> list[Path]:
    """Make the folders; returns the hidden part files of killed writes it removed (a state
    is hundreds of MB: a run that crashes while saving, again and again, would otherwise fill the disk)."""
    swept = sweep_stale_parts_in(exp_dir) if exp_dir.is_dir() else []
    for sub in ("models", "training_states", "visualization"):
        (exp_dir / sub).mkdir(parents=True, exist_ok=True)
        swept += sweep_stale_parts_in(exp_dir / sub)
    return swept


def _record_options(exp_dir: Path, opts: Options, seed: int, options_text: str, start_iter: int, log) -> None:
    try:
        record_options(exp_dir, opts, seed, options_text, start_iter, log.note)
    except OSError as exc:
        raise TrainingError(_unwritable(exp_dir, exc)) from None


@contextlib.contextmanager
def _unwritable_as_error(exp_dir: Path | None) -> Iterator[None]:
    try:
        yield
    except OSError as exc:  # a full disk or a read-only place, before anything is trained
        raise TrainingError(_unwritable(exp_dir, exc)) from None


def _unwritable(exp_dir: Path, exc: OSError) -> str:
    remedy = fault_remedy(exc)
    return (
        f"cannot write to the experiment folder {exp_dir} ({exc.strerror or exc}); "
        f"{'free space there' if remedy == 'free space' else remedy} or choose another path.experiments_root"
    )


def _metrics(opts: Options, run: Run, ctx: DistContext, log: RunLog) -> list | None:
    """The validation metrics, or None when validation is off."""
    if run.val_sets and opts.val is None:
        log.note("datasets has validation sets but no val block: validation is off")
    if opts.val is not None and opts.val.val_enabled and not run.val_sets:
        log.note(
            "val is set but datasets has no validation set (datasets.val, or any val*/test*): validation is off"
        )
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


def _wrap(run: Run, opts: Options, ctx: DistContext, fresh: bool) -> tuple[nn.Module, nn.Module | None]:
    """G and D wrapped for several processes (DDP) and, for G, compiled when `use_compile` asks. `fresh`: no
    training state was loaded (the EMA is the generator the run starts with)."""
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    model = DDP(run.g.net, device_ids=ids) if ctx.enabled else run.g.net
    if ctx.enabled and fresh and run.g.ema is not None:
        # Each process built G from its own seed; DDP just gave every one process 0's weights, but the EMA copied
        # before held the process's own, and an LDL loss on that process compared with it.
        run.g.ema.load_state_dict(run.g.net.state_dict())
    if opts.use_compile:
        model = torch.compile(model, mode=opts.compile_mode)
    net_d = run.d.net if run.d else None
    if net_d is not None and ctx.enabled:
        net_d = DDP(net_d, device_ids=ids)
    return model, net_d
