"""Locally discriminative learning (LDL, Liang et al. CVPR 2022): penalise pixels the model renders as artifacts.

The artifact map is the residual's local variance (7x7), scaled by the patch's overall residual variance ** 0.2,
and zeroed where the EMA model is *worse* than the current one (there the detail is likely real texture that the
averaged weights have not learned yet). The gradient flows through the map as well as through the weighted output,
as in the paper's code (BasicSR's get_refined_artifact_map) and traiNNer-redux; only the EMA side is constant.
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


def artifact_map(sr: torch.Tensor, sr_ema: torch.Tensor, gt: torch.Tensor, ksize: int = 7) -> torch.Tensor:
    wide = torch.promote_types(sr.dtype, torch.float32)  # at least float32 (bf16/fp16 under AMP)
    residual = (gt - sr).abs().sum(1, keepdim=True).to(wide)
    with torch.no_grad():
        residual_ema = (gt - sr_ema).abs().sum(1, keepdim=True).to(wide)
    # var ** 0.2 has an infinite slope at 0 (an output equal to the target): floored so its gradient stays finite.
    patch_weight = residual.var(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) ** (1 / 5)
    weight = patch_weight * local_variance(residual, ksize)
    return weight.masked_fill(residual < residual_ema, 0.0).to(sr.dtype)


class LDLLoss(nn.Module):
    def __init__(self, criterion: str = "l1", ksize: int = 7) -> None:
        super().__init__()
        self.criterion = make_criterion(criterion, "ldlloss.criterion")
        if isinstance(ksize, bool) or not isinstance(ksize, int) or ksize < 3 or ksize % 2 == 0:
            # An even window's map is one pixel off the image (a shape error at the loss's first step, maybe hours
            # in); 1 has no variance to take (division by zero).
            raise ValueError(f"ksize must be an odd integer >= 3 (the paper's is 7), not {ksize!r}")
        self.ksize = ksize

    def forward(self, sr: torch.Tensor, gt: torch.Tensor, sr_ema: torch.Tensor) -> torch.Tensor:
        w = artifact_map(sr, sr_ema.detach(), gt, self.ksize)
        return self.criterion(w * sr, w * gt)
