"""Locally discriminative learning (LDL, Liang et al. CVPR 2022): penalise pixels the model renders as artifacts.

The artifact map is the residual's local variance (7x7), scaled by the patch's overall residual variance ** 0.2,
and zeroed where the EMA model is *worse* than the current one (there the detail is likely real texture that the
averaged weights have not learned yet). The map is a weight, so it carries no gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from upres.losses.pixel import criterion as make_criterion


def local_variance(x: torch.Tensor, ksize: int = 7) -> torch.Tensor:
    """Unbiased variance over each ksize x ksize window (reflect-padded), same size as x."""
    pad = ksize // 2
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    n = ksize * ksize
    mean = F.avg_pool2d(xp, ksize, stride=1)
    mean_sq = F.avg_pool2d(xp * xp, ksize, stride=1)
    return ((mean_sq - mean * mean) * (n / (n - 1))).clamp_min(0.0)


@torch.no_grad()
def artifact_map(sr: torch.Tensor, sr_ema: torch.Tensor, gt: torch.Tensor, ksize: int = 7) -> torch.Tensor:
    residual = (gt - sr).abs().sum(1, keepdim=True).float()
    residual_ema = (gt - sr_ema).abs().sum(1, keepdim=True).float()
    patch_weight = residual.var(dim=(1, 2, 3), keepdim=True) ** (1 / 5)
    weight = patch_weight * local_variance(residual, ksize)
    return weight.masked_fill(residual < residual_ema, 0.0).to(sr.dtype)


class LDLLoss(nn.Module):
    def __init__(self, criterion: str = "l1", ksize: int = 7) -> None:
        super().__init__()
        self.criterion = make_criterion(criterion, "ldlloss.criterion")
        self.ksize = int(ksize)

    def forward(self, sr: torch.Tensor, gt: torch.Tensor, sr_ema: torch.Tensor) -> torch.Tensor:
        w = artifact_map(sr.detach(), sr_ema.detach(), gt, self.ksize)
        return self.criterion(w * sr, w * gt)
