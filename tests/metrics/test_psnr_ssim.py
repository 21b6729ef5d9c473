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
def test_float32_outputs_round_as_basicsr_and_the_written_file_do(basicsr_module, tmp_path, y_channel):
    """A float32 model output was rounded to 8 bits in float64, where BasicSR's tensor2img (and the file upscale and
    test write) round float32 x * 255: pixels near .5 went the other way, and the scores moved off BasicSR's."""
    from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim
    from basicsr.utils import tensor2img

    from upres.io.images import read_image, tensor_to_array, write_image

    rng = np.random.default_rng(0)
    # Values a hair from k + 0.5 on the 8-bit scale, where float32 and float64 products round differently.
    k = rng.integers(0, 255, (3, 40, 48)) + 0.5 + rng.uniform(-3e-5, 3e-5, (3, 40, 48))
    sr = torch.from_numpy(k / 255).float()[None]
    assert ((sr.double() * 255).round() != (sr * 255).round()).any()
    gt = torch.from_numpy(rng.integers(0, 256, (3, 40, 48)) / 255).float()[None]
    ref_p = calculate_psnr(tensor2img(sr), tensor2img(gt), 4, test_y_channel=y_channel)
    ref_s = calculate_ssim(tensor2img(sr), tensor2img(gt), 4, test_y_channel=y_channel)
    tol = 1e-6 if y_channel else 1e-9
    assert abs(psnr_batch(sr, gt, 4, y_channel).item() - ref_p) < tol
    assert abs(ssim_batch(sr, gt, 4, y_channel).item() - ref_s) < tol
    as_array = sr[0].permute(1, 2, 0).numpy()
    assert abs(psnr(as_array, gt[0].permute(1, 2, 0).numpy(), 4, y_channel) - ref_p) < tol
    written = read_image(write_image(tmp_path / "sr.png", tensor_to_array(sr[0])))
    assert psnr_batch(sr, gt, 4, y_channel).item() == pytest.approx(
        psnr(written, gt[0].permute(1, 2, 0).numpy(), 4, y_channel), abs=1e-9
    )


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


def test_half_precision_outputs_round_as_their_float32_copy():
    """x * 255 in float16 lands on steps of 1/8 near 255: rounded there, the 8-bit values (and scores) drifted."""
    rng = np.random.default_rng(1)
    a = rng.random((24, 24, 3)).astype(np.float16)
    b = rng.random((24, 24, 3)).astype(np.float32)
    assert psnr(a, b, 2) == psnr(a.astype(np.float32), b, 2)
    x, y = (torch.from_numpy(t).permute(2, 0, 1)[None] for t in (a, b))
    assert psnr_batch(x, y, 2).item() == psnr_batch(x.float(), y, 2).item()
