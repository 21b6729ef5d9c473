"""DLAS's translational self-consistency loss.

A super-resolution network should not care where the crop boundary falls: G applied to a shifted sub-crop of the
LQ patch must reproduce the same HR pixels that G produced for the full patch. The full patch is one of the two
crops, so its output (the `sr` the step already computed) is reused: one extra G forward on a smaller crop.
"""

from __future__ import annotations

import torch
from torch import nn

from upres.errors import ConfigError
from upres.losses.option_values import a_number, a_whole_number
from upres.losses.pixel import criterion as make_criterion


class TranslationalLoss(nn.Module):
    """criterion(G(crop)[interior], sr[matching region][interior]); unweighted.

    `crop_fraction` of the LQ side is kept (at a random offset); `border` LQ pixels are dropped at every edge of the
    crop so zero-padding effects near the crop boundary (which no network can avoid) are not penalised.
    """

    def __init__(self, criterion: str = "l1", crop_fraction: float = 0.75, border: int = 0) -> None:
        super().__init__()
        crop_fraction = a_number("crop_fraction", crop_fraction)
        border = a_whole_number("border", border)
        if not 0.0 < crop_fraction < 1.0:
            raise ConfigError(f"translationalloss.crop_fraction must be in (0, 1), got {crop_fraction}")
        if border < 0:
            raise ConfigError("translationalloss.border must be >= 0")
        self.criterion = make_criterion(criterion, "translationalloss.criterion")
        self.crop_fraction = float(crop_fraction)
        self.border = int(border)

    def check_crop(self, lq_size: int, scale: int) -> None:
        """Before training: the sub-crop must keep pixels inside its border (the loss may start hours in)."""
        kept = max(1, round(lq_size * self.crop_fraction))
        if kept <= 2 * self.border:
            raise ValueError(
                f"crop_fraction {self.crop_fraction} of datasets.train.lq_size {lq_size} keeps {kept} px, nothing "
                f"inside a border of {self.border} px on each side; lower border or raise lq_size or crop_fraction"
            )

    def forward(
        self,
        net_g: nn.Module,
        lq: torch.Tensor,
        sr: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        h, w = lq.shape[-2:]
        scale = sr.shape[-1] // w
        ch, cw = max(1, round(h * self.crop_fraction)), max(1, round(w * self.crop_fraction))
        if ch <= 2 * self.border or cw <= 2 * self.border:
            raise ConfigError(
                f"translationalloss: lq patch {h}x{w} leaves nothing after crop_fraction {self.crop_fraction} and "
                f"border {self.border}"
            )
        # Offsets drawn on the CPU generator: no host-device sync on CUDA.
        top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
        out = net_g(lq[..., top : top + ch, left : left + cw])
        b = self.border * scale
        ref = sr[..., top * scale : (top + ch) * scale, left * scale : (left + cw) * scale]
        if b:
            out, ref = out[..., b:-b, b:-b], ref[..., b:-b, b:-b]
        return self.criterion(out, ref)
