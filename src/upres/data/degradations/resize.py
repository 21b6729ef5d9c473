"""Resizing batches with the interpolation kernels found in the wild (area, bilinear, bicubic, nearest, lanczos).

Bilinear and bicubic are antialiased when downscaling, and every result is clamped to [0, 1], as traiNNer-redux
resizes (Real-ESRGAN's original runs them without antialiasing, which aliases fine patterns); lanczos is antialiased
like Pillow's (the filter widens by the scale factor when downscaling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from upres.host_to_device import upload

RESIZE_MODES = ("area", "bilinear", "bicubic", "nearest", "nearest-exact", "lanczos")


def resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize (N,C,H,W) or (C,H,W) to `size` = (height, width) with `mode`."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; choose one of {', '.join(RESIZE_MODES)}")
    squeeze = img.dim() == 3
    x = img.unsqueeze(0) if squeeze else img
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if tuple(x.shape[-2:]) == size:
        out = x
    elif mode == "lanczos":
        out = _lanczos(x, size)
    elif mode in ("bilinear", "bicubic"):
        out = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    else:
        out = F.interpolate(x, size=size, mode=mode)
    out = out.clamp(0, 1)
    return out[0] if squeeze else out


def _lanczos_matrix(n_in: int, n_out: int, a: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    scale = n_out / n_in
    support = a / min(scale, 1.0)
    centers = (np.arange(n_out) + 0.5) / scale - 0.5
    taps = np.arange(-math.ceil(support), math.ceil(support) + 1)
    idx = np.floor(centers)[:, None] + taps[None, :]
    dist = (centers[:, None] - idx) * min(scale, 1.0)
    w = np.sinc(dist) * np.sinc(dist / a) * (np.abs(dist) < a)
    w = w / w.sum(axis=1, keepdims=True)
    idx = np.clip(idx, 0, n_in - 1).astype(np.int64)  # edge pixels repeat, as Pillow does
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.repeat(np.arange(n_out), idx.shape[1]), idx.ravel()), w.ravel())
    return upload(torch.from_numpy(m).to(dtype), device)


def _lanczos(x: torch.Tensor, size: tuple[int, int], a: int = 3) -> torch.Tensor:
    mh = _lanczos_matrix(x.shape[-2], size[0], a, x.dtype, x.device)
    mw = _lanczos_matrix(x.shape[-1], size[1], a, x.dtype, x.device)
    return mh @ x @ mw.T


def choose(rng: np.random.Generator, choices: Sequence, probs: Sequence[float]):
    p = np.asarray(probs, dtype=np.float64)
    return choices[int(rng.choice(len(choices), p=p / p.sum()))]


def random_scale(
    rng: np.random.Generator, updown_prob: Sequence[float], scale_range: Sequence[float]
) -> float:
    """Real-ESRGAN's draw: up in [1, max], down in [min, 1] or keep, with probabilities [up, down, keep]."""
    kind = choose(rng, ("up", "down", "keep"), updown_prob)
    if kind == "up":
        return float(rng.uniform(1, scale_range[1]))
    if kind == "down":
        return float(rng.uniform(scale_range[0], 1))
    return 1.0
