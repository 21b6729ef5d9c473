"""MS-SSIM + L1 mix (Zhao et al. 2017, "Loss Functions for Image Restoration with Neural Networks").

alpha * (1 - MS-SSIM) + (1 - alpha) * L1. The paper weights L1 with the last scale's Gaussian; this uses the plain
mean absolute error, which differs only in how the border of each patch counts. The default alpha is
traiNNer-redux's 0.1 (the paper's is 0.84).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from upres.errors import ConfigError
from upres.losses.full_precision import full_precision
from upres.losses.structure import MSSIMLoss


class MSSSIML1Loss(nn.Module):
    def __init__(self, alpha: float = 0.1, padding: str = "same") -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"msssiml1loss.alpha: {alpha} is not between 0 and 1")
        self.alpha = alpha
        # Zhao et al.'s MS-SSIM: on the RGB channels with the luminance term (not mssimloss's redux defaults).
        self.msssim = MSSIMLoss(padding=padding, test_y_channel=False, include_luminance=True)

    def check_crop(self, lq_size: int, scale: int) -> None:
        self.msssim.check_crop(lq_size, scale)

    @full_precision
    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        return self.alpha * self.msssim(sr, gt) + (1 - self.alpha) * F.l1_loss(sr, gt)
