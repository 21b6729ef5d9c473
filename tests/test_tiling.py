"""The upscaling primitive: tiling with blended overlaps, precision fallback."""

from __future__ import annotations

import pytest
import torch

from upres.archs import build_network
from upres.infer.tiling import Upscaler, _ramp


@pytest.mark.parametrize(
    "name,kw",
    [
        ("compact", dict(scale=4, num_feat=16, num_conv=4)),
        ("esrgan", dict(scale=2, num_feat=16, num_block=2)),
        ("esrgan", dict(scale=1, num_feat=8, num_block=1)),
    ],
)
@pytest.mark.parametrize("tile,overlap", [(24, 16), (31, 16), (16, 16)])
def test_tiled_equals_untiled_after_8bit_rounding(name, kw, tile, overlap):
    net, info = build_network(name, **kw)
    up = Upscaler(net, kw["scale"], multiple=info.size_multiple)
    x = torch.rand(2, 3, 70, 53)
    whole = up(x)
    tiled = up(x, tile=tile, overlap=overlap)
    assert tiled.shape == whole.shape == (2, 3, 70 * kw["scale"], 53 * kw["scale"])
    assert ((whole * 255).round() - (tiled * 255).round()).abs().max() <= 1


def test_bands_cover_the_output_once_in_order():
    net, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    up = Upscaler(net, 2)
    x = torch.rand(1, 3, 50, 20)
    starts, total = [], 0
    for start, band in up.bands(x, tile=16, overlap=4):
        assert start == total
        starts.append(start)
        total += band.shape[2]
    assert total == 100 and len(starts) > 1


def test_crossfade_weights_sum_to_one_between_neighbours():
    tile, margin = 20, 8
    a = _ramp(tile + margin, 0, margin)  # left tile: core [0, 20), margin [20, 28)
    b = _ramp(tile + 2 * margin, margin, margin)  # right tile starts at 12
    overlap_a = a[tile - margin :]
    overlap_b = b[: 2 * margin]
    torch.testing.assert_close(overlap_a + overlap_b, torch.ones(2 * margin))


class _Overflows(torch.nn.Module):
    """Finite in fp32, inf in fp16: the intermediate exceeds fp16's 65504."""

    def forward(self, x):
        return torch.nn.functional.interpolate(x * 1e5, scale_factor=2) / 1e5


def test_half_precision_falls_back_to_fp32_when_it_overflows():
    up = Upscaler(_Overflows(), 2, dtype=torch.bfloat16)
    up_half = Upscaler(_Overflows(), 2, dtype=torch.float16)
    x = torch.rand(1, 3, 8, 8)
    out = up_half(x)
    assert up_half.fp32_fallbacks == 1
    torch.testing.assert_close(out, torch.nn.functional.interpolate(x, scale_factor=2))
    assert torch.isfinite(up(x)).all()  # bf16 has the range and needs no fallback
    assert up.fp32_fallbacks == 0
