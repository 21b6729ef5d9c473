"""Batched PSNR/SSIM on torch tensors, matching `upres.metrics.psnr_ssim` (same conventions, float64 inside).

Inputs are (N, C, H, W) float tensors in [0, 1] (a (C, H, W) tensor is treated as a batch of one) in RGB order;
results are (N,) float64 tensors on the input's device, one value per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from upres.metrics.psnr_ssim import SSIM_C1, SSIM_C2, Y_WEIGHTS, gaussian_window


def _prepare(
    x: torch.Tensor, y: torch.Tensor, crop_border: int, y_channel: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape != y.shape:
        raise ValueError(f"tensor shapes differ: {tuple(x.shape)} and {tuple(y.shape)}")
    if x.ndim == 3:
        x, y = x[None], y[None]
    # 8-bit rounding first, in the input's precision as BasicSR's tensor2img rounds (a float32 x * 255 rounded in
    # float64 put a few pixels per image on the other side of .5), then float64 so sums match the numpy reference.
    # Half precision holds too few digits for x * 255: at least float32.
    a, b = (t.detach().to(torch.promote_types(t.dtype, torch.float32)) for t in (x, y))
    a = a.clamp(0, 1).mul(255.0).round().double()
    b = b.clamp(0, 1).mul(255.0).round().double()
    if crop_border:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and a.shape[1] >= 3:
        w = torch.as_tensor(Y_WEIGHTS, dtype=torch.float64, device=a.device).view(1, 3, 1, 1)
        a = (a[:, :3] * w).sum(1, keepdim=True) + 16.0
        b = (b[:, :3] * w).sum(1, keepdim=True) + 16.0
    return a, b


def psnr_batch(
    x: torch.Tensor, y: torch.Tensor, crop_border: int = 0, y_channel: bool = False
) -> torch.Tensor:
    """PSNR in dB per image (inf where identical)."""
    a, b = _prepare(x, y, crop_border, y_channel)
    mse = (a - b).pow(2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(255.0**2 / mse)


def _filter_valid(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    n = k.numel()
    x = F.conv2d(x, k.view(1, 1, n, 1).expand(c, 1, n, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, 1, n).expand(c, 1, 1, n), groups=c)


def ssim_batch(
    x: torch.Tensor, y: torch.Tensor, crop_border: int = 0, y_channel: bool = False
) -> torch.Tensor:
    """Mean SSIM over channels per image."""
    a, b = _prepare(x, y, crop_border, y_channel)
    if min(a.shape[-2:]) < 11:
        raise ValueError(
            f"SSIM needs images of at least 11x11 pixels after cropping, not {a.shape[-1]}x{a.shape[-2]}"
        )
    k = torch.as_tensor(gaussian_window(), dtype=torch.float64, device=a.device)
    mu1, mu2 = _filter_valid(a, k), _filter_valid(b, k)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(a * a, k) - mu1_sq
    s2 = _filter_valid(b * b, k) - mu2_sq
    s12 = _filter_valid(a * b, k) - mu12
    ssim_map = ((2 * mu12 + SSIM_C1) * (2 * s12 + SSIM_C2)) / (
        (mu1_sq + mu2_sq + SSIM_C1) * (s1 + s2 + SSIM_C2)
    )
    return ssim_map.mean(dim=(2, 3)).mean(1)
