"""Blur kernels (Real-ESRGAN's families) and applying them to image batches.

Kernels are built in float64 numpy from explicit parameters (so they match basicsr's formulas to the last bit)
and applied with torch on whatever device the image is on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import special

from upres.host_to_device import upload

# ------------------------------------------------------------------ deterministic kernel shapes


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    return xx, yy


def _mahalanobis2(size: int, sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    """x^T Sigma^-1 x on the kernel grid, Sigma = R diag(sig_x^2, sig_y^2) R^T."""
    xx, yy = _grid(size)
    c, s = math.cos(theta), math.sin(theta)
    # Rotating the grid by -theta diagonalises Sigma.
    u = c * xx + s * yy
    v = -s * xx + c * yy
    return (u / sig_x) ** 2 + (v / sig_y) ** 2


def gaussian_kernel(size: int, sig_x: float, sig_y: float | None = None, theta: float = 0.0) -> np.ndarray:
    """Bivariate Gaussian; isotropic when `sig_y` is None. `theta` rotates the `sig_x` axis (radians)."""
    sig_y = sig_x if sig_y is None else sig_y
    k = np.exp(-0.5 * _mahalanobis2(size, sig_x, sig_y, theta))
    return k / k.sum()


def generalized_gaussian_kernel(
    size: int, sig_x: float, sig_y: float | None, theta: float, beta: float
) -> np.ndarray:
    """exp(-0.5 (x^T S^-1 x)^beta): beta < 1 has heavier tails, beta > 1 a flatter top."""
    sig_y = sig_x if sig_y is None else sig_y
    k = np.exp(-0.5 * np.power(_mahalanobis2(size, sig_x, sig_y, theta), beta))
    return k / k.sum()


def plateau_kernel(size: int, sig_x: float, sig_y: float | None, theta: float, beta: float) -> np.ndarray:
    """1 / (1 + (x^T S^-1 x)^beta): a flat top with polynomial tails."""
    sig_y = sig_x if sig_y is None else sig_y
    k = np.reciprocal(np.power(_mahalanobis2(size, sig_x, sig_y, theta), beta) + 1)
    return k / k.sum()


def sinc_kernel(cutoff: float, size: int, pad_to: int = 0) -> np.ndarray:
    """Circularly symmetric ideal low-pass (2-D sinc, jinc) with cutoff in radians (pi = Nyquist): ringing."""
    xx, yy = _grid(size)
    r = np.hypot(xx, yy)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    k[size // 2, size // 2] = cutoff**2 / (4 * np.pi)
    k = k / k.sum()
    if pad_to > size:
        p = (pad_to - size) // 2
        k = np.pad(k, ((p, p), (p, p)))
    return k


# ------------------------------------------------------------------ random kernels


def _beta(rng: np.random.Generator, beta_range: Sequence[float]) -> float:
    # Real-ESRGAN draws beta below or above 1 with equal chance, so both tail shapes are equally common (for
    # x4plus's plateau range [1, 2] that makes beta = 1 half the time, kept for fidelity); a range entirely on one
    # side of 1 is drawn from uniformly, where basicsr would leave the range.
    lo, hi = beta_range
    if hi < 1 or lo > 1:
        return float(rng.uniform(lo, hi))
    if rng.uniform() < 0.5:
        return float(rng.uniform(lo, 1.0))
    return float(rng.uniform(1.0, hi))


def random_kernel(
    rng: np.random.Generator,
    kernel_list: Sequence[str],
    kernel_prob: Sequence[float],
    size: int,
    sigma_range: Sequence[float],
    betag_range: Sequence[float],
    betap_range: Sequence[float],
) -> np.ndarray:
    """One kernel of a kind drawn from `kernel_list` (Real-ESRGAN's `random_mixed_kernels`)."""
    kind = kernel_list[int(rng.choice(len(kernel_list), p=_normalised(kernel_prob)))]
    sig_x = float(rng.uniform(*sigma_range))
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sig_y, theta = None, 0.0
    else:
        sig_y = float(rng.uniform(*sigma_range))
        theta = float(rng.uniform(-math.pi, math.pi))
    if kind in ("iso", "aniso"):
        return gaussian_kernel(size, sig_x, sig_y, theta)
    if kind.startswith("generalized"):
        return generalized_gaussian_kernel(size, sig_x, sig_y, theta, _beta(rng, betag_range))
    return plateau_kernel(size, sig_x, sig_y, theta, _beta(rng, betap_range))


def random_kernel_size(rng: np.random.Generator, kernel_range: Sequence[int]) -> int:
    lo, hi = kernel_range
    return int(rng.choice(np.arange(lo, hi + 1, 2)))


def random_sinc_kernel(rng: np.random.Generator, size: int, wide_cutoff: bool = True) -> np.ndarray:
    # Real-ESRGAN lowers the cutoff floor for big kernels only, where pi/5 still fits several lobes.
    low = math.pi / 5 if wide_cutoff and size >= 13 else math.pi / 3
    return sinc_kernel(float(rng.uniform(low, math.pi)), size)


def random_blur_kernel(
    rng: np.random.Generator,
    sinc_prob: float,
    kernel_range: Sequence[int],
    kernel_list: Sequence[str],
    kernel_prob: Sequence[float],
    sigma_range: Sequence[float],
    betag_range: Sequence[float],
    betap_range: Sequence[float],
) -> np.ndarray:
    size = random_kernel_size(rng, kernel_range)
    if rng.uniform() < sinc_prob:
        return random_sinc_kernel(rng, size)
    return random_kernel(rng, kernel_list, kernel_prob, size, sigma_range, betag_range, betap_range)


def _normalised(p: Sequence[float]) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    return a / a.sum()


# ------------------------------------------------------------------ applying kernels


def filter2d(img: torch.Tensor, kernel: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Correlate (N,C,H,W) or (C,H,W) with one (k,k) kernel or one per sample (N,k,k), reflect padding.

    Same result as basicsr's `filter2D` (cv2.filter2D with BORDER_REFLECT_101) up to float rounding; kernels must
    be odd-sized and smaller than twice the image. Kernels wider than 5 go through the FFT, which on CPU is 5-15x
    faster than a direct 21x21 convolution at 256x256.
    """
    squeeze = img.dim() == 3
    x = img.unsqueeze(0) if squeeze else img
    if isinstance(kernel, torch.Tensor) and kernel.device == x.device:
        k = kernel.to(dtype=x.dtype)
    else:  # host data (drawn per sample): queued from pinned memory on a GPU, not a copy its queue drains for
        k = upload(torch.as_tensor(kernel, dtype=x.dtype), x.device)
    if k.dim() == 2:
        k = k.unsqueeze(0)
    n, c, h, w = x.shape
    ks = k.shape[-1]
    if ks % 2 == 0 or k.shape[-2] != ks:
        raise ValueError(f"kernel must be square and odd-sized, got {tuple(k.shape[-2:])}")
    if k.shape[0] not in (1, n):
        raise ValueError(f"{k.shape[0]} kernels for a batch of {n}")
    p = ks // 2
    x = F.pad(x, (p, p, p, p), mode="reflect")
    out = _correlate_fft(x, k) if ks > 5 else _correlate_direct(x, k)
    return out[0] if squeeze else out


def _correlate_direct(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    n, c, hp, wp = x.shape
    ks = k.shape[-1]
    if k.shape[0] == 1:
        out = F.conv2d(x.reshape(n * c, 1, hp, wp), k.view(1, 1, ks, ks))
    else:
        weight = k.view(n, 1, ks, ks).repeat_interleave(c, dim=0)
        out = F.conv2d(x.reshape(1, n * c, hp, wp), weight, groups=n * c)
    return out.view(n, c, hp - ks + 1, wp - ks + 1)


def _fast_len(n: int) -> int:
    """Smallest length >= n with only factors 2, 3, 5 (cheap FFTs)."""
    while True:
        m = n
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m == 1:
            return n
        n += 1


def _correlate_fft(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    # Circular convolution on a grid at least as large as the padded image never wraps into the valid region.
    _, _, hp, wp = x.shape
    ks = k.shape[-1]
    size = (_fast_len(hp), _fast_len(wp))
    kf = torch.fft.rfft2(k.flip(-2, -1), s=size).unsqueeze(1)
    y = torch.fft.irfft2(torch.fft.rfft2(x, s=size) * kf, s=size)
    return y[..., ks - 1 : hp, ks - 1 : wp].contiguous()


def pad_kernels(kernels: Sequence[np.ndarray]) -> np.ndarray:
    """Zero-pad kernels of different odd sizes to the largest, for one batched convolution."""
    size = max(k.shape[0] for k in kernels)
    out = np.zeros((len(kernels), size, size), dtype=np.float64)
    for i, k in enumerate(kernels):
        p = (size - k.shape[0]) // 2
        out[i, p : p + k.shape[0], p : p + k.shape[0]] = k
    return out
