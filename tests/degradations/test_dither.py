from __future__ import annotations

import pytest
import torch

from upres.data.degradations.dither import bayer_matrix, dither


def n_colors(img: torch.Tensor) -> int:
    q = (img * 255).round().to(torch.int64)
    return int(torch.unique(q[0] * 65536 + q[1] * 256 + q[2]).numel())


@pytest.mark.parametrize("method", ["none", "ordered", "floyd_steinberg"])
@pytest.mark.parametrize("colors", [4, 16, 64])
def test_adaptive_palette_leaves_at_most_n_colors(photo, method, colors):
    out = dither(photo, "adaptive", colors, method)
    assert out.shape == photo.shape
    assert n_colors(out) <= colors


@pytest.mark.parametrize("method", ["none", "ordered", "floyd_steinberg"])
@pytest.mark.parametrize("bits", [1, 2, 3])
def test_uniform_palette_has_2_pow_bits_levels_per_channel(photo, method, bits):
    out = dither(photo, "uniform", bits, method)
    for c in range(3):
        levels = torch.unique((out[c] * 255).round())
        assert levels.numel() <= 2**bits
    assert n_colors(out) <= 2 ** (3 * bits)


def band_means(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(0, 1)).reshape(-1, 8).mean(1)


def test_dithering_preserves_mean_tone_better_than_plain_quantization():
    ramp = torch.linspace(0, 1, 128).repeat(3, 64, 1)
    plain = dither(ramp, "uniform", 1, "none")
    for method in ("ordered", "floyd_steinberg"):
        out = dither(ramp, "uniform", 1, method)
        # means over 8-column bands of a dithered ramp follow the ramp; plain thresholding jumps 0 -> 1.
        err = (band_means(out) - band_means(ramp)).abs().mean()
        err_plain = (band_means(plain) - band_means(ramp)).abs().mean()
        assert float(err) < 0.25 * float(err_plain)


def test_bayer_matrix_is_a_permutation_of_thresholds():
    m = bayer_matrix(8)
    assert sorted(((m + 0.5) * 64 - 0.5).round().astype(int).ravel().tolist()) == list(range(64))
