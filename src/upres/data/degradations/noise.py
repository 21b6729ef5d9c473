"""Sensor-like noise: additive Gaussian (read noise) and Poisson (shot noise), per channel or gray.

Inputs are (N,C,H,W) or (C,H,W) in [0, 1]; `sigma`, `scale` and `gray` may be per sample (length N).
Every draw comes from the given torch.Generator, which must live on the image's device.
"""

from __future__ import annotations

import numpy as np
import torch

from upres.host_to_device import constant, upload

# BT.601 luma, as torchvision's rgb_to_grayscale (which basicsr uses for gray Poisson noise).
_LUMA = (0.2989, 0.587, 0.114)


def _per_sample(v: float | torch.Tensor | list, n: int, like: torch.Tensor) -> torch.Tensor:
    if isinstance(v, torch.Tensor) and v.device == like.device:
        t = v.to(like.dtype)
    else:  # host values: queued from pinned memory, a copy the GPU's queue need not drain for
        t = upload(torch.as_tensor(v, dtype=like.dtype).reshape(-1), like.device)
    return t.reshape(-1, 1, 1, 1).expand(n, 1, 1, 1)


def _amount(
    v: float | torch.Tensor | list, n: int, like: torch.Tensor, divisor: float = 1.0
) -> float | torch.Tensor:
    """`v / divisor` per sample: one host value for every sample (a sample degraded alone) is a Python number,
    divided in float32 as the tensor would be, so the product is the same with no upload; else (N,1,1,1) on the
    device."""
    if not isinstance(v, torch.Tensor) and like.dtype == torch.float32:
        flat = np.ravel(np.asarray(v, dtype=np.float32))
        if flat.size and (flat == flat[0]).all():
            return float(flat[0] / np.float32(divisor))
    t = _per_sample(v, n, like)
    return t / divisor if divisor != 1.0 else t


def _gray_flags(gray: bool | torch.Tensor | list, n: int) -> list[bool]:
    """Which samples get gray noise, on the host: choosing the noise's form from a device tensor waited for the GPU."""
    values = gray.tolist() if isinstance(gray, torch.Tensor) else gray
    flags = [bool(f) for f in values] if isinstance(values, list | tuple) else [bool(values)]
    return flags * n if len(flags) == 1 else flags


def _batch(img: torch.Tensor) -> tuple[torch.Tensor, bool]:
    return (img.unsqueeze(0), True) if img.dim() == 3 else (img, False)


def gaussian_noise(
    img: torch.Tensor,
    sigma: float | torch.Tensor,
    gray: bool | torch.Tensor = False,
    generator: torch.Generator | None = None,
    clip: bool = True,
) -> torch.Tensor:
    """Add N(0, sigma/255) noise; gray noise is one field shared by all channels."""
    x, squeeze = _batch(img)
    n, c, h, w = x.shape
    s = _amount(sigma, n, x, 255.0)
    flags = _gray_flags(gray, n)
    if all(flags):
        noise = torch.randn((n, 1, h, w), generator=generator, device=x.device, dtype=x.dtype).expand_as(x)
    else:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        if any(flags):
            gray_field = torch.randn((n, 1, h, w), generator=generator, device=x.device, dtype=x.dtype)
            noise = torch.where(_per_sample(flags, n, x) > 0, gray_field.expand_as(noise), noise)
    out = x + noise * s
    if clip:
        out = out.clamp(0, 1)
    return out[0] if squeeze else out


def _poisson_of(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Shot noise of 8-bit-rounded x with as many photon levels as the image has distinct values (Real-ESRGAN)."""
    n = x.shape[0]
    q = (x * 255.0).round().clamp(0, 255)
    # Distinct 8-bit values per sample through a histogram: much cheaper than torch.unique per sample.
    hist = torch.zeros((n, 256), device=x.device, dtype=torch.int32)
    hist.scatter_add_(1, q.reshape(n, -1).long(), torch.ones_like(q.reshape(n, -1), dtype=torch.int32))
    distinct = (hist > 0).sum(1).to(x.dtype)
    vals = torch.exp2(torch.ceil(torch.log2(distinct))).view(n, 1, 1, 1)
    q = q / 255.0
    return torch.poisson(q * vals, generator=generator) / vals - q


def poisson_noise(
    img: torch.Tensor,
    scale: float | torch.Tensor,
    gray: bool | torch.Tensor = False,
    generator: torch.Generator | None = None,
    clip: bool = True,
) -> torch.Tensor:
    """Add Poisson noise scaled by `scale`; gray noise is computed on the luma and added to all channels."""
    x, squeeze = _batch(img)
    n = x.shape[0]
    flags = _gray_flags(gray, n)
    gray_wanted = any(flags) and x.shape[1] == 3
    noise = None if gray_wanted and all(flags) else _poisson_of(x, generator)
    if gray_wanted:
        w = constant(
            "luma", lambda: torch.tensor(_LUMA, dtype=torch.float64).view(1, 3, 1, 1), x.device, x.dtype
        )
        gray_noise = _poisson_of((x * w).sum(1, keepdim=True), generator).expand_as(x)
        noise = gray_noise if noise is None else torch.where(_per_sample(flags, n, x) > 0, gray_noise, noise)
    out = x + noise * _amount(scale, n, x)
    if clip:
        out = out.clamp(0, 1)
    return out[0] if squeeze else out
