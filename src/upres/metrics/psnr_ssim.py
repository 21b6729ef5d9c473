"""PSNR and SSIM as the SR literature computes them (numpy, one image pair).

Conventions (BasicSR's, which reproduce the MATLAB numbers papers publish): both images are rounded to 8 bits,
`crop_border` pixels are removed on each side, the Y channel is MATLAB's BT.601 `rgb2ycbcr` luma in [16, 235]
(not rounded), SSIM uses an 11x11 Gaussian window (sigma 1.5) over the valid region and is averaged over channels.
Images are H x W x C in RGB order: integer arrays are read by their dtype (uint8, or uint16 scaled to 8 bits), float
arrays are taken as [0, 1].
"""

from __future__ import annotations

import numpy as np

# MATLAB rgb2ycbcr: Y = 16 + (65.481 R + 128.553 G + 24.966 B) for R, G, B in [0, 1].
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D Gaussian taps (OpenCV's getGaussianKernel); the 2-D window is their outer product."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(x * x) / (2 * sigma * sigma))
    return k / k.sum()


def to_8bit(img: np.ndarray) -> np.ndarray:
    """Float64 H x W x C array of 8-bit values (0..255 integers)."""
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype == np.uint8:
        return arr.astype(np.float64)
    if arr.dtype == np.uint16:
        return np.round(arr.astype(np.float64) / 257.0)
    if np.issubdtype(arr.dtype, np.floating):
        # Rounded in the array's own precision (at least float32), as BasicSR's tensor2img rounds float32 x * 255.
        arr = arr.astype(np.promote_types(arr.dtype, np.float32))
        return np.round(np.clip(arr, 0, 1) * arr.dtype.type(255.0)).astype(np.float64)
    raise ValueError(f"unsupported image dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")


def _prepare(
    img: np.ndarray, img2: np.ndarray, crop_border: int, y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    a, b = to_8bit(img), to_8bit(img2)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} and {b.shape}")
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and a.shape[2] >= 3:
        a = (a[..., :3] @ Y_WEIGHTS + 16.0)[..., None]
        b = (b[..., :3] @ Y_WEIGHTS + 16.0)[..., None]
    return a, b


def psnr(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """PSNR in dB on the 8-bit scale (inf for identical images)."""
    a, b = _prepare(img, img2, crop_border, y_channel)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def _filter_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable correlation of a 2-D array with k (x) k, keeping only fully covered pixels."""
    n = k.size
    rows = np.lib.stride_tricks.sliding_window_view(x, n, axis=0) @ k
    return np.lib.stride_tricks.sliding_window_view(rows, n, axis=1) @ k


def _ssim_channel(a: np.ndarray, b: np.ndarray, k: np.ndarray) -> float:
    mu1, mu2 = _filter_valid(a, k), _filter_valid(b, k)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(a * a, k) - mu1_sq
    s2 = _filter_valid(b * b, k) - mu2_sq
    s12 = _filter_valid(a * b, k) - mu12
    num = (2 * mu12 + SSIM_C1) * (2 * s12 + SSIM_C2)
    den = (mu1_sq + mu2_sq + SSIM_C1) * (s1 + s2 + SSIM_C2)
    return float(np.mean(num / den))


def ssim(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Mean SSIM over channels (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5, valid region)."""
    a, b = _prepare(img, img2, crop_border, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(
            f"SSIM needs images of at least 11x11 pixels after cropping, not {a.shape[1]}x{a.shape[0]}"
        )
    k = gaussian_window()
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], k) for c in range(a.shape[2])]))
