"""`upres train`: the training loop, top to bottom.

One iteration = `accum_iter` micro-batches, one optimizer step. The perceptual stage adds a discriminator step to the
same iteration (functions in `gan_step`); it does not subclass anything.
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from upres.data.degradations.sharpen import usm_sharpen
from upres.errors import UpresError
from upres.infer.tiling import Upscaler
from upres.io.model_files import save_model
from upres.train import gan_step
from upres.train.checkpoint import CheckpointError, find_resume_state, list_states, prune, save_training_state
from upres.train.config import Options
from upres.train.distributed import (
    DistContext,
    barrier,
    broadcast_object,
    gather_to_main,
    setup_distributed,
    teardown,
)
from upres.train.otf_debug import save_otf_debug
from upres.train.report import RunLog
from upres.train.sampler import ResumableBatchSampler
from upres.train.schedule import supports_device_skip
from upres.train.setup import Run, build_run, experiment_dir
from upres.train.state import collect_state, has_nonfinite, restore_state, unwrap
from upres.train.validate import BestTracker, build_metrics, validate


class TrainingError(UpresError):
    pass


@dataclass
class TrainResult:
    iteration: int
    exp_dir: Path | None
    best: dict
    last_losses: dict
    dry_run_seconds: float | None = None
    peak_memory_mb: float | None = None
    rank: int = 0  # under torchrun every process gets a result; only rank 0 reports it


def seed_everything(seed: int, rank: int) -> None:
    random.seed(seed + rank)
    np.random.seed((seed + rank) % 2**32)
    torch.manual_seed(seed + rank)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource  # POSIX only: Windows has no such module, and training must still run there
    except ImportError:
        return float("nan")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_loader(run: Run, seed: int, ctx: DistContext, start_batch: int) -> DataLoader:
    sampler = ResumableBatchSampler(
        len(run.train_set), run.batch_size, seed, ctx.rank, ctx.world_size, run.accum_iter, start_batch
    )
    return DataLoader(
        run.train_set,
        batch_sampler=sampler,
        num_workers=run.num_workers,
        pin_memory=ctx.device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if run.num_workers else None,
    )


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
    if opts.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if opts.fast_matmul:
        torch.set_float32_matmul_precision("high")

    exp_dir = None if dry_run else experiment_dir(opts)
    if exp_dir is not None and ctx.is_main:
        for sub in ("models", "training_states", "visualization"):
            (exp_dir / sub).mkdir(parents=True, exist_ok=True)
        recorded = yaml.safe_load(options_text) if options_text else opts.model_dump(mode="json")
        if isinstance(recorded, dict) and recorded.get("manual_seed") is None:
            recorded["manual_seed"] = seed  # so the run can be repeated exactly
        (exp_dir / "options.yml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    log = RunLog(exp_dir, opts.logger.use_tb_logger, enabled=ctx.is_main)

    # The dataset check decodes every image once: the main process does it, the others wait at the barrier.
    run = build_run(opts, ctx.device, seed, ctx.world_size, check_data=ctx.is_main, announce=log.note)
    barrier(ctx)
    for note in [*opts.compat_notes, *run.notes]:
        log.note(note)
    if run.val_sets and opts.val is None:
        log.note("datasets has validation sets but no val block: validation is off")
    val_on = bool(opts.val and opts.val.val_enabled and run.val_sets)
    metric_notes: list[str] = []
    metrics = build_metrics(opts.val, ctx.device, metric_notes) if val_on and opts.val.metrics_enabled else []
    for note in metric_notes:
        log.note(note)
    gan = gan_step.gan_entry(run.losses)
    amp_dtype = torch.bfloat16 if (opts.amp_bf16 or ctx.device.type == "cpu") else torch.float16
    use_amp = opts.use_amp
    scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None

    def autocast():
        return torch.autocast(ctx.device.type, dtype=amp_dtype, enabled=use_amp)

    # --- resume -------------------------------------------------------------------------------------------
    states_dir = exp_dir / "training_states" if exp_dir else None
    start_iter, best = 0, BestTracker({})
    resume_path = _resume_path(
        resume or (str(opts.path.resume_state) if opts.path.resume_state else None), states_dir
    )
    if resume == "auto" and resume_path is None:
        log.note(f"--resume auto: no training state in {states_dir}; starting from iteration 0")
    if resume_path is not None:
        state = restore_state(run, resume_path, scaler)
        start_iter = int(state["iteration"])
        best = BestTracker(
            {k: tuple(v) for k, v in state.get("best", {}).items()}, int(state.get("stale", 0))
        )
        if int(state["seed"]) != seed:
            seed = int(state["seed"])
        log.note(f"resumed from {resume_path} at iteration {start_iter}")
        changed = _data_changes(state.get("data"), _data_settings(run, ctx))
        if changed:
            log.note(
                f"data settings differ from the state's ({changed}): the run continues, but sees other samples "
                "in another order than an uninterrupted run would (resume is not bit-exact)"
            )

    # --- wrap for speed and for several processes -------------------------------------------------------------
    model = run.g.net
    if ctx.enabled:
        model = DDP(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    if opts.use_compile:
        model = torch.compile(model)
    net_d = run.d.net if run.d else None
    if net_d is not None and ctx.enabled:
        net_d = DDP(net_d, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)

    # On-the-fly degradations: Real-ESRGAN sharpens the pixel/perceptual target and mixes pairs across batches.
    otf = getattr(run.train_set, "degradations", None)
    debug_dir, debug_limit = None, opts.high_order_degradations_debug_limit
    if opts.high_order_degradations_debug and otf is None:
        log.note("high_order_degradations_debug has no effect: the training set is not made on the fly")
    elif opts.high_order_degradations_debug and exp_dir is not None and ctx.is_main:
        debug_dir = exp_dir / "debug" / "otf"
        log.note(f"high_order_degradations_debug: the first training batches are saved to {debug_dir}")
    pool = None
    if otf is not None and otf.queue_size:
        from upres.data.degradations.pipeline import PairPool

        size = otf.queue_size // run.batch_size * run.batch_size
        if size != otf.queue_size:
            log.note(f"queue_size {otf.queue_size} rounded down to {size}, a multiple of the batch size")
        pool = PairPool(size, torch.Generator().manual_seed(seed + ctx.rank)) if size else None
        if resume_path is not None:
            _restore_pool(pool, state, ctx, log)
    penalty = _penalty(opts.train)
    device_skip = supports_device_skip(run.g.optimizer) and scaler is None
    consecutive_bad = torch.zeros((), device=ctx.device)
    skipped_total = torch.zeros((), device=ctx.device)
    loss_sums: dict[str, torch.Tensor] = {}
    train_opts = opts.train
    total_iter = 1 if dry_run else train_opts.total_iter
    it = start_iter
    loader = make_loader(run, seed, ctx, start_iter * run.accum_iter)
    data = iter(loader)
    t_window, it_window = time.perf_counter(), it
    log.info(
        f"training {opts.name}: {run.g.info.family} x{opts.scale} ({' '.join(run.g.info.tags)}), {len(run.train_set)} "
        f"images, batch {run.batch_size} x accum {run.accum_iter} x {ctx.world_size} process(es) = effective "
        f"{run.batch_size * run.accum_iter * ctx.world_size}, iterations {it}->{total_iter}, seed {seed}, "
        f"device {ctx.device}{', AMP ' + str(amp_dtype).removeprefix('torch.') if use_amp else ''}"
    )
    t_start = time.perf_counter()
    try:
        while it < total_iter:
            it += 1
            g_due, d_due = True, False
            if gan is not None and run.d is not None:
                g_due, d_due = gan_step.gan_schedule(
                    it, gan.start_iter, train_opts.net_d_iters, train_opts.net_d_init_iters
                )
            run.g.optimizer.zero_grad(set_to_none=True)
            if d_due:
                run.d.optimizer.zero_grad(set_to_none=True)
            for micro in range(run.accum_iter):
                batch = next(data)
                lq = batch["lq"].to(ctx.device, non_blocking=True)
                gt = batch["gt"].to(ctx.device, non_blocking=True)
                if pool is not None:
                    lq, gt = pool(lq, gt)
                target = gt
                if otf is not None and otf.gt_usm:
                    target = usm_sharpen(gt, otf.gt_usm_weight, otf.gt_usm_radius, otf.gt_usm_threshold)
                if debug_dir is not None and (not debug_limit or it - start_iter <= debug_limit):
                    try:
                        save_otf_debug(debug_dir, it, micro, lq, target)
                    except OSError as exc:  # a debug picture is never worth a run
                        log.note(
                            f"high_order_degradations_debug stopped: cannot write to {debug_dir} ({exc})"
                        )
                        debug_dir = None
                if opts.use_channels_last:
                    lq = lq.contiguous(memory_format=torch.channels_last)
                last_micro = micro == run.accum_iter - 1
                sync = contextlib.nullcontext() if (last_micro or not ctx.enabled) else model.no_sync()
                with sync:
                    with autocast():
                        sr = model(lq)
                        d_outs = None
                        if d_due or (gan is not None and gan.active(it)):
                            d_outs = gan_step.d_forward(
                                net_d, sr, gt, noise=train_opts.d_input_noise, penalty=penalty
                            )
                        sr_ema = None
                        if run.g.ema is not None and any(
                            e.inputs == "ldl" for e in run.losses if e.active(it)
                        ):
                            with torch.no_grad():
                                sr_ema = run.g.ema.module(lq)
                        terms = gan_step.generator_loss_terms(
                            run.losses, it, sr, target, lq=lq, net_g=model, sr_ema=sr_ema, d_outs=d_outs
                        )
                    if g_due:
                        gan_step.generator_backward(
                            terms["l_g_total"] / run.accum_iter, model, scaler, keep_graph=d_outs is not None
                        )
                if d_due:
                    d_logs = gan_step.discriminator_step(
                        net_d, run.d.optimizer, gan.module, d_outs, noise=train_opts.d_input_noise,
                        penalty=penalty, scaler=scaler, autocast=autocast, it=it,
                        loss_scale=1.0 / run.accum_iter, zero_grad=False, step=False,
                    )  # fmt: skip
                    terms.update(d_logs)
                for k, v in terms.items():
                    loss_sums[k] = loss_sums.get(k, 0) + v.detach().float() / run.accum_iter

            # One optimizer step for G, skipped on the device when the loss or a gradient is not finite.
            bad = ~torch.isfinite(terms["l_g_total"].detach())
            if scaler is not None:
                scaler.unscale_(run.g.optimizer)
            if train_opts.grad_clip:
                norm = torch.nn.utils.clip_grad_norm_(run.g.net.parameters(), train_opts.grad_clip_max_norm)
            else:
                grads = [p.grad for p in run.g.net.parameters() if p.grad is not None]
                norm = (
                    torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
                    if grads
                    else torch.zeros((), device=ctx.device)
                )
            bad = bad | ~torch.isfinite(norm)
            if g_due:
                if scaler is not None:
                    scaler.step(run.g.optimizer)
                elif device_skip:
                    run.g.optimizer.found_inf = bad.float()
                    run.g.optimizer.grad_scale = None
                    run.g.optimizer.step()
                elif not bool(bad):
                    run.g.optimizer.step()
            if d_due:
                if scaler is not None:
                    scaler.step(run.d.optimizer)
                else:
                    run.d.optimizer.step()
                run.d.schedule.step()
            if scaler is not None:
                scaler.update()
            run.g.schedule.step()
            if run.g.ema is not None:
                run.g.ema.update(run.g.net, it)
            consecutive_bad = (consecutive_bad + bad.float()) * bad.float()
            skipped_total += bad.float()

            # --- the only host syncs: at print_freq (and on checkpoints/validation) ---------------------------------
            if it % opts.logger.print_freq == 0 or it == total_iter:
                n_bad = int(consecutive_bad)
                if n_bad >= train_opts.nan_rollback_after:
                    it = _roll_back(run, states_dir, scaler, log, it, n_bad, pool, ctx)
                    consecutive_bad.zero_()
                    loss_sums.clear()
                    data = iter(make_loader(run, seed, ctx, it * run.accum_iter))
                    t_window, it_window = time.perf_counter(), it
                    continue
                elapsed = time.perf_counter() - t_window
                rate = (it - it_window) / elapsed if elapsed > 0 else 0.0
                means = {k: float(v) / max(it - it_window, 1) for k, v in loss_sums.items()}
                eta = (total_iter - it) / rate if rate else 0.0
                epoch, _ = divmod(
                    it * run.accum_iter, max(len(run.train_set) // (run.batch_size * ctx.world_size), 1)
                )
                log.info(
                    f"iter {it}/{total_iter} epoch {epoch} | {rate:.2f} it/s "
                    f"{rate * run.batch_size * run.accum_iter * ctx.world_size:.1f} samples/s | eta {_hms(eta)} | "
                    f"lr {run.g.schedule.current_lr():.3g} | "
                    + " ".join(f"{k} {v:.4g}" for k, v in means.items())
                    + f" | skipped {int(skipped_total)} | peak {peak_memory_mb(ctx.device):.0f} MB"
                )
                log.scalars(it, means, "train/")
                last_losses = means
                loss_sums.clear()
                t_window, it_window = time.perf_counter(), it

            if dry_run:
                break
            if it % opts.logger.save_checkpoint_freq == 0 or it == total_iter:
                _save(run, opts, exp_dir, it, seed, scaler, best, ctx, log, pool, last=it == total_iter)
            if (
                opts.val
                and opts.val.val_enabled
                and run.val_sets
                and (it % opts.val.val_freq == 0 or it == total_iter)
            ):
                stop = False
                if ctx.is_main:
                    stop = _validate(run, opts, metrics, exp_dir, it, best, log, options_text, ctx)
                stop = bool(broadcast_object(ctx, stop))
                barrier(ctx)
                if stop:
                    log.note(f"early stop at iteration {it}: no improvement for {best.stale} validations")
                    _save(run, opts, exp_dir, it, seed, scaler, best, ctx, log, pool, last=True)
                    break
    except KeyboardInterrupt:
        if not dry_run:
            log.note(f"interrupted at iteration {it}: saving the training state before exiting")
            _save(run, opts, exp_dir, it, seed, scaler, best, ctx, log, pool, last=True)
        log.close()
        raise
    seconds = time.perf_counter() - t_start
    result = TrainResult(
        it,
        exp_dir,
        {k: list(v) for k, v in best.best.items()},
        locals().get("last_losses", {}),
        rank=ctx.rank,
    )
    if dry_run:
        result.dry_run_seconds = seconds
        result.peak_memory_mb = peak_memory_mb(ctx.device)
    log.close()
    return result


def _penalty(train_opts):
    if train_opts.gradient_penalty is None:
        return None
    from upres.losses.regularizers import PenaltyOptions

    return PenaltyOptions(**train_opts.gradient_penalty.model_dump())


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _resume_path(resume: str | None, states_dir: Path | None) -> Path | None:
    if resume is None:
        return None
    if resume == "auto":
        return find_resume_state(states_dir) if states_dir and states_dir.is_dir() else None
    path = Path(resume)
    if not path.is_file():
        raise TrainingError(f"--resume {path}: no such training state")
    return path


def _save(
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
) -> None:
    """Checkpoint: models and the training state, atomically. A failed periodic save (a full disk) is a note and
    training goes on, the previous state intact, so a long run is not lost to a moment without space; a failed last
    save stops with the error."""
    # Each rank mixes its own pair pool; all of them go into the one state file (every rank must take part).
    pools = gather_to_main(ctx, pool.state_dict()) if pool is not None and exp_dir is not None else None
    if exp_dir is None or not ctx.is_main:
        barrier(ctx)
        return
    net = unwrap(run.g.net)
    if has_nonfinite(net) or (run.g.ema is not None and has_nonfinite(run.g.ema.module)):
        log.note(f"iteration {it}: weights contain NaN/Inf; checkpoint NOT written (the previous one stays)")
        barrier(ctx)
        return
    fmt = opts.logger.save_checkpoint_format
    models = exp_dir / "models"
    try:
        save_model(models / f"net_g_{it}.{fmt}", net, run.g.info)
        if run.g.ema is not None:
            save_model(models / f"net_g_ema_{it}.{fmt}", run.g.ema.module, run.g.info)
        if run.d is not None:
            from upres.io.atomic import atomic_write

            atomic_write(
                models / f"net_d_{it}.pth",
                lambda p: torch.save({"params": unwrap(run.d.net).state_dict()}, p),
            )
        extra = {
            "best": {k: list(v) for k, v in best.best.items()},
            "stale": best.stale,
            "data": _data_settings(run, ctx),
        }
        if pools is not None:
            extra["pair_pool"] = pools
        save_training_state(
            exp_dir / "training_states",
            it,
            collect_state(run, it, seed, scaler, extra),
            opts.logger.keep_checkpoints,
        )
    except (OSError, CheckpointError) as exc:
        if last:
            raise TrainingError(f"saving at iteration {it} failed: {exc}") from None
        states = list_states(exp_dir / "training_states")
        kept = f"the newest saved state is {states[-1].name}" if states else "no state is saved yet"
        log.note(
            f"saving at iteration {it} failed ({exc}); training goes on and {kept}; free space before the next "
            f"save at iteration {it + opts.logger.save_checkpoint_freq}"
        )
        barrier(ctx)
        return
    protect = set(models.glob("net_g_best*"))
    prune(models, opts.logger.keep_checkpoints, f".{fmt}", protect)
    prune(models, opts.logger.keep_checkpoints, ".pth", protect)
    barrier(ctx)


def _validate(
    run: Run, opts: Options, metrics, exp_dir, it: int, best: BestTracker, log: RunLog, options_text, ctx
) -> bool:
    net = run.g.ema.module if run.g.ema is not None else unwrap(run.g.net)
    # A copy: the Upscaler changes its module's memory layout, which would change the live generator's numerics.
    up = Upscaler(copy.deepcopy(net), opts.scale, ctx.device, torch.float32, run.g.info.size_multiple)
    vis = exp_dir / "visualization" if exp_dir else None
    results = validate(up, run.val_sets, metrics, opts.val, opts.scale, vis, it)
    tracked = opts.train.early_stop_metric or (metrics[0].name if metrics else None)
    first_set = next(iter(results), None)
    improved = False
    for set_name, values in results.items():
        log.info(f"validation {set_name} @ {it}: " + " ".join(f"{k} {v:.4f}" for k, v in values.items()))
        log.scalars(it, values, f"val/{set_name}/")
        if set_name == first_set:
            improved = best.update(values, metrics, it, tracked)
    if improved and exp_dir is not None and not has_nonfinite(net):
        save_model(exp_dir / "models" / f"net_g_best.{opts.logger.save_checkpoint_format}", net, run.g.info)
    images = sorted((exp_dir / "visualization").rglob(f"{it}_*.png"))[:6] if exp_dir else []
    if log.tb is not None:
        from upres.io.images import array_to_tensor, read_image

        for path in images:
            log.image(
                f"val/{path.parent.name}/{path.stem.split('_', 1)[1]}", array_to_tensor(read_image(path)), it
            )
    log.write_report(
        options_text, {k: {"value": v[0], "iteration": v[1]} for k, v in best.best.items()}, images
    )
    patience = opts.train.early_stop_patience
    return patience is not None and best.stale >= patience


def _data_settings(run: Run, ctx) -> dict[str, int]:
    """What fixes the order of training samples besides the seed (an exact resume needs them unchanged)."""
    return {
        "samples": len(run.train_set),
        "batch_size_per_gpu": run.batch_size,
        "accum_iter": run.accum_iter,
        "processes": ctx.world_size,
    }


def _data_changes(saved: dict | None, now: dict[str, int]) -> str:
    if not saved:
        return ""
    return ", ".join(f"{k} {saved[k]} -> {v}" for k, v in now.items() if k in saved and saved[k] != v)


def _restore_pool(pool, state: dict, ctx, log: RunLog) -> None:
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


def _roll_back(
    run: Run, states_dir: Path | None, scaler, log: RunLog, it: int, n_bad: int, pool=None, ctx=None
) -> int:
    states = list_states(states_dir) if states_dir and states_dir.is_dir() else []
    run.g.schedule.lr_scale *= 0.5
    if not states:
        log.note(
            f"iteration {it}: {n_bad} non-finite steps in a row; no checkpoint yet, halving the learning rate"
        )
        return it
    state = restore_state(run, states[-1], scaler)
    if ctx is not None:
        _restore_pool(pool, state, ctx, log)
    lr_scale = run.g.schedule.lr_scale  # restore_state brought back the old scale; halve that one
    run.g.schedule.lr_scale = lr_scale * 0.5
    back = int(state["iteration"])
    log.note(
        f"iteration {it}: {n_bad} non-finite steps in a row; rolled back to {states[-1].name} (iteration {back}) "
        f"and halved the learning rate (scale {run.g.schedule.lr_scale:g})"
    )
    return back
