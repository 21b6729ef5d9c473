"""The training batches as the step sees them: on the device, mixed through the pair pool, target sharpened.

On-the-fly degradations follow Real-ESRGAN: the pixel/perceptual target is the sharpened ground truth and pairs are
mixed across batches by a pool (saved in the training state so a resume mixes the same pairs).

A loader worker that dies (most often killed by the system running out of memory) does not end the run: the loader
starts again at the iteration under way, and since every batch is a function of its position, the run goes on as it
would have. Only a death in the middle of an iteration (between its micro-batches), twice at one iteration, or the
21st within an hour stops.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from upres.data.degradations.sharpen import usm_sharpen
from upres.data.otf_device import defer_degradations, degrade_batch
from upres.train.config import Options
from upres.train.distributed import DistContext
from upres.train.log_records import send_to
from upres.train.otf_debug import save_otf_debug
from upres.train.pace import hms
from upres.train.persist import restore_pool
from upres.train.report import RunLog
from upres.train.sampler import ResumableBatchSampler
from upres.train.setup import Run
from upres.train.target_sharpening import target_sharpening


def make_loader(run: Run, seed: int, ctx: DistContext, start_batch: int, records: Any = None) -> DataLoader:
    """`records`: the queue the workers send their warnings to (RunLog.worker_records), None to keep them on the
    console."""
    sampler = ResumableBatchSampler(
        len(run.train_set), run.batch_size, seed, ctx.rank, ctx.world_size, run.accum_iter, start_batch
    )
    return DataLoader(
        run.train_set,
        batch_sampler=sampler,
        num_workers=run.num_workers,
        pin_memory=ctx.device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=run.prefetch_factor if run.num_workers else None,
        worker_init_fn=functools.partial(_start_worker, records) if run.num_workers else None,
        # Starting the loader draws its workers' base seed; from its own generator, that draw leaves the process's
        # random stream (D's input noise, penalty interpolation) where a resumed run restored it.
        generator=torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, ctx.rank]).generate_state(1)[0])
        ),
    )


# A loader dying this often within the window is a crash loop, not the odd out-of-memory kill: a week-long run that
# lost a worker every few hours was stopped at its 21st death, whenever that came.
MAX_LOADER_RESTARTS = 20
RESTART_WINDOW_S = 3600.0


class Waits(NamedTuple):
    """What the loop spent outside its steps: waiting for the loader's batches, and degrading them on the training
    device (None when the workers degrade)."""

    loader: float
    degrading: float | None


class LoaderFailed(RuntimeError):
    """A loader worker died where the loader cannot start again without changing what is trained."""


def worker_died(exc: BaseException) -> bool:
    # PyTorch's words: "DataLoader worker (pid 123) is killed by signal: Killed." / "... (pid(s) 123) exited unexpectedly"
    return isinstance(exc, RuntimeError) and "DataLoader worker (pid" in str(exc)


def _start_worker(records: Any, worker_id: int) -> None:
    """A terminal's Ctrl+C reaches the loader workers too; they keep loading while the main process finishes its
    iteration and saves (it stops them), instead of dying under a batch it still waits for."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if records is not None:
        send_to(records)


_FIX = (
    "if the system ran out of memory (signal Killed), lower datasets.train.num_worker_per_gpu or prefetch_factor, "
    "then --resume auto"
)


class BatchFeed:
    """`feed(it, micro)` -> (lq, gt, target) for iteration `it`; `restart(it)` after a roll-back."""

    def __init__(
        self,
        run: Run,
        opts: Options,
        ctx: DistContext,
        seed: int,
        exp_dir: Path | None,
        log: RunLog,
        state: dict | None,
        start_iter: int,
    ) -> None:
        self.run, self.ctx, self.seed, self.log, self.start_iter = run, ctx, seed, log, start_iter
        self.channels_last = opts.use_channels_last
        self.otf = otf = getattr(run.train_set, "degradations", None)
        self.sharpen = target_sharpening(opts, run.train_set)
        self.debug_dir, self.debug_limit = None, opts.high_order_degradations_debug_limit
        if opts.high_order_degradations_debug and otf is None:
            log.note("high_order_degradations_debug has no effect: the training set is not made on the fly")
        elif opts.high_order_degradations_debug and exp_dir is not None and ctx.is_main:
            self.debug_dir = exp_dir / "debug" / "otf"
            log.note(
                f"high_order_degradations_debug: the first training batches are saved to {self.debug_dir}"
            )
        self.on_device = otf is not None and otf.degrade_on == "device"
        if self.on_device:
            defer_degradations(run.train_set, ctx.device, log.note)
        self.deaths: deque[float] = deque(maxlen=MAX_LOADER_RESTARTS)  # when the latest restarts were
        self.restarted_at = None
        self.waited = 0.0  # seconds the loop stood waiting for batches since `take_wait()`
        self.degrading = 0.0  # seconds it spent degrading them (degrade_on: device) since then
        self.pool = None
        if otf is not None and otf.queue_size:
            from upres.data.degradations.pair_pool import PairPool

            size = otf.queue_size // run.batch_size * run.batch_size
            if size != otf.queue_size:
                log.note(
                    f"queue_size {otf.queue_size} rounded down to {size}, a multiple of the batch size"
                    + ("; the pair pool is off (queue_size below the batch size)" if not size else "")
                )
            self.pool = PairPool(size, torch.Generator().manual_seed(seed + ctx.rank)) if size else None
            if state is not None:
                restore_pool(self.pool, state, ctx, log)
        self.restart(start_iter)

    def restart(self, it: int) -> None:
        """Batches from iteration `it` on, in the order an uninterrupted run would see them."""
        self.close()
        start = it * self.run.accum_iter
        self.data = iter(make_loader(self.run, self.seed, self.ctx, start, self.log.worker_records))

    def close(self) -> None:
        """Stop the loader's workers now, not when the last reference goes: a traceback may hold it, and PyTorch
        watches its workers until it is shut down (a dead one would be reported again, at any later moment)."""
        data = getattr(self, "data", None)
        if data is not None and hasattr(data, "_shutdown_workers"):
            data._shutdown_workers()

    def death(self, exc: BaseException) -> str | None:
        """What died, when `exc` comes of a dead loader worker: PyTorch's report, or a worker of this loader found
        dead after an error its death caused in a transfer (a reset connection while fetching a shared tensor)."""
        if worker_died(exc):
            return str(exc).strip().rstrip(".")
        workers = getattr(self.data, "_workers", ())
        # A killed worker's threads take a moment to end, and only then can it be reaped and seen dead: a transfer
        # error may come first. Other errors are the data's own, reported as they are.
        patience = 200 if isinstance(exc, (OSError, EOFError)) else 1
        for _ in range(patience):
            dead = [w for w in workers if not w.is_alive()]
            if dead or patience == 1:
                break
            time.sleep(0.01)
        if not dead:
            return None
        codes = ", ".join(f"pid {w.pid} exit code {w.exitcode}" for w in dead)
        return f"DataLoader worker ({codes}) died ({type(exc).__name__}: {exc})"

    def recover(self, done: int, exc: BaseException) -> None:
        """A loader worker died with `done` iterations complete: the loader starts again at the next one."""
        what = self.death(exc)
        if what is None:
            raise exc
        now = time.monotonic()
        span = now - self.deaths[0] if len(self.deaths) == MAX_LOADER_RESTARTS else RESTART_WINDOW_S
        if self.restarted_at == done or span < RESTART_WINDOW_S:
            again = (
                "again at the same iteration"
                if self.restarted_at == done
                else f"{MAX_LOADER_RESTARTS + 1} times within {hms(span)}"
            )
            self.close()
            raise LoaderFailed(f"{what}, {again}: {_FIX}") from None
        self.deaths.append(now)
        self.restarted_at = done
        self.log.note(f"{what}; the loader starts again at iteration {done + 1} (the run goes on unchanged)")
        self.restart(done)

    def take_wait(self) -> Waits:
        """Seconds spent waiting for the loader, and degrading on the device, since the last call."""
        waits = Waits(self.waited, self.degrading if self.on_device else None)
        self.waited = self.degrading = 0.0
        return waits

    def __call__(self, it: int, micro: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        asked = time.perf_counter()
        while True:
            try:
                batch = next(self.data)
                break
            except (RuntimeError, OSError, EOFError) as exc:
                if micro:  # part of this iteration ran already: it cannot be replayed
                    what = self.death(exc)
                    if what is None:
                        raise
                    self.close()
                    raise LoaderFailed(f"{what} during iteration {it}: {_FIX}") from None
                self.recover(it - 1, exc)
        self.waited += time.perf_counter() - asked
        device = self.ctx.device
        if self.on_device:
            started = time.perf_counter()
            lq, gt = degrade_batch(self.run.train_set, batch, device)
            self.degrading += time.perf_counter() - started
        else:
            lq = batch["lq"].to(device, non_blocking=True)
            gt = batch["gt"].to(device, non_blocking=True)
        if self.pool is not None:
            lq, gt = self.pool(lq, gt)
        target = gt
        if (usm := self.sharpen) is not None:
            target = usm_sharpen(gt, usm.gt_usm_weight, usm.gt_usm_radius, usm.gt_usm_threshold)
        if self.debug_dir is not None and (not self.debug_limit or it - self.start_iter <= self.debug_limit):
            try:
                save_otf_debug(self.debug_dir, it, micro, lq, target)
            except OSError as exc:  # a debug picture is never worth a run
                self.log.note(
                    f"high_order_degradations_debug stopped: cannot write to {self.debug_dir} ({exc})"
                )
                self.debug_dir = None
        if self.channels_last:
            lq = lq.contiguous(memory_format=torch.channels_last)
        return lq, gt, target
