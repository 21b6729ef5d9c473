"""Unsharp masking of the ground truth (Real-ESRGAN trains its L1/perceptual targets on a sharpened GT)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from upres.data.degradations.blur import filter2d
from upres.host_to_device import constant


def gaussian_kernel_1d(size: int, sigma: float = 0.0) -> torch.Tensor:
    """OpenCV's getGaussianKernel: sigma <= 0 means 0.3 * ((size - 1) / 2 - 1) + 0.8."""
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-(x**2) / (2 * sigma * sigma))
    return k / k.sum()


def _blur(x: torch.Tensor, k1: torch.Tensor) -> torch.Tensor:
    p = k1.numel() // 2
    if p < min(x.shape[-2:]):
        return filter2d(x, torch.outer(k1, k1))
    # Images smaller than the kernel radius: replicate padding, direct separable passes.
    n, c, h, w = x.shape
    y = F.pad(x, (p, p, p, p), mode="replicate").reshape(n * c, 1, h + 2 * p, w + 2 * p)
    y = F.conv2d(F.conv2d(y, k1.view(1, 1, -1, 1)), k1.view(1, 1, 1, -1))
    return y.view(n, c, h, w)


def usm_sharpen(
    img: torch.Tensor, weight: float = 0.5, radius: int = 50, threshold: float = 10.0
) -> torch.Tensor:
    """sharp = I + weight (I - blur(I)), blended in where |I - blur(I)| * 255 > threshold (softened mask).

    Same formula and kernel as basicsr's USMSharp (kernel size `radius`, made odd); (C,H,W) or (N,C,H,W).
    """
    squeeze = img.dim() == 3
    x = img.unsqueeze(0) if squeeze else img
    size = radius + 1 if radius % 2 == 0 else radius
    k1 = constant(("usm_kernel", size), lambda: gaussian_kernel_1d(size), x.device, x.dtype)
    blur = _blur(x, k1)
    residual = x - blur
    mask = (residual.abs() * 255 > threshold).to(x.dtype)
    soft = _blur(mask, k1)
    sharp = (x + weight * residual).clamp(0, 1)
    out = soft * sharp + (1 - soft) * x
    return out[0] if squeeze else out
