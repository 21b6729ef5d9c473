"""JPEG encode + decode in torch ops, so the degradation runs on the training device with no trip through the host.

It follows libjpeg-turbo as Pillow drives it (baseline, `jpeg_set_quality(q, force_baseline=TRUE)`, the slow
integer DCT, "fancy" chroma upsampling) step by step, with libjpeg's own integer rounding wherever it is cheap to
copy: colour conversion, chroma downsampling bias, quantisation, upsampling, edge replication. The DCT is the exact
orthonormal one, where libjpeg's is a 13-bit fixed-point approximation: the rare coefficient that lands on the other
side of a quantisation step makes the only differences to Pillow's pictures (see tests/data/test_jpeg_torch.py).

The transforms are written as broadcast products and sums, not matmul or conv: training may turn TF32 on
(`fast_matmul`), whose 10-bit mantissa would move coefficients by several units.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

# JPEG spec Annex K, tables K.1 and K.2, natural (row-major) order.
_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMA = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
)
# How many luma samples share one chroma sample, (horizontally, vertically).
_FACTORS = {"4:4:4": (1, 1), "4:2:2": (2, 1), "4:2:0": (2, 2)}
# libjpeg's IDCT rounds halves up, and (DC-only blocks above all) exact halves are common: float32 error in the
# sums, a few 1e-4 at most, must not round them down.
_TIE = 2e-3


def _fix(x: float) -> int:
    """libjpeg's FIX(): a coefficient in 16-bit fixed point."""
    return int(x * 65536 + 0.5)


@functools.lru_cache(maxsize=256)
def _quant_table(quality: int, chroma: bool) -> tuple[tuple[int, ...], ...]:
    """The 8x8 table (natural order) libjpeg's jpeg_set_quality(quality, force_baseline=TRUE) installs."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    base = _CHROMA if chroma else _LUMA
    return tuple(tuple(min(max((v * scale + 50) // 100, 1), 255) for v in row) for row in base)


def _dct_matrix(device: torch.device) -> torch.Tensor:
    """D[k, n] of the orthonormal 8-point DCT-II, made on the device from arange (no host copy)."""
    k = torch.arange(8, device=device, dtype=torch.float32)
    d = torch.cos((2 * k[None, :] + 1) * k[:, None] * (math.pi / 16)) * math.sqrt(2 / 8)
    d[0] = math.sqrt(1 / 8)
    return d


def _transform(blocks: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """left @ blocks @ right.T on the last two axes, as exact float32 products and sums (no TF32)."""
    rows = (left[:, :, None] * blocks[..., None, :, :]).sum(-2)
    return (rows[..., :, None, :] * right).sum(-1)


def _floor_shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """x >> bits for integer-valued floats (a power-of-two division is exact)."""
    return torch.floor(x * (1.0 / (1 << bits)))


def _rgb_to_ycc(px: torch.Tensor) -> torch.Tensor:
    """jccolor.c's rgb_ycc_convert in 16-bit fixed point; every partial sum stays below 2**24, exact in float32."""
    r, g, b = px.unbind(1)
    half, offset = 1 << 15, 128 << 16
    y = _fix(0.299) * r + _fix(0.587) * g + (_fix(0.114) * b + half)
    cb = -_fix(0.16874) * r - _fix(0.33126) * g + (_fix(0.5) * b + (offset + half - 1))
    cr = -_fix(0.41869) * g - _fix(0.08131) * b + (_fix(0.5) * r + (offset + half - 1))
    return _floor_shift(torch.stack([y, cb, cr], 1), 16)


def _ycc_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    """jdcolor.c's ycc_rgb_convert (its lookup tables computed inline), then the range limit."""
    y, cb, cr = ycc.unbind(1)
    cb, cr = cb - 128, cr - 128
    half = 1 << 15
    r = y + _floor_shift(_fix(1.402) * cr + half, 16)
    g = y + _floor_shift(-_fix(0.34414) * cb - _fix(0.71414) * cr + half, 16)
    b = y + _floor_shift(_fix(1.772) * cb + half, 16)
    return torch.stack([r, g, b], 1).clamp_(0, 255)


def _pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Repeat the last row and column up to (height, width), as libjpeg's expand_*_edge do."""
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    return F.pad(x, (0, dw, 0, dh), mode="replicate") if dh or dw else x


def _alternating(width: int, first: float, second: float, like: torch.Tensor) -> torch.Tensor:
    bias = torch.full((width,), first, device=like.device, dtype=like.dtype)
    bias[1::2] = second
    return bias


def _downsample(c: torch.Tensor, hf: int, vf: int) -> torch.Tensor:
    """jcsample.c's h2v1/h2v2 downsample: (sum + bias) >> shift with the bias alternating along each row."""
    n, ch, h, w = c.shape
    sums = c.reshape(n, ch, h // vf, vf, w // hf, hf).sum((3, 5))
    first, second = (0.0, 1.0) if vf == 1 else (1.0, 2.0)
    return _floor_shift(sums + _alternating(w // hf, first, second, c), (hf * vf).bit_length() - 1)


def _interleave(even: torch.Tensor, odd: torch.Tensor, dim: int) -> torch.Tensor:
    """even[i], odd[i] side by side along dim (size doubles)."""
    shape = list(even.shape)
    shape[dim] *= 2
    return torch.stack([even, odd], dim + 1 if dim >= 0 else dim).reshape(shape)


def _neighbours(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x shifted by one along dim (-1 or -2) both ways, the edge sample repeated."""
    pad = (1, 1, 0, 0) if dim == -1 else (0, 0, 1, 1)
    xp = F.pad(x, pad, mode="replicate")
    size = x.shape[dim]
    return xp.narrow(dim, 0, size), xp.narrow(dim, 2, size)


def _upsample(c: torch.Tensor, vf: int) -> torch.Tensor:
    """jdsample.c's fancy (triangle) upsampling by 2 horizontally, and vertically too when vf == 2; libjpeg-turbo
    repeats samples instead when there are at most two chroma columns."""
    if c.shape[-1] <= 2:
        c = c.repeat_interleave(2, -1)
        return c.repeat_interleave(2, -2) if vf == 2 else c
    if vf == 2:
        above, below = _neighbours(c, -2)
        c = _interleave(3 * c + above, 3 * c + below, -2)
        bits, even_bias, odd_bias = 4, 8, 7
    else:
        bits, even_bias, odd_bias = 2, 1, 2
    left, right = _neighbours(c, -1)
    even = _floor_shift(3 * c + left + even_bias, bits)
    odd = _floor_shift(3 * c + right + odd_bias, bits)
    return _interleave(even, odd, -1)


def _code(planes: torch.Tensor, table: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """Level shift, DCT, quantise (round half away from zero, as libjpeg), dequantise, IDCT, clamp.

    planes: (N, C, H, W) integer levels, H and W multiples of 8; table: (N, 1, 1, 1, 8, 8)."""
    n, ch, h, w = planes.shape
    blocks = (planes - 128).reshape(n, ch, h // 8, 8, w // 8, 8).transpose(3, 4)
    # libjpeg's DCT yields integers at 8x scale (the DC one exactly the block's sum), then divides rounding half
    # up; so does this: exact halves are common (sums of integers), and float error must not decide them.
    coef = torch.floor(_transform(blocks, dct, dct) * 8 + 0.5)
    coef = torch.floor((coef.abs() + 4 * table) / (8 * table)).copysign_(coef) * table
    rec = _transform(coef, dct.T, dct.T)
    rec = rec.transpose(3, 4).reshape(n, ch, h, w)
    return torch.floor(rec + (128.5 + _TIE)).clamp_(0, 255)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _luma(y: torch.Tensor, table: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    h, w = y.shape[-2:]
    return _code(_pad_to(y, _round_up(h, 8), _round_up(w, 8)), table, dct)[..., :h, :w]


def _chroma(c: torch.Tensor, table: torch.Tensor, dct: torch.Tensor, hf: int, vf: int) -> torch.Tensor:
    """Downsample (whole chroma blocks wide, an even row count tall, then the sampled rows repeated to whole
    blocks: the order in which jcsample/jcprepct pad), code, and upsample from the real samples only."""
    h, w = c.shape[-2:]
    if hf == 1:
        return _luma(c, table, dct)
    sub_h, sub_w = -(-h // vf), -(-w // hf)
    small = _downsample(_pad_to(c, sub_h * vf, _round_up(w, 8 * hf)), hf, vf)
    coded = _code(_pad_to(small, _round_up(sub_h, 8), small.shape[-1]), table, dct)
    return _upsample(coded[..., :sub_h, :sub_w], vf)[..., :h, :w]


def _per_sample(value, n: int, name: str) -> list:
    values = [value] * n if isinstance(value, (int, str)) else list(value)
    if len(values) != n:
        raise ValueError(
            f"jpeg_compress_torch: {len(values)} {name} values for a batch of {n}; give one or {n}"
        )
    return values


def jpeg_compress_torch(
    img: torch.Tensor,
    quality: int | Sequence[int],
    subsampling: str | Sequence[str] = "4:2:0",
) -> torch.Tensor:
    """JPEG-compress (C,H,W) or (N,C,H,W) float [0, 1] (C = 3 RGB or 1 gray) on its own device, as Pillow would.

    quality: an int 1-100 (libjpeg clamps others) or one per sample, host ints; subsampling: "4:4:4", "4:2:2" or
    "4:2:0", or one per sample (gray ignores it). Returns the same shape, dtype and device, in steps of 1/255."""
    squeeze = img.dim() == 3
    x = img.unsqueeze(0) if squeeze else img
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"jpeg_compress_torch: expected (C,H,W) or (N,C,H,W) with C 1 or 3, got {tuple(img.shape)}"
        )
    n = x.shape[0]
    qs = [int(q) for q in _per_sample(quality, n, "quality")]
    ss = _per_sample(subsampling, n, "subsampling")
    unknown = sorted({s for s in ss if s not in _FACTORS})
    if unknown:
        raise ValueError(
            f"jpeg_compress_torch: subsampling {unknown[0]!r} unknown; use one of {list(_FACTORS)}"
        )
    px = x.detach().clamp(0, 1).mul(255).round().float()
    dct = _dct_matrix(x.device)
    if x.shape[1] == 1:
        table = torch.as_tensor([_quant_table(q, False) for q in qs], dtype=torch.float32, device=x.device)
        out = _luma(px, table[:, None, None, None], dct)
    else:
        out = _compress_rgb(px, qs, ss, dct)
    out = out.to(img.dtype).div_(255)
    return out[0] if squeeze else out


def _compress_rgb(px: torch.Tensor, qs: list[int], ss: list[str], dct: torch.Tensor) -> torch.Tensor:
    """Samples grouped by subsampling (at most three groups), each group coded as one batch."""
    order = sorted(range(len(ss)), key=lambda i: list(_FACTORS).index(ss[i]))
    tables = [[_quant_table(qs[i], False), _quant_table(qs[i], True)] for i in order]
    tables = torch.as_tensor(tables, dtype=torch.float32, device=px.device)[:, :, None, None, None]
    same = order == list(range(len(ss)))
    perm = None if same else torch.as_tensor(order, device=px.device)
    ycc = _rgb_to_ycc(px if perm is None else px.index_select(0, perm))
    parts, start = [], 0
    for mode in _FACTORS:
        count = sum(s == mode for s in ss)
        if not count:
            continue
        part, table = ycc[start : start + count], tables[start : start + count]
        hf, vf = _FACTORS[mode]
        y = _luma(part[:, :1], table[:, 0], dct)
        parts.append(torch.cat([y, _chroma(part[:, 1:], table[:, 1], dct, hf, vf)], 1))
        start += count
    rgb = _ycc_to_rgb(torch.cat(parts) if len(parts) > 1 else parts[0])
    return rgb if perm is None else torch.empty_like(rgb).index_copy_(0, perm, rgb)
