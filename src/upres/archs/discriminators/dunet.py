"""`dunet`: traiNNer-redux's default discriminator idea — a compact spectral-norm U-Net with Mish activations.

Three stride-2 downsampling stages and three upsampling stages with additive skips give per-pixel logits like
Real-ESRGAN's U-Net D at a fraction of its cost (3x3 kernels, no 4x4 convs, features doubled per stage). Mish is
smooth, so the gradient penalties (which differentiate through D) see no kinks. Upsampling is bilinear followed by a
spectral-norm conv; traiNNer-redux uses a learned DySample there, so its checkpoints do not load into this D.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


class _Down(nn.Sequential):
    def __init__(self, dim: int) -> None:
        super().__init__(spectral_norm(nn.Conv2d(dim, dim * 2, 3, 2, 1)), nn.Mish(inplace=True))


class _Up(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = spectral_norm(nn.Conv2d(dim, dim // 2, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))


class DUnet(nn.Module):
    def __init__(self, num_in_ch: int = 3, num_feat: int = 64) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.down1, self.down2, self.down3 = _Down(num_feat), _Down(num_feat * 2), _Down(num_feat * 4)
        self.up1, self.up2, self.up3 = _Up(num_feat * 8), _Up(num_feat * 4), _Up(num_feat * 2)
        self.act = nn.Mish(inplace=False)
        self.head = nn.Sequential(
            spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1)),
            nn.Mish(inplace=True),
            spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1)),
            nn.Mish(inplace=True),
            nn.Conv2d(num_feat, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"dunet needs sides that are multiples of 8, got {tuple(x.shape)}")
        x0 = self.act(self.conv0(x))
        x1 = self.down1(x0)
        x2 = self.down2(x1)
        x3 = self.down3(x2)
        y = self.act(self.up1(x3) + x2)
        y = self.act(self.up2(y) + x1)
        y = self.act(self.up3(y) + x0)
        return self.head(y)
