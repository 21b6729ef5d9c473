"""PSNR/SSIM: numpy == torch, == basicsr 1.4.2, and the basic properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from upres.metrics.psnr_ssim import psnr, ssim
from upres.metrics.torch_metrics import psnr_batch, ssim_batch


def _pair(seed: int, h: int = 40, w: int = 48, c: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    noise = rng.normal(0, 12, a.shape)
    b = np.clip(a + noise, 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("y_channel", [False, True])
@pytest.mark.parametrize("crop", [0, 4])
def test_matches_basicsr(basicsr_module, y_channel, crop):
    from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim

    for seed in range(3):
        a, b = _pair(seed)
        # basicsr's images are BGR (OpenCV order); ours are RGB.
        ref_p = calculate_psnr(a[..., ::-1], b[..., ::-1], crop, test_y_channel=y_channel)
        ref_s = calculate_ssim(a[..., ::-1], b[..., ::-1], crop, test_y_channel=y_channel)
        # basicsr computes Y in float32; the RGB path is float64 in both.
        tol = 1e-6 if y_channel else 1e-9
        assert abs(psnr(a, b, crop, y_channel) - ref_p) < tol
        assert abs(ssim(a, b, crop, y_channel) - ref_s) < tol


@pytest.mark.parametrize("y_channel", [False, True])
def test_torch_batch_equals_numpy(y_channel):
    pairs = [_pair(s) for s in range(4)]
    x = torch.stack([torch.from_numpy(a).permute(2, 0, 1).float() / 255 for a, _ in pairs])
    y = torch.stack([torch.from_numpy(b).permute(2, 0, 1).float() / 255 for _, b in pairs])
    pt, st = psnr_batch(x, y, 3, y_channel), ssim_batch(x, y, 3, y_channel)
    assert pt.shape == (4,) and st.shape == (4,)
    for i, (a, b) in enumerate(pairs):
        assert abs(pt[i].item() - psnr(a, b, 3, y_channel)) < 1e-4
        assert abs(st[i].item() - ssim(a, b, 3, y_channel)) < 1e-5


def test_float_input_is_rounded_to_8_bits():
    a, b = _pair(7)
    af = a / 255.0 + 0.001  # sub-level offsets vanish in the 8-bit rounding
    assert psnr(af, b) == psnr(a, b)
    assert ssim(af, b) == ssim(a, b)


def test_properties():
    a, b = _pair(1)
    assert psnr(a, a) == math.inf
    assert ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, b) == pytest.approx(psnr(b, a))
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / mse))
    worse = np.clip(a.astype(int) + 40, 0, 255).astype(np.uint8)
    assert ssim(a, worse) < 1.0
    gray = a[..., :1]
    assert psnr(gray, b[..., :1], y_channel=True) == psnr(gray, b[..., :1])  # Y of gray is the gray itself


def test_shape_mismatch_refused():
    a, _ = _pair(0)
    with pytest.raises(ValueError, match="image shapes differ"):
        psnr(a, a[:-1])
