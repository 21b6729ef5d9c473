"""One training iteration: G forward, losses, backward, optimizer steps and EMA, as a callable the loop runs.

The step knows nothing of files, logging or validation; it takes micro-batches from a callable and keeps its
bookkeeping (loss sums, skipped steps, the run of non-finite steps) as tensors on the device, read by the loop at
`print_freq` only. The perceptual stage composes the discriminator step from `gan_step` into the same iteration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from upres.train import gan_step
from upres.train.config import Options
from upres.train.distributed import DistContext, average_grads
from upres.train.schedule import supports_device_skip
from upres.train.setup import Run
from upres.train.weight_copies import LowPrecisionWeights

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # lq, gt, the loss target (gt, sharpened for OTF)


class TrainStep:
    def __init__(
        self,
        run: Run,
        opts: Options,
        ctx: DistContext,
        model: nn.Module,
        net_d: nn.Module | None,
        scaler: torch.amp.GradScaler | None,
        amp_dtype: torch.dtype,
    ) -> None:
        self.run, self.ctx, self.model, self.net_d, self.scaler = run, ctx, model, net_d, scaler
        self.train_opts = opts.train
        self.amp_dtype, self.use_amp = amp_dtype, opts.use_amp
        self.gan = gan_step.gan_entry(run.losses)
        self.penalty = _penalty(opts.train)
        self.device_skip = supports_device_skip(run.g.optimizer) and scaler is None
        self.d_device_skip = run.d is not None and supports_device_skip(run.d.optimizer) and scaler is None
        self.consecutive_bad = torch.zeros((), device=ctx.device)
        self.skipped_total = torch.zeros((), device=ctx.device)
        self.one = torch.ones((), device=ctx.device)
        self.compiled = hasattr(model, "_orig_mod")  # torch.compile's wrapper
        self.loss_sums: dict[str, torch.Tensor] = {}
        # Iterations each sum holds: a loss that starts inside a print window (start_iter, the GAN's start) was
        # averaged over the whole window, and logged as a fraction of its value.
        self.loss_counts: dict[str, int] = {}
        # Walked once: `parameters()` visits every module (~0.7 ms for RRDBNet 64/23 on a CPU core), and an eager GPU
        # step, bound by its host work, would pay that several times an iteration.
        self.g_params = [p for p in run.g.net.parameters() if p.requires_grad]
        # Autocast's per-use weight casts replaced by one copy an iteration (a compiled G keeps them: the compiler
        # fuses the casts). Under DDP, G then runs unwrapped and its gradients are averaged after the backward:
        # DDP's hooks sit on the parameters, which autograd no longer reaches (and its forward would wait for them).
        # On one machine only: across machines DDP's buckets, sent while the backward runs, hide a slower network.
        bare = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        buffers = ctx.enabled and any(True for _ in run.g.net.buffers())  # DDP's forward would broadcast them
        self.weights = (
            LowPrecisionWeights(run.g.net, amp_dtype)
            if opts.use_amp and bare is run.g.net and not buffers and ctx.machines == 1
            else None
        )
        self.g_forward = run.g.net if self.weights is not None else model
        self.backward_inputs = self.weights.inputs if self.weights is not None else self.g_params
        self.d_params = [p for p in run.d.net.parameters() if p.requires_grad] if run.d is not None else None

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.ctx.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def schedule(self, it: int) -> tuple[bool, bool]:
        """(G steps, D steps) at iteration `it`."""
        if self.gan is not None and self.run.d is not None:
            t = self.train_opts
            return gan_step.gan_schedule(it, self.gan.start_iter, t.net_d_iters, t.net_d_init_iters)
        return True, False

    def full_iteration(self) -> int:
        """The first iteration at which every loss is on and both networks step: where `--dry-run` runs its one
        iteration, so its check, time and peak memory cover the losses that start late (a GAN from 100k)."""
        it = max([1] + [e.start_iter for e in self.run.losses if e.weight > 0])
        want = (True, self.gan is not None and self.run.d is not None)
        while self.schedule(it) != want:  # past D's warm-up, on a step of G (net_d_iters)
            it += 1
        return it

    def __call__(self, it: int, next_batch: Callable[[int, int], Batch]) -> None:
        """Iteration `it`: `accum_iter` micro-batches from `next_batch(it, micro)`, then one optimizer step."""
        run = self.run
        if self.compiled:
            # compile_mode reduce-overhead/max-autotune replay G as CUDA graphs: say where an iteration starts, so
            # the graphs' outputs of the last one may be reused (nothing of it is held past its optimizer step).
            torch.compiler.cudagraph_mark_step_begin()
        g_due, d_due = self.schedule(it)
        run.g.optimizer.zero_grad(set_to_none=True)
        if self.weights is not None:
            self.weights.refresh()
        if d_due:
            run.d.optimizer.zero_grad(set_to_none=True)
        for micro in range(run.accum_iter):
            lq, gt, target = next_batch(it, micro)
            with self._compiled_gan():
                terms = self.forward_backward(it, lq, gt, target, g_due, d_due, micro == run.accum_iter - 1)
            for k, v in terms.items():
                self.loss_sums[k] = self.loss_sums.get(k, 0) + v.detach().float() / run.accum_iter
        for k in terms:
            self.loss_counts[k] = self.loss_counts.get(k, 0) + 1
        self.optimizer_step(it, terms.get("l_g_total"), g_due, d_due)

    def _compiled_gan(self) -> contextlib.AbstractContextManager:
        """The GAN stage keeps G's graph after G's backward (D's step reuses D's outputs on it); a compiled G's
        backward refuses that while AOTAutograd donates its buffers, so donation is off around a compiled GAN step."""
        if self.net_d is None or not self.compiled:
            return contextlib.nullcontext()
        return torch._functorch.config.patch(donated_buffer=False)

    def forward_backward(
        self,
        it: int,
        lq: torch.Tensor,
        gt: torch.Tensor,
        target: torch.Tensor,
        g_due: bool,
        d_due: bool,
        last_micro: bool,
    ) -> dict[str, torch.Tensor]:
        """One micro-batch: forwards and losses under autocast, G's backward and, when due, D's backward."""
        run, model, t = self.run, self.model, self.train_opts
        sync = contextlib.nullcontext() if (last_micro or not self.ctx.enabled) else model.no_sync()
        # An iteration where only D steps (net_d_iters, net_d_init_iters) needs G's output, not its graph: under DDP a
        # forward with a graph prepares a gradient sync that no backward would use, and the next iteration's
        # no_sync micro-batch was then all-reduced after all (a resumed run rounded differently).
        g_graph = contextlib.nullcontext() if g_due else torch.no_grad()
        in_use = self.weights.in_use() if self.weights is not None else contextlib.nullcontext()
        with sync:
            with in_use, self.autocast():
                with g_graph:
                    sr = self.g_forward(lq)
                d_outs = None
                if d_due or (self.gan is not None and self.gan.active(it)):
                    d_outs = gan_step.d_forward(
                        self.net_d, sr, gt, noise=t.d_input_noise, penalty=self.penalty
                    )
                # Where only D steps nothing uses G's losses (a perceptual loss's VGG forward was the dearest of
                # them): left out, so the logged means count the iterations that computed them, no 0 stands in.
                terms = self._generator_terms(it, lq, sr, target, d_outs) if g_due else {}
            if g_due:
                gan_step.generator_backward(
                    terms["l_g_total"] / run.accum_iter,
                    model,
                    self.scaler,
                    keep_graph=d_outs is not None,
                    params=self.backward_inputs,
                )
                if self.weights is not None:
                    self.weights.gather_grads()
                    if last_micro:
                        average_grads(self.ctx, self.g_params)
        if d_due:
            d_logs = gan_step.discriminator_step(
                self.net_d, run.d.optimizer, self.gan.module, d_outs, noise=t.d_input_noise,
                penalty=self.penalty, scaler=self.scaler, autocast=self.autocast, it=it,
                loss_scale=1.0 / run.accum_iter, zero_grad=False, step=False, params=self.d_params,
            )  # fmt: skip
            terms.update(d_logs)
        return terms

    def _generator_terms(
        self,
        it: int,
        lq: torch.Tensor,
        sr: torch.Tensor,
        target: torch.Tensor,
        d_outs: gan_step.DOutputs | None,
    ) -> dict[str, torch.Tensor]:
        run = self.run
        sr_ema = None
        if run.g.ema is not None and any(e.inputs == "ldl" for e in run.losses if e.active(it)):
            with torch.no_grad():
                sr_ema = run.g.ema.module(lq)
        return gan_step.generator_loss_terms(
            run.losses, it, sr, target, lq=lq, net_g=self.g_forward, sr_ema=sr_ema, d_outs=d_outs
        )

    def optimizer_step(self, it: int, loss: torch.Tensor | None, g_due: bool, d_due: bool) -> None:
        """One optimizer step for G (skipped on the device when the loss or a gradient is not finite), D's, EMA.
        `loss` is None where G does not step (its losses are not computed there)."""
        run, scaler, t = self.run, self.scaler, self.train_opts
        bad = (
            ~torch.isfinite(loss.detach())
            if loss is not None
            else torch.zeros((), dtype=torch.bool, device=self.one.device)
        )
        if scaler is not None:
            scaler.unscale_(run.g.optimizer)
        if t.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(run.g.net.parameters(), t.grad_clip_max_norm)
            bad = bad | ~torch.isfinite(norm)
        else:
            bad = bad | self._nonfinite_grads(self.g_params)
        if g_due:
            if scaler is not None:
                scaler.step(run.g.optimizer)
            elif self.device_skip:
                run.g.optimizer.found_inf = bad.float()
                run.g.optimizer.grad_scale = None
                run.g.optimizer.step()
            elif not bool(bad):  # an optimizer without fused kernels cannot skip on the device: one host sync
                run.g.optimizer.step()
        if d_due:
            if scaler is not None:
                if t.grad_clip:  # D's gradients are clipped as G's are (traiNNer-redux clips both)
                    scaler.unscale_(run.d.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.d_params, t.grad_clip_max_norm)
                scaler.step(run.d.optimizer)  # skips a step whose gradients are not finite
            else:
                # D gets the guard G has: a non-finite D step is skipped and counts as a bad step (the NaN guard's
                # roll-back), instead of NaN weights in every later checkpoint of D.
                if t.grad_clip:
                    d_bad = ~torch.isfinite(
                        torch.nn.utils.clip_grad_norm_(self.d_params, t.grad_clip_max_norm)
                    )
                else:
                    d_bad = self._nonfinite_grads(self.d_params)
                bad = bad | d_bad
                if self.d_device_skip:
                    run.d.optimizer.found_inf = d_bad.float()
                    run.d.optimizer.grad_scale = None
                    run.d.optimizer.step()
                elif not bool(d_bad):
                    run.d.optimizer.step()
        if run.d is not None:
            # Every iteration, as G's and as BasicSR/traiNNer-redux step every scheduler: counting only D's steps
            # put D's milestones start_iter (or net_d_iters times) late.
            run.d.schedule.step()
        if scaler is not None:
            scaler.update()
        run.g.schedule.step()
        if run.g.ema is not None:
            run.g.ema.update(run.g.net, it)
        self.consecutive_bad = (self.consecutive_bad + bad.float()) * bad.float()
        self.skipped_total += bad.float()

    def _nonfinite_grads(self, params: list[torch.Tensor]) -> torch.Tensor:
        """True on the device when a gradient of `params` holds NaN or infinity. GradScaler's check at scale 1 (x * 1.0
        keeps every bit): one multi-tensor kernel per dtype and nothing made per parameter, where a norm per parameter made
        ~700 tensors on the host each step (RRDBNet), and an eager GPU step is bound by its host work."""
        found = torch.zeros((), device=self.ctx.device)
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for p in params:
            if p.grad is not None:
                by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
        for grads in by_dtype.values():
            torch._amp_foreach_non_finite_check_and_unscale_(grads, found, self.one)
        return found > 0

    def reset_window(self) -> None:
        """Forget the loss sums (after they are logged, or after a roll-back)."""
        self.loss_sums.clear()
        self.loss_counts.clear()

    def window_state(self) -> dict:
        """The counts the next progress line reads (loss sums since the last line, skipped steps, the run of
        non-finite steps), for a training state: a run resumed between two lines then logs, counts and rolls back
        as the uninterrupted run does (a fresh window averaged the first line over fewer iterations, restarted
        `skipped N` from 0 and the NaN guard's count of bad steps)."""
        return {
            "loss_sums": {k: torch.as_tensor(v).detach().cpu() for k, v in self.loss_sums.items()},
            "loss_counts": dict(self.loss_counts),
            "skipped_total": self.skipped_total.detach().cpu(),
            "consecutive_bad": self.consecutive_bad.detach().cpu(),
        }

    def resume_window(self, state: dict | None, rank: int) -> None:
        """This process's window from a training state (`window_state`); states without one leave it empty."""
        by_rank = (state or {}).get("window_by_rank")
        if not (isinstance(by_rank, list) and rank < len(by_rank)):
            return
        saved, device = by_rank[rank], self.ctx.device
        self.loss_sums = {k: v.to(device) for k, v in saved["loss_sums"].items()}
        self.loss_counts = {k: int(v) for k, v in saved["loss_counts"].items()}
        self.skipped_total.copy_(saved["skipped_total"])
        self.consecutive_bad.copy_(saved["consecutive_bad"])


def _penalty(train_opts):
    if train_opts.gradient_penalty is None:
        return None
    from upres.losses.regularizers import PenaltyOptions

    return PenaltyOptions(**train_opts.gradient_penalty.model_dump())
