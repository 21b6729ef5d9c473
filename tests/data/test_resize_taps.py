"""The bicubic of every GT-only training sample: its taps are worked out once per size, the pixels are unchanged."""

from __future__ import annotations

import math

import pytest
import torch

import upres.data.resize as resize_mod
from upres.data.resize import contributions, imresize


def _one_axis(x: torch.Tensor, dim: int, out_len: int, scale: float) -> torch.Tensor:
    """The resize as written before the taps were kept: contributions, then one gather and add per tap in order."""
    w, idx = contributions(x.shape[dim], out_len, scale)
    shape = [1] * x.ndim
    shape[dim] = out_len
    weights, index = torch.from_numpy(w).to(x.dtype), torch.from_numpy(idx)
    out = x.index_select(dim, index[:, 0]) * weights[:, 0].view(shape)
    for t in range(1, w.shape[1]):
        out.add_(x.index_select(dim, index[:, t]) * weights[:, t].view(shape))
    return out


@pytest.mark.parametrize(
    ("shape", "scale", "dtype"),
    [
        ((3, 256, 256), 1 / 4, torch.float32),
        ((3, 64, 48), 1 / 2, torch.float32),
        ((2, 3, 30, 31), 1 / 3, torch.float64),
    ],
)
def test_bit_identical_to_the_per_tap_sum(shape, scale, dtype):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    h, w = x.shape[-2:]
    oh, ow = math.ceil(h * scale), math.ceil(w * scale)
    expected = _one_axis(_one_axis(x, x.ndim - 2, oh, scale), x.ndim - 1, ow, scale)
    for _ in range(2):  # the second from kept taps
        assert torch.equal(imresize(x, scale), expected)


def test_a_second_resize_of_the_same_size_works_out_no_taps(monkeypatch):
    calls = []
    real = resize_mod.contributions

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(resize_mod, "contributions", counted)
    x = torch.rand(3, 52, 44)
    imresize(x, 0.25)
    first = len(calls)
    imresize(torch.rand(3, 52, 44), 0.25)
    assert first in (0, 2) and len(calls) == first
