"""What a run tells its user, beside the training itself: progress lines, validation against the bicubic baseline,
report.html after each validation, and the summary at the end. The loop calls these; it does not format anything."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from upres.doc_pages import doc_page
from upres.infer.tiling import Upscaler
from upres.io.atomic import atomic_write
from upres.io.model_files import save_model
from upres.train.checkpoint import fault_reason, write_faults
from upres.train.config import Options
from upres.train.distributed import mean_over_ranks
from upres.train.pace import Pace, ValidationProgress, hms, saves_left, validations_left
from upres.train.pictures import prune_pictures, pruning_note
from upres.train.report import RunLog
from upres.train.report_html import Page
from upres.train.run_record import RunRecord, metric_infos
from upres.train.sampler import steps_per_epoch
from upres.train.setup import Run
from upres.train.state import has_nonfinite, unwrap
from upres.train.summary import Outcome, last_model_path, summary_lines
from upres.train.validate import BestTracker, Metric, TileMemory, run_validation

if TYPE_CHECKING:
    from upres.train.feed import Waits

# A window spent this much waiting for batches gets a note (once a run): the loader, not the step, sets the pace.
SLOW_LOADER = 0.3

NOTES_KEY = "__notes__"  # in report_history.json, beside the curves
IMAGES_KEY = "__val_images__"  # and the images each set's first validation scored (RunRecord.partial)


def amp_on_cpu(opts: Options, device: torch.device, note) -> Options:
    """On CPU, bf16 autocast is usually slower than fp32 (templates ask for AMP for the GPU): off unless
    `use_amp_on_cpu` asks for it."""
    if device.type != "cpu" or not opts.use_amp or opts.use_amp_on_cpu:
        return opts
    note(
        "use_amp is off on CPU, where bf16 autocast is usually slower than fp32; set use_amp_on_cpu: true to keep it"
    )
    return opts.model_copy(update={"use_amp": False})


def bf16_where_supported(opts: Options, device: torch.device, note) -> Options:
    """amp_bf16 on a GPU without bf16 (before compute capability 8.0: GTX 10xx, RTX 20xx, T4, V100): PyTorch would
    emulate it, far slower than fp16; AMP goes fp16 with a gradient scaler instead, as traiNNer-redux does."""
    if device.type != "cuda" or not (opts.use_amp and opts.amp_bf16):
        return opts
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return opts
    note(
        f"amp_bf16: {torch.cuda.get_device_name(device)} has no bf16, which PyTorch would emulate slowly; AMP uses "
        "fp16 with a gradient scaler instead (set amp_bf16: false to silence this)"
    )
    return opts.model_copy(update={"amp_bf16": False})


def precision_text(opts: Options, device: torch.device) -> str:
    if not opts.use_amp:
        return "fp32" + (" (AMP off on CPU)" if device.type == "cpu" else "")
    dtype = "bf16" if (opts.amp_bf16 or device.type == "cpu") else "fp16"
    return f"AMP {dtype}" + (
        " on CPU (use_amp_on_cpu: often slower than fp32)" if device.type == "cpu" else ""
    )


def _device_text(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def software_text(device: torch.device) -> str:
    """What the run trained with, for comparing runs and reporting problems: `upres 0.1.0, PyTorch 2.11.0+cu130, CUDA
    13.0, cuDNN 91900`."""
    from upres import __version__

    parts = [f"upres {__version__}", f"PyTorch {torch.__version__}"]
    if device.type == "cuda":
        parts += [f"CUDA {torch.version.cuda}", f"cuDNN {torch.backends.cudnn.version()}"]
    return ", ".join(parts)


class RunWatch:
    def __init__(
        self,
        opts: Options,
        run: Run,
        ctx,
        log: RunLog,
        metrics: list[Metric] | None,
        exp_dir: Path | None,
        start_iter: int,
        total_iter: int,
        seed: int,
        options_text: str = "",
    ) -> None:
        self.opts, self.run, self.ctx, self.log, self.metrics = opts, run, ctx, log, metrics
        self.exp_dir, self.total_iter, self.options_text = exp_dir, total_iter, options_text
        self.pace = Pace(start_iter)
        self.start_iter, self._loader_noted, self.data_wait = start_iter, False, 0.0
        self._degrading_noted, self.degrading = False, None
        self.validating, self._pruning_said = False, False
        self.val_tiles = TileMemory(opts.val.tile_size if opts.val is not None else 0)
        self._history_file = exp_dir / "report_history.json" if exp_dir is not None else None
        images: dict[str, list[str]] = {}
        if start_iter > 0:
            images = self._restore_history(start_iter)
        log.open_tensorboard(start_iter)
        self.tracked = opts.train.early_stop_metric or (metrics[0].name if metrics else None)
        self.record = RunRecord(opts.name, metric_infos(metrics or []), total_iter=total_iter)
        self.record.reference_images = images
        self.record.perceptual = run.d is not None or getattr(run.train_set, "degradations", None) is not None
        if start_iter > 0:
            self.record.continue_from(self.log.history, self.log.notes)
        params = sum(p.numel() for p in unwrap(run.g.net).parameters())
        per_step = run.batch_size * run.accum_iter * ctx.world_size
        self.record.facts = {
            "generator": f"{run.g.info.family} x{opts.scale} ({' '.join(run.g.info.tags)})",
            "parameters": f"{params:,}",
            "device": _device_text(ctx.device),
            "software": software_text(ctx.device),
            "precision": precision_text(opts, ctx.device),
            "batch": f"{run.batch_size} per process x accum {run.accum_iter} x {ctx.world_size} process(es) = "
            f"{per_step}",
            "training images": f"{len(run.train_set):,}",
            "iterations": f"{start_iter} -> {total_iter}",
            "seed": str(seed),
        }

    # --- progress ------------------------------------------------------------------------------------------------
    def restart_window(self, it: int) -> None:
        self.pace.restart_window(it)

    def progress(self, step, it: int, waits: Waits) -> dict[str, float]:
        """The line at `print_freq`: speed and ETA without validation, the share of it spent waiting for the loader
        (and degrading on the device, with degrade_on: device), learning rate, mean losses since the last (each
        over the iterations that computed it)."""
        run, ctx = self.run, self.ctx
        rate = self.pace.rate(it)
        window = max(self.pace.window_seconds(), 1e-9)
        self.data_wait += waits.loader
        wait = min(1.0, waits.loader / window)
        self._note_slow_loader(wait, it)
        degrading = None if waits.degrading is None else min(1.0, waits.degrading / window)
        if waits.degrading is not None:
            self.degrading = (self.degrading or 0.0) + waits.degrading
            self._note_slow_degrading(degrading, it)
        sums = mean_over_ranks(ctx, step.loss_sums)  # under torchrun: the losses of every process's batch
        means = {k: float(v) / max(step.loss_counts.get(k, 0), 1) for k, v in sums.items()}
        val_freq = self.opts.val.val_freq if self.metrics is not None else None
        saves = saves_left(it, self.total_iter, self.opts.logger.save_checkpoint_freq)
        train_s, val_s = self.pace.eta(
            it, self.total_iter, validations_left(it, self.total_iter, val_freq), saves
        )
        # The epoch the data is in (sampler.py's count): `it * accum` over the micro-batches of an epoch was off
        # where an epoch leaves a few samples out.
        epoch = it // max(
            steps_per_epoch(len(run.train_set), run.batch_size, ctx.world_size, run.accum_iter), 1
        )
        lr = run.g.schedule.current_lr()
        from upres.train.memory import peak_memory_mb

        self.log.info(
            f"iter {it}/{self.total_iter} epoch {epoch} | {rate:.2f} it/s "
            f"{rate * run.batch_size * run.accum_iter * ctx.world_size:.1f} samples/s, data wait {wait:.0%}"
            + (f", degrading {degrading:.0%}" if degrading is not None else "")
            + f" | eta {hms(train_s + val_s)}"
            + (f" (validation {hms(val_s)})" if val_s else "")
            + f" | lr {lr:.3g} | "
            + " ".join(f"{k} {v:.4g}" for k, v in means.items())
            + f" | skipped {int(step.skipped_total)} | peak {peak_memory_mb(ctx.device):.0f} MB"
        )
        self.log.scalars(it, means, "train/")
        self.log.scalars(it, {"lr": lr}, "train/")
        self.pace.restart_window(it)
        return means

    def _note_slow_loader(self, wait: float, it: int) -> None:
        """Once a run: a window (not the first, which includes starting the workers) spent mostly waiting for data."""
        if wait < SLOW_LOADER or self._loader_noted or self.pace.window_iter == self.start_iter:
            return
        self._loader_noted = True
        workers = self.run.num_workers
        self.log.note(
            f"training waited for the data loader {wait:.0%} of the time up to iteration {it}: raise "
            f"datasets.train.num_worker_per_gpu ({workers} now), or see {doc_page('troubleshooting.md#slow-data-loading')}"
        )

    def _note_slow_degrading(self, share: float, it: int) -> None:
        """Once a run: a window (not the first) spent mostly degrading batches in the training process."""
        if share < SLOW_LOADER or self._degrading_noted or self.pace.window_iter == self.start_iter:
            return
        self._degrading_noted = True
        self.log.note(
            f"training spent {share:.0%} of the time up to iteration {it} degrading its batches on the device "
            "(degrade_on: device; the training process launches each sample's steps): where CPU cores are free, "
            "degrade_on: workers with more datasets.train.num_worker_per_gpu feeds it faster"
        )

    # --- validation ----------------------------------------------------------------------------------------------
    def validate(self, it: int, best: BestTracker) -> bool:
        """Score the EMA (or live) generator, log it against bicubic, keep net_g_best, rewrite the report.
        Returns whether early stopping says to stop. `validating` is True while it runs and after it raised, so the
        loop's error names validation."""
        self.validating = True
        stop = self._validate(it, best)
        self.validating = False
        return stop

    def _validate(self, it: int, best: BestTracker) -> bool:
        started = time.perf_counter()
        run, opts, log = self.run, self.opts, self.log
        net = run.g.ema.module if run.g.ema is not None else unwrap(run.g.net)
        # A copy: the Upscaler changes its module's memory layout, which would change the live generator's numerics.
        up = Upscaler(
            copy.deepcopy(net), opts.scale, self.ctx.device, torch.float32, run.g.info.size_multiple
        )
        vis = self.exp_dir / "visualization" if self.exp_dir else None
        results = run_validation(
            up, run.val_sets, self.metrics, opts.val, opts.scale, vis, it,
            with_bicubic=not self.record.baseline, with_crops=self.exp_dir is not None,
            progress=ValidationProgress(log.info), tiles=self.val_tiles,
        )  # fmt: skip
        partial = {n for n, r in results.items() if self.record.partial(n, r)}
        if not self.record.baseline:
            for set_name, r in results.items():
                if r.bicubic and set_name not in partial:
                    log.info(
                        f"bicubic baseline {set_name}: "
                        + " ".join(f"{k} {v:.4f}" for k, v in r.bicubic.items())
                    )
        first_set = scored_set(run.val_sets, opts)
        # The tracker changes once net_g_best is written: a Ctrl+C in between leaves a state that redoes it all.
        trial = copy.deepcopy(best)
        improved = False
        for set_name, r in results.items():
            if set_name == first_set and set_name not in partial:
                improved = trial.update(r.means, self.metrics, it, self.tracked)
        self.record.record(it, results, improved)
        for set_name, r in results.items():
            gain = (
                self.record.gain(set_name, self.tracked, r.means[self.tracked])
                if self.tracked in r.means
                else ""
            )
            if set_name in partial:
                for note in self.record.left_out_notes(set_name, it, r):
                    log.note(note)
                gain = self.record.left_out_text(r) if r.means else ""
            lr_only = opts.val_datasets[set_name].type == "singleimagedataset"
            scores = " ".join(f"{k} {v:.4f}" for k, v in r.means.items()) or (
                "images only (LR only: no ground truth to score)"
                if lr_only
                else "images only (no val.metrics, or metrics_enabled: false)"
            )
            log.info(f"validation {set_name} @ {it}: {scores}" + (f" ({gain})" if gain else ""))
            if set_name not in partial:
                log.scalars(it, r.means, f"val/{set_name}/")
        note = self.record.below_bicubic_note(self.tracked)
        if note:
            log.note(note)
        if improved and self.exp_dir is not None and not has_nonfinite(net):
            best_path = self.exp_dir / "models" / f"net_g_best.{opts.logger.save_checkpoint_format}"
            try:
                save_model(best_path, net, run.g.info, param_key="params_ema" if run.g.ema else "params")
            except write_faults() as exc:  # a full disk: the previous best model stays, training goes on
                log.note(
                    f"iteration {it}: could not write {best_path} ({fault_reason(exc)}); the previous one stays"
                )
        best.best, best.stale, best.validated = trial.best, trial.stale, trial.validated
        if vis is not None and opts.val.save_img:
            self._prune_pictures(vis, it, best)
        self._tensorboard_images(it)
        self.pace.add_validation(time.perf_counter() - started)
        self.write_report(best)
        patience = opts.train.early_stop_patience
        return patience is not None and best.stale >= patience

    def _prune_pictures(self, vis: Path, it: int, best: BestTracker) -> None:
        keep = self.opts.val.keep_img
        best_iter = best.best[self.tracked][1] if self.tracked in best.best else None
        if prune_pictures(vis, it, keep, best_iter) and not self._pruning_said:
            self._pruning_said = True
            self.log.note(pruning_note(keep))

    def _tensorboard_images(self, it: int) -> None:
        if self.log.tb is None or self.exp_dir is None:
            return
        from upres.io.images import array_to_tensor, read_image

        for path in sorted((self.exp_dir / "visualization").rglob(f"{it}_*.png"))[:6]:
            tag = f"val/{path.parent.name}/{path.stem.split('_', 1)[1]}"
            self.log.image(tag, array_to_tensor(read_image(path)), it)

    def replay_validation(self, it: int, best: BestTracker) -> bool:
        """A validation at `it` that finished after its state was saved (the last one of a finished run, which a
        longer run resumes from) left its scores in the report's curves: they go into the tracker instead of
        validating again. False when they are not all there (a crash or Ctrl+C cut the validation off)."""
        first = scored_set(self.run.val_sets, self.opts)
        if not self.metrics or first is None:
            return False
        values = {}
        for m in self.metrics:
            points = [v for i, v in self.log.history.get(f"val/{first}/{m.name}", []) if i == it]
            if not points:
                return False
            values[m.name] = points[-1]
        best.update(values, self.metrics, it, self.tracked)
        return True

    # --- report and summary --------------------------------------------------------------------------------------
    def _restore_history(self, start_iter: int) -> dict[str, list[str]]:
        """A resumed run's report keeps the curves before the resume (up to the state's iteration: what came after
        it is trained again) and the notes of its earlier sessions; returns the images its validations scored."""
        if self._history_file is None or not self._history_file.is_file():
            return {}
        try:
            saved = json.loads(self._history_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # the curves are a convenience: a damaged file only shortens them
        if not isinstance(saved, dict):
            return {}
        earlier = [str(n) for n in saved.pop(NOTES_KEY, [])]
        images = saved.pop(IMAGES_KEY, None)
        # The report's notes are the run's: the earlier sessions' first (each once), then this one's.
        self.log.notes[:] = earlier + [n for n in self.log.notes if n not in earlier]
        for key, points in saved.items():
            kept = [(int(i), float(v)) for i, v in points if int(i) <= start_iter]
            self.log.history.setdefault(key, []).extend(kept)
        return images if isinstance(images, dict) else {}

    def write_report(self, best: BestTracker, it: int | None = None) -> None:
        facts = self.record.facts
        done = it if it is not None else (self.record.latest_iter or self.pace.start_iter)
        facts["time"] = hms(self.pace.wall) + (
            f" (this session, from iteration {self.start_iter})" if self.start_iter else ""
        )
        facts["speed"] = f"{self.pace.mean_rate(done):.2f} it/s (validation not counted)"
        facts["validation time"] = hms(self.pace.validation_total)
        try:  # a report is never worth a run: a full disk leaves the previous one
            self.log.write_report(Page(self.record, {}, dict(best.best), self.tracked, [], self.options_text))
        except OSError as exc:
            self.log.info(f"report.html not updated: {exc}")
        self.save_history()

    def save_history(self) -> None:
        """The curves so far, for the report of a run resumed from a state saved now (`_restore_history`)."""
        if self._history_file is None or not self.log.enabled:
            return
        text = json.dumps(
            {**self.log.history, NOTES_KEY: self.log.notes, IMAGES_KEY: self.record.reference_images}
        )
        try:
            atomic_write(self._history_file, lambda p: p.write_text(text, encoding="utf-8"))
        except OSError as exc:
            self.log.info(f"{self._history_file.name} not updated: {exc}")

    def finish(self, it: int, best: BestTracker, how: str = "finished") -> list[str]:
        """The closing lines (console and log.txt) and the final report; nothing when no experiment folder."""
        if self.exp_dir is None or not self.ctx.is_main:
            return []
        self.record.finished = True
        self.write_report(best, it)
        fmt = self.opts.logger.save_checkpoint_format
        models = self.exp_dir / "models"
        outcome = Outcome(
            it,
            self.pace.wall,
            self.pace.mean_rate(it),
            self.pace.validation_total,
            best_path if (best_path := models / f"net_g_best.{fmt}").is_file() else None,
            last_model_path(models, it, fmt, self.run.g.ema is not None),
            self.exp_dir / "report.html",
            how,
            self.data_wait,
            self.degrading,
            self.start_iter,
        )
        lines = summary_lines(self.record, dict(best.best), outcome)
        self.log.info("\n".join(lines))  # one block: the first line stamped, the rest aligned under it
        return lines


def scored_set(val_sets: dict, opts) -> str | None:
    """The validation set whose scores pick net_g_best and early stopping: the first with ground truth (an LR-only
    set is validated for its pictures)."""
    return next((n for n in val_sets if opts.val_datasets[n].type != "singleimagedataset"), None)
