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


def _lively(name: str, **kw):
    """A random network whose output depends strongly on its input's context: default initialisation makes
    near-constant outputs, under which a tile that lacks context shows no seam."""
    torch.manual_seed(3)
    net, info = build_network(name, **kw)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
        net.conv_last.bias.fill_(0.5)
    return net, info


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize("tile", [64, 8])  # 8: a tile smaller than its overlap keeps the whole overlap
def test_tiles_of_pixel_unshuffle_models_blend_without_seams(scale, tile):
    """A 1x/2x RRDBNet sees its input in 4x4/2x2 cells: the overlap counts cells, so its trunk gets as much context
    as a 4x model's (counted in pixels, 16 px were 4 cells for a 1x model, and its seams reached 50/255)."""
    net, info = _lively("esrgan", scale=scale, num_feat=8, num_block=1)
    up = Upscaler(net, scale, multiple=info.size_multiple)
    x = torch.rand(1, 3, 97, 123, generator=torch.Generator().manual_seed(0))
    whole = (up(x) * 255).round()
    assert whole.std() > 20  # the model's output is far from flat
    tiled = (up(x, tile=tile, overlap=16) * 255).round()
    assert (whole - tiled).abs().max() <= 1


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (2, 2), (3, 5)])
def test_images_smaller_than_the_unshuffle_cell_are_upscaled(size):
    """Reflect padding cannot pad a side by more than its length; such images are padded by repetition."""
    net, info = build_network("esrgan", scale=1, num_feat=8, num_block=1)
    out = Upscaler(net, 1, multiple=info.size_multiple)(torch.rand(1, 3, *size))
    assert out.shape == (1, 3, *size) and torch.isfinite(out).all()


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
