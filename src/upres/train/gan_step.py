"""The GAN stage's generator and discriminator steps as plain functions of (models, batch, losses).

One D pass on the real batch and one on the generator output serve both steps: the generator's adversarial loss
uses them (real side detached), then the discriminator's loss reuses the *same* outputs. This works because D's
weights do not change between the two (D steps after G) and because the generator's backward is restricted to G's
parameters (`generator_backward`), which leaves D's part of the graph untouched. BasicSR's ESRGANModel runs D five
times per iteration for the same result; this runs it twice (three times with WGAN-GP's interpolates).

Typical iteration (what the training loop does; AMP autocast around the forwards if enabled):

    gan = gan_entry(entries)  # once, after build_losses
    sr = net_g(lq)
    g_due, d_due = gan_schedule(it, gan.start_iter, net_d_iters, net_d_init_iters)
    outs = d_forward(net_d, sr, gt, noise=d_noise, penalty=penalty) if d_due else None
    if g_due:
        terms = generator_loss_terms(entries, it, sr, gt, lq=lq, net_g=net_g, sr_ema=sr_ema, d_outs=outs)
        generator_backward(terms["l_g_total"], net_g, scaler, keep_graph=outs is not None)
        opt_g.step()  # or scaler.step(opt_g)
    if d_due:
        d_logs = discriminator_step(net_d, opt_d, gan.module, outs, penalty=penalty, scaler=scaler, it=it)
    # scaler.update() once, after both steps

Nothing here calls `.item()`: returned logs are 0-d tensors, read by the loop at `print_freq` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from upres.losses import LossEntry
from upres.losses.gan import GANLoss, Logits, as_list, mean_logit
from upres.losses.regularizers import (
    PenaltyOptions,
    add_input_noise,
    gradient_penalty,
    interpolates,
    r1_penalty,
)

Autocast = Callable[[], AbstractContextManager]


@dataclass
class DOutputs:
    """D's outputs on one iteration's real and generated batch, with their graphs (into D, and into G via `fake`)."""

    real: Logits
    fake: Logits
    real_input: (
        torch.Tensor
    )  # what D saw as real (noise added); requires grad when a real-input penalty is on
    fake_input: torch.Tensor  # what D saw as fake (noise added; still attached to G)


def _params(net: nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in net.parameters() if p.requires_grad]


def detach_logits(logits: Logits) -> Logits:
    if isinstance(logits, list | tuple):
        return [p.detach() for p in logits]
    return logits.detach()


def gan_schedule(
    current_iter: int, gan_start_iter: int = 0, net_d_iters: int = 1, net_d_init_iters: int = 0
) -> tuple[bool, bool]:
    """(G steps this iteration, D steps this iteration).

    Before `gan_start_iter` only G trains (the DLAS phases: pixel/feature losses first). From then on D trains every
    iteration; G sits out the first `net_d_init_iters` iterations (D warm-up, BasicSR's meaning of the key) and
    then steps every `net_d_iters`-th iteration.
    """
    if current_iter < gan_start_iter:
        return True, False
    # Iterations count from 1: a GAN on from the start (start_iter 0) first trains at iteration 1, so the warm-up is
    # iterations 1..net_d_init_iters (BasicSR's `current_iter > net_d_init_iters`); it was one iteration short.
    first = max(gan_start_iter, 1)
    g_due = current_iter >= first + net_d_init_iters and current_iter % max(1, net_d_iters) == 0
    return g_due, True


def d_forward(
    net_d: nn.Module,
    sr: torch.Tensor,
    gt: torch.Tensor,
    *,
    noise: float = 0.0,
    penalty: PenaltyOptions | None = None,
) -> DOutputs:
    """Run D once on the (noisy) ground truth and once on the (noisy) output; D's parameters must require grad."""
    real_in = add_input_noise(gt.detach(), noise)
    if penalty is not None and penalty.kind in ("real", "r1"):
        real_in = real_in.detach().requires_grad_(True)
    fake_in = add_input_noise(sr, noise)
    return DOutputs(net_d(real_in), net_d(fake_in), real_in, fake_in)


def generator_adversarial_loss(gan_loss: GANLoss, outs: DOutputs) -> torch.Tensor:
    """Unweighted adversarial loss for G; gradient flows only through D's output on the generated batch."""
    if gan_loss.relativistic:
        return gan_loss.ragan_g(detach_logits(outs.real), outs.fake)
    return gan_loss(outs.fake, True, is_disc=False)


def generator_loss_terms(
    entries: Iterable[LossEntry],
    current_iter: int,
    sr: torch.Tensor,
    gt: torch.Tensor,
    *,
    lq: torch.Tensor | None = None,
    net_g: nn.Module | None = None,
    sr_ema: torch.Tensor | None = None,
    d_outs: DOutputs | None = None,
) -> dict[str, torch.Tensor]:
    """Weighted loss terms `l_g_<name>` of every active entry, and their sum `l_g_total` (all 0-d tensors)."""
    terms: dict[str, torch.Tensor] = {}
    total = sr.new_zeros((), dtype=torch.float32)
    for e in entries:
        if not e.active(current_iter):
            continue
        if e.inputs == "sr_gt":
            value = e.module(sr, gt)
        elif e.inputs == "gan":
            if d_outs is None:
                continue  # D not running yet (its own start_iter / schedule)
            value = generator_adversarial_loss(e.module, d_outs)
        elif e.inputs == "ldl":
            if sr_ema is None:
                raise ValueError("ldlloss needs the EMA model's output (sr_ema)")
            value = e.module(sr, gt, sr_ema)
        elif e.inputs == "generator":
            if net_g is None or lq is None:
                raise ValueError("translationalloss needs net_g and lq")
            value = e.module(net_g, lq, sr)
        else:
            raise ValueError(f"unknown loss input kind {e.inputs!r}")
        weighted = e.weight * value.float()
        terms[f"l_g_{e.log_name}"] = weighted.detach()
        total = total + weighted
    terms["l_g_total"] = total
    return terms


def generator_backward(
    loss: torch.Tensor,
    net_g: nn.Module,
    scaler: torch.amp.GradScaler | None = None,
    keep_graph: bool = True,
    params: list[torch.nn.Parameter] | None = None,
) -> None:
    """Backward into G's parameters only; `keep_graph` keeps D's graph for `discriminator_step` to reuse.
    `params`: G's trainable parameters, when the caller keeps the list (walking the modules for it each step is
    host time an eager GPU step waits for)."""
    scaled = scaler.scale(loss) if scaler is not None else loss
    scaled.backward(inputs=params if params is not None else _params(net_g), retain_graph=keep_graph)


def discriminator_step(
    net_d: nn.Module,
    opt_d: torch.optim.Optimizer,
    gan_loss: GANLoss,
    outs: DOutputs | None = None,
    *,
    sr: torch.Tensor | None = None,
    gt: torch.Tensor | None = None,
    noise: float = 0.0,
    penalty: PenaltyOptions | None = None,
    scaler: torch.amp.GradScaler | None = None,
    autocast: Autocast = nullcontext,
    it: int = 0,
    loss_scale: float = 1.0,
    zero_grad: bool = True,
    step: bool = True,
    params: list[torch.nn.Parameter] | None = None,
) -> dict[str, torch.Tensor]:
    """One D update; reuses `outs` from `d_forward` when given, else runs D on `sr` (detached) and `gt`.

    `loss_scale` (e.g. 1/accum_iter) with `zero_grad`/`step` lets the loop accumulate gradients over micro-batches.
    Returns 0-d tensors: l_d_real, l_d_fake, l_d_gp (if a penalty ran), out_d_real, out_d_fake (mean logits).
    """
    if outs is None:
        if sr is None or gt is None:
            raise ValueError("discriminator_step needs either outs or both sr and gt")
        with autocast():
            outs = d_forward(net_d, sr.detach(), gt, noise=noise, penalty=penalty)
    with autocast():
        if gan_loss.relativistic:
            l_real, l_fake = gan_loss.ragan_d(outs.real, outs.fake)
        else:
            l_real = gan_loss(outs.real, True, is_disc=True)
            l_fake = gan_loss(outs.fake, False, is_disc=True)
    l_d = l_real.float() + l_fake.float()
    logs = {"l_d_real": l_real.detach(), "l_d_fake": l_fake.detach()}
    if penalty is not None and it % penalty.every == 0:
        if penalty.kind == "wgan_gp":
            mixed = interpolates(outs.real_input, outs.fake_input)
            with autocast():
                mixed_logits = net_d(mixed)
            gp = gradient_penalty(mixed_logits, mixed, penalty.center)
        elif penalty.kind == "r1":
            gp = r1_penalty(outs.real, outs.real_input)
        else:
            gp = gradient_penalty(outs.real, outs.real_input, penalty.center)
        l_d = l_d + penalty.weight * penalty.every * gp
        logs["l_d_gp"] = gp.detach()
    if zero_grad:
        opt_d.zero_grad(set_to_none=True)
    l_d = l_d * loss_scale
    (scaler.scale(l_d) if scaler is not None else l_d).backward(
        inputs=params if params is not None else _params(net_d)
    )
    if step:
        if scaler is not None:
            scaler.step(opt_d)
        else:
            opt_d.step()
    logs["out_d_real"] = mean_logit(outs.real)
    logs["out_d_fake"] = mean_logit(outs.fake)
    return logs


def gan_entry(entries: Iterable[LossEntry]) -> LossEntry | None:
    """The `ganloss` entry of `train.losses`, if any (at most one; `build_losses` enforces it)."""
    return next((e for e in entries if e.inputs == "gan"), None)


__all__ = [
    "DOutputs",
    "as_list",
    "d_forward",
    "detach_logits",
    "discriminator_step",
    "gan_entry",
    "gan_schedule",
    "generator_adversarial_loss",
    "generator_backward",
    "generator_loss_terms",
]
