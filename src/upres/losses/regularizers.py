"""Discriminator regularisers: gradient penalties on D's input gradient, and noise on D's inputs.

All penalties return an unweighted scalar; the usual weight (10 for both gradient penalties, gamma for R1) is
applied by the caller from the option file (`train.gradient_penalty.weight`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from upres.errors import ConfigError
from upres.losses.gan import Logits, as_list

PENALTY_KINDS = ("real", "wgan_gp", "r1")


def input_gradient_norms(logits: Logits, inputs: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm of d(sum of D's outputs)/d(input), with a graph so the penalty can be trained on."""
    total = sum(p.float().sum() for p in as_list(logits))
    (grad,) = torch.autograd.grad(total, inputs, create_graph=True)
    return grad.flatten(1).norm(2, dim=1)


def gradient_penalty(logits: Logits, inputs: torch.Tensor, center: float = 1.0) -> torch.Tensor:
    """mean over the batch of (||grad_x D(x)|| - center)^2.

    On real inputs with center 1 this is DLAS's penalty (lucidrains' StyleGAN2 form); on interpolates it is WGAN-GP
    (Gulrajani et al. 2017).
    """
    return ((input_gradient_norms(logits, inputs) - center) ** 2).mean()


def r1_penalty(logits: Logits, real_inputs: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018) without gamma: 0.5 * mean ||grad_x D(x)||^2 on real inputs; weight = gamma."""
    return 0.5 * (input_gradient_norms(logits, real_inputs) ** 2).mean()


def interpolates(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Random points on the segments between real and fake samples (one mix per sample), requiring grad."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    return (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)


def add_input_noise(x: torch.Tensor, amount: float) -> torch.Tensor:
    """x + U(0, amount): hides the 1/255 quantisation of real images that D could otherwise key on."""
    if amount <= 0:
        return x
    return x + torch.rand_like(x) * amount


@dataclass(frozen=True)
class PenaltyOptions:
    """Which gradient penalty D gets: `real` (DLAS, one-centred on real inputs), `wgan_gp` (interpolates), `r1`."""

    kind: str = "real"
    weight: float = 10.0
    center: float = 1.0
    every: int = 1  # lazy regularisation (StyleGAN2): apply every N D steps, scaled by N

    def __post_init__(self) -> None:
        if self.kind not in PENALTY_KINDS:
            raise ConfigError(
                f"gradient_penalty.kind: unknown {self.kind!r}; available: {', '.join(PENALTY_KINDS)}"
            )
        if self.every < 1:
            raise ConfigError("gradient_penalty.every must be >= 1")
