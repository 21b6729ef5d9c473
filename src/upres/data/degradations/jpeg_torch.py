"""JPEG encode + decode in torch ops, so the degradation runs on the training device with no trip through the host.

It follows libjpeg-turbo as Pillow drives it (baseline, `jpeg_set_quality(q, force_baseline=TRUE)`, the default
"islow" integer DCT, "fancy" chroma upsampling) step by step, in libjpeg's own integer arithmetic: colour
conversion, chroma downsampling bias, edge replication, the DCT's 13-bit fixed-point butterflies, quantisation,
upsampling. With Pillow on libjpeg-turbo the pictures are equal to the bit (tests/data/test_jpeg_torch.py).

The DCT passes are int32 products summed by broadcasting, not matmul or conv: besides being what libjpeg computes,
they cannot be moved by TF32 (`fast_matmul`), whose 10-bit mantissa would shift coefficients by whole steps.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from upres.host_to_device import constant, upload

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
# jfdctint.c / jidctint.c: FIX(x) at CONST_BITS = 13, the rows pass keeping PASS1_BITS = 2 extra bits.
_C = {
    name: round(value * 8192)
    for name, value in {
        "0.298": 0.298631336,
        "0.390": 0.390180644,
        "0.541": 0.541196100,
        "0.765": 0.765366865,
        "0.899": 0.899976223,
        "1.175": 1.175875602,
        "1.501": 1.501321110,
        "1.847": 1.847759065,
        "1.961": 1.961570560,
        "2.053": 2.053119869,
        "2.562": 2.562915447,
        "3.072": 3.072711438,
    }.items()
}


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


def _odd_part(t0, t1, t2, t3):
    """The odd half of the Loeffler-Ligtenberg-Moschytz butterfly both libjpeg DCTs share."""
    z1, z2, z3, z4 = t0 + t3, t1 + t2, t0 + t2, t1 + t3
    z5 = (z3 + z4) * _C["1.175"]
    z1, z2 = z1 * -_C["0.899"], z2 * -_C["2.562"]
    z3, z4 = z3 * -_C["1.961"] + z5, z4 * -_C["0.390"] + z5
    return (
        t0 * _C["0.298"] + z1 + z3,
        t1 * _C["2.053"] + z2 + z4,
        t2 * _C["3.072"] + z2 + z3,
        t3 * _C["1.501"] + z1 + z4,
    )


def _fdct_butterfly(d: list[int]) -> list[int]:
    """jpeg_fdct_islow's pass on one row, before its final shifts (the DC and 4th terms, which libjpeg shifts by
    other amounts, brought to the same 2**13 scale: the shift right then gives the very same integers)."""
    t0, t1, t2, t3 = d[0] + d[7], d[1] + d[6], d[2] + d[5], d[3] + d[4]
    t7, t6, t5, t4 = d[0] - d[7], d[1] - d[6], d[2] - d[5], d[3] - d[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    z1 = (t12 + t13) * _C["0.541"]
    o7, o5, o3, o1 = _odd_part(t4, t5, t6, t7)
    return [
        (t10 + t11) << 13,
        o1,
        z1 + t13 * _C["0.765"],
        o3,
        (t10 - t11) << 13,
        o5,
        z1 - t12 * _C["1.847"],
        o7,
    ]


def _idct_butterfly(d: list[int]) -> list[int]:
    """jpeg_idct_islow's pass on one column or row, before its final shift."""
    z1 = (d[2] + d[6]) * _C["0.541"]
    t2, t3 = z1 - d[6] * _C["1.847"], z1 + d[2] * _C["0.765"]
    t0, t1 = (d[0] + d[4]) << 13, (d[0] - d[4]) << 13
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    o0, o1, o2, o3 = _odd_part(d[7], d[5], d[3], d[1])
    return [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3]


def _as_matrix(butterfly) -> tuple[tuple[int, ...], ...]:
    """A butterfly is linear in integers up to its final shift: its matrix, read off the unit vectors."""
    columns = [butterfly([int(i == j) for i in range(8)]) for j in range(8)]
    return tuple(tuple(col[i] for col in columns) for i in range(8))


_DCT_MATRICES = (_as_matrix(_fdct_butterfly), _as_matrix(_idct_butterfly))


def _dct_matrices(device: torch.device) -> torch.Tensor:
    return constant("jpeg_islow_dct", lambda: torch.tensor(_DCT_MATRICES, dtype=torch.int32), device)


def _dct_pass(x: torch.Tensor, matrix: torch.Tensor, bits: int) -> torch.Tensor:
    """One libjpeg DCT pass along the last axis: integer products summed (int32 wraps as libjpeg's 32-bit
    arithmetic does, and the true results fit), then DESCALE, the shift right that rounds halves up."""
    summed = (x.unsqueeze(-2) * matrix).sum(-1, dtype=torch.int32)
    return (summed + (1 << (bits - 1))) >> bits


def _floor_shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """x >> bits for integer-valued floats (a power-of-two division is exact)."""
    return torch.floor(x * (1.0 / (1 << bits)))


# jccolor.c's rgb_ycc_convert and jdcolor.c's ycc_rgb_convert (their lookup tables computed inline) in 16-bit fixed
# point, as products summed over the colour axis plus the rounding offsets: every product and partial sum is an
# integer below 2**24 in magnitude, so float32 holds each exactly whatever the order of the sum.
_RGB_TO_YCC = (
    (_fix(0.299), _fix(0.587), _fix(0.114)),
    (-_fix(0.16874), -_fix(0.33126), _fix(0.5)),
    (_fix(0.5), -_fix(0.41869), -_fix(0.08131)),
)
_YCC_OFFSETS = ((1 << 15), (128 << 16) + (1 << 15) - 1, (128 << 16) + (1 << 15) - 1)
_CBCR_TO_RGB = ((0, _fix(1.402)), (-_fix(0.34414), -_fix(0.71414)), (_fix(1.772), 0))


def _colour_matrix(name: str, rows, like: torch.Tensor) -> torch.Tensor:
    return constant(name, lambda: torch.tensor(rows, dtype=torch.float64), like.device, like.dtype)


def _rgb_to_ycc(px: torch.Tensor) -> torch.Tensor:
    m = _colour_matrix("jpeg_rgb_to_ycc", _RGB_TO_YCC, px)[None, :, :, None, None]
    offsets = _colour_matrix("jpeg_ycc_offsets", _YCC_OFFSETS, px)[None, :, None, None]
    return _floor_shift((px.unsqueeze(1) * m).sum(2) + offsets, 16)


def _ycc_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    """Then the range limit."""
    m = _colour_matrix("jpeg_cbcr_to_rgb", _CBCR_TO_RGB, ycc)[None, :, :, None, None]
    chroma = (ycc[:, 1:].unsqueeze(1) - 128) * m
    return (ycc[:, :1] + _floor_shift(chroma.sum(2) + (1 << 15), 16)).clamp_(0, 255)


def _pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Repeat the last row and column up to (height, width), as libjpeg's expand_*_edge do."""
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    return F.pad(x, (0, dw, 0, dh), mode="replicate") if dh or dw else x


class _Extent(NamedTuple):
    """Each sample's picture on a shared canvas: its top-left `heights` x `widths` (host integer arrays)."""

    heights: np.ndarray
    widths: np.ndarray

    def take(self, idx: Sequence[int]) -> _Extent:
        return _Extent(self.heights[list(idx)], self.widths[list(idx)])


def _repeat_edges(x: torch.Tensor, heights: np.ndarray | None, widths: np.ndarray | None) -> torch.Tensor:
    """Each sample's last row (column) repeated over the canvas below (right of) its picture, as `_pad_to` does for
    one size: two gathers whatever the batch. None leaves that axis as it is."""
    n, c, h, w = x.shape
    for dim, limits, length in ((2, heights, h), (3, widths, w)):
        if limits is None:
            continue
        idx = np.minimum(np.arange(length), np.maximum(np.asarray(limits), 1)[:, None] - 1)
        shape = [n, 1, 1, 1]
        shape[dim] = length
        x = x.gather(dim, upload(torch.from_numpy(idx), x.device).view(shape).expand(n, c, h, w))
    return x


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
        return _repeat_upsample(c, vf)
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


def _repeat_upsample(c: torch.Tensor, vf: int) -> torch.Tensor:
    c = c.repeat_interleave(2, -1)
    return c.repeat_interleave(2, -2) if vf == 2 else c


def _code(planes: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Level shift, integer DCT (coefficients at 8x scale), quantise rounding halves away from zero, dequantise,
    integer IDCT, range limit: libjpeg's path for every block at once.

    planes: (N, C, H, W) integer levels, H and W multiples of 8; table: (N, 1, 1, 1, 8, 8) int32."""
    n, ch, h, w = planes.shape
    fdct, idct = _dct_matrices(planes.device)
    blocks = (planes.to(torch.int32) - 128).reshape(n, ch, h // 8, 8, w // 8, 8).transpose(3, 4)
    coef = _dct_pass(_dct_pass(blocks, fdct, 11).transpose(-1, -2), fdct, 15).transpose(-1, -2)
    quantised = torch.div(coef.abs() + 4 * table, 8 * table, rounding_mode="floor") * coef.sign()
    rec = _dct_pass(_dct_pass((quantised * table).transpose(-1, -2), idct, 11).transpose(-1, -2), idct, 18)
    rec = rec.transpose(3, 4).reshape(n, ch, h, w)
    return (rec + 128).clamp_(0, 255).to(planes.dtype)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _luma(y: torch.Tensor, table: torch.Tensor, extent: _Extent | None = None) -> torch.Tensor:
    if extent is not None:
        return _code(_repeat_edges(y, extent.heights, extent.widths), table)
    h, w = y.shape[-2:]
    return _code(_pad_to(y, _round_up(h, 8), _round_up(w, 8)), table)[..., :h, :w]


def _chroma(
    c: torch.Tensor, table: torch.Tensor, hf: int, vf: int, extent: _Extent | None = None
) -> torch.Tensor:
    """Downsample (whole chroma blocks wide, an even row count tall, then the sampled rows repeated to whole
    blocks: the order in which jcsample/jcprepct pad), code, and upsample from the real samples only."""
    h, w = c.shape[-2:]
    if hf == 1:
        return _luma(c, table, extent)
    if extent is not None:
        return _chroma_on_canvas(c, table, hf, vf, extent)
    sub_h, sub_w = -(-h // vf), -(-w // hf)
    small = _downsample(_pad_to(c, sub_h * vf, _round_up(w, 8 * hf)), hf, vf)
    coded = _code(_pad_to(small, _round_up(sub_h, 8), small.shape[-1]), table)
    return _upsample(coded[..., :sub_h, :sub_w], vf)[..., :h, :w]


def _chroma_on_canvas(
    c: torch.Tensor, table: torch.Tensor, hf: int, vf: int, extent: _Extent
) -> torch.Tensor:
    """`_chroma` for pictures of different sizes on one canvas (its sides multiples of 16): each sample padded in
    libjpeg's order at its own size."""
    sub_h, sub_w = -(-extent.heights // vf), -(-extent.widths // hf)
    small = _downsample(_repeat_edges(c, extent.heights, extent.widths), hf, vf)
    coded = _repeat_edges(_code(_repeat_edges(small, sub_h, None), table), sub_h, sub_w)
    out = _upsample(coded, vf)
    tiny = sub_w <= 2  # libjpeg-turbo repeats these samples' chroma instead of interpolating it
    if tiny.any():
        mask = upload(torch.from_numpy(tiny), c.device).view(-1, 1, 1, 1)
        out = torch.where(mask, _repeat_upsample(coded, vf), out)
    return out


def _per_sample(value, n: int, name: str) -> list:
    values = [value] * n if np.ndim(value) == 0 else list(value)
    if len(values) != n:
        raise ValueError(
            f"jpeg_compress_torch: {len(values)} {name} values for a batch of {n}; give one or {n}"
        )
    return values


def jpeg_compress_torch(
    img: torch.Tensor,
    quality: int | Sequence[int],
    subsampling: str | Sequence[str] = "4:2:0",
    sizes: Sequence[tuple[int, int]] | None = None,
) -> torch.Tensor:
    """JPEG-compress (C,H,W) or (N,C,H,W) float [0, 1] (C = 3 RGB or 1 gray) on its own device, as Pillow would.

    quality: an int 1-100 (libjpeg clamps others) or one per sample, host ints; subsampling: "4:4:4", "4:2:2" or
    "4:2:0", or one per sample (gray ignores it). Returns the same shape, dtype and device, in steps of 1/255.
    sizes: (height, width) per sample, for pictures of different sizes coded as one batch: each is the top-left
    region of that size of its sample, coded as that picture alone would be; the rest comes back unspecified."""
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
    extent = None if sizes is None else _extent_of(sizes, x)
    px = x.detach().clamp(0, 1).mul(255).round().float()
    if (
        extent is not None
    ):  # whole MCUs of the widest subsampling; the added margin's values never reach a picture
        h, w = px.shape[-2:]
        px = F.pad(px, (0, _round_up(w, 16) - w, 0, _round_up(h, 16) - h))
    if x.shape[1] == 1:
        table = upload(torch.tensor([_quant_table(q, False) for q in qs], dtype=torch.int32), x.device)
        out = _luma(px, table[:, None, None, None], extent)
    else:
        out = _compress_rgb(px, qs, ss, extent)
    out = _levels_to_unit(out[..., : x.shape[-2], : x.shape[-1]], img.dtype)
    return out[0] if squeeze else out


def _levels_to_unit(levels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """levels / 255 in `dtype`, the quotient the CPU (and jpeg.py's from_uint8) gives on every device: CUDA takes
    `tensor / python_number` as a product with the number's reciprocal, one ulp off for 126 of the 256 levels, but
    divides exactly by a divisor on the device."""
    divisor = constant("jpeg_level_divisor", lambda: torch.tensor(255.0), levels.device, dtype)
    return levels.to(dtype).div_(divisor)


def _extent_of(sizes: Sequence[tuple[int, int]], x: torch.Tensor) -> _Extent:
    hw = np.asarray(sizes, dtype=np.int64).reshape(-1, 2) if len(sizes) else np.zeros((0, 2), np.int64)
    if len(hw) != x.shape[0] or (hw < 1).any() or (hw > x.shape[-2:]).any():
        raise ValueError(
            f"jpeg_compress_torch: sizes must be one (height, width) per sample, each from 1 to the batch's "
            f"{x.shape[-2]}x{x.shape[-1]}; got {[tuple(s) for s in hw.tolist()]} for {x.shape[0]} samples"
        )
    return _Extent(hw[:, 0], hw[:, 1])


def _compress_rgb(px: torch.Tensor, qs: list[int], ss: list[str], extent: _Extent | None) -> torch.Tensor:
    """Samples grouped by subsampling (at most three groups), each group coded as one batch."""
    order = sorted(range(len(ss)), key=lambda i: list(_FACTORS).index(ss[i]))
    tables = [[_quant_table(qs[i], False), _quant_table(qs[i], True)] for i in order]
    tables = upload(torch.tensor(tables, dtype=torch.int32), px.device)[:, :, None, None, None]
    same = order == list(range(len(ss)))
    perm = None if same else upload(torch.tensor(order), px.device)
    ycc = _rgb_to_ycc(px if perm is None else px.index_select(0, perm))
    parts, start = [], 0
    for mode in _FACTORS:
        count = sum(s == mode for s in ss)
        if not count:
            continue
        part, table = ycc[start : start + count], tables[start : start + count]
        hf, vf = _FACTORS[mode]
        sizes = None if extent is None else extent.take(order[start : start + count])
        y = _luma(part[:, :1], table[:, 0], sizes)
        parts.append(torch.cat([y, _chroma(part[:, 1:], table[:, 1], hf, vf, sizes)], 1))
        start += count
    rgb = _ycc_to_rgb(torch.cat(parts) if len(parts) > 1 else parts[0])
    return rgb if perm is None else torch.empty_like(rgb).index_copy_(0, perm, rgb)
