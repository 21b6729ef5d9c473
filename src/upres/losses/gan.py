"""Adversarial losses for generator and discriminator, on raw logits.

Patch and U-Net discriminators give a logit map (or a list of maps for multi-scale PatchGAN); every loss is the mean
over all its elements, and a list is averaged over its members, so the value does not depend on the input size.

`ragan` (relativistic average GAN, ESRGAN paper eq. 1-2) needs both D outputs: `ragan_d` and `ragan_g` take them;
`GANLoss.forward` with a single tensor gives the standard (non-relativistic) binary cross-entropy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from upres.errors import ConfigError
from upres.losses.option_values import a_number

GAN_TYPES = ("vanilla", "ragan", "lsgan", "hinge", "wgan", "wgan_softplus")

Logits = torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...]


def as_list(logits: Logits) -> list[torch.Tensor]:
    return list(logits) if isinstance(logits, list | tuple) else [logits]


class GANLoss(nn.Module):
    """`forward(logits, target_is_real, is_disc=False)` -> scalar, unweighted.

    `real_label_val`/`fake_label_val` are the BCE/LSGAN targets (label smoothing, e.g. 0.9); they do not apply to the
    hinge and WGAN families, whose targets are signs.
    """

    def __init__(
        self, gan_type: str = "vanilla", real_label_val: float = 1.0, fake_label_val: float = 0.0
    ) -> None:
        super().__init__()
        gan_type = str(gan_type).lower()
        if gan_type not in GAN_TYPES:
            raise ConfigError(f"ganloss: unknown gan_type {gan_type!r}; available: {', '.join(GAN_TYPES)}")
        self.gan_type = gan_type
        self.real_label_val = a_number("real_label_val", real_label_val)
        self.fake_label_val = a_number("fake_label_val", fake_label_val)
        for key, value in (("real_label_val", self.real_label_val), ("fake_label_val", self.fake_label_val)):
            if not math.isfinite(value):
                raise ConfigError(f"ganloss.{key}: must be a finite number, got {value}")
            if gan_type in ("vanilla", "ragan") and not 0.0 <= value <= 1.0:
                # BCE takes any target without complaint, but outside [0, 1] its loss has no floor (it falls
                # without end as the logits grow), so D and G would chase it instead of each other.
                raise ConfigError(
                    f"ganloss.{key}: {gan_type} is binary cross-entropy, whose targets are probabilities in [0, 1]; "
                    f"got {value} (lsgan takes any target)"
                )

    @property
    def relativistic(self) -> bool:
        return self.gan_type == "ragan"

    def _one(self, x: torch.Tensor, target_is_real: bool, is_disc: bool) -> torch.Tensor:
        t = self.gan_type
        if t in ("vanilla", "ragan", "lsgan"):
            label = self.real_label_val if target_is_real else self.fake_label_val
            target = torch.full_like(x, label)
            if t == "lsgan":
                return F.mse_loss(x, target)
            return F.binary_cross_entropy_with_logits(x, target)
        if t == "wgan":
            return -x.mean() if target_is_real else x.mean()
        if t == "wgan_softplus":
            return F.softplus(-x).mean() if target_is_real else F.softplus(x).mean()
        # hinge: D uses the margin; G just raises D's score of its output (Lim & Ye 2017).
        if is_disc:
            return F.relu(1.0 - x).mean() if target_is_real else F.relu(1.0 + x).mean()
        return -x.mean() if target_is_real else x.mean()

    def forward(self, logits: Logits, target_is_real: bool, is_disc: bool = False) -> torch.Tensor:
        parts = as_list(logits)
        total = self._one(parts[0], target_is_real, is_disc)
        for p in parts[1:]:
            total = total + self._one(p, target_is_real, is_disc)
        return total / len(parts)

    def ragan_g(self, real_logits: Logits, fake_logits: Logits) -> torch.Tensor:
        """Generator side of RaGAN: real judged less real than fake on average, fake more real than real.

        `real_logits` should be detached (the generator does not train D); gradient flows through `fake_logits`.
        """
        terms = []
        for r, f in zip(as_list(real_logits), as_list(fake_logits), strict=True):
            terms.append(self._one(r - f.mean(), False, False) + self._one(f - r.mean(), True, False))
        return torch.stack(terms).mean() / 2

    def ragan_d(self, real_logits: Logits, fake_logits: Logits) -> tuple[torch.Tensor, torch.Tensor]:
        """Discriminator side of RaGAN as (real term, fake term), each already halved (sum = D loss).

        The average of the *other* branch is detached, as BasicSR does, so each term's gradient flows only through
        its own branch (keeps BatchNorm-in-D happy under DDP and makes the two terms independent).
        """
        real_terms, fake_terms = [], []
        for r, f in zip(as_list(real_logits), as_list(fake_logits), strict=True):
            real_terms.append(self._one(r - f.detach().mean(), True, True))
            fake_terms.append(self._one(f - r.detach().mean(), False, True))
        return torch.stack(real_terms).mean() / 2, torch.stack(fake_terms).mean() / 2


def mean_logit(logits: Logits) -> torch.Tensor:
    """D's mean output (for logging), detached; averaged over maps for multi-scale D."""
    parts = as_list(logits)
    return torch.stack([p.detach().float().mean() for p in parts]).mean()
