"""JPEG encode + decode in torch ops, so the degradation runs on the training device with no trip through the host.

It follows libjpeg-turbo as Pillow drives it (baseline, `jpeg_set_quality(q, force_baseline=TRUE)`, the default
"islow" integer DCT, "fancy" chroma upsampling) step by step, in libjpeg's own integer arithmetic: colour
conversion, chroma downsampling bias, edge replication, the DCT's 13-bit fixed-point butterflies, quantisation,
upsampling. With Pillow on libjpeg-turbo the pictures are equal to the bit (tests/data/test_jpeg_torch.py). The
arithmetic of the tables, the DCT and the colour conversions is in `jpeg_integer.py`; this file pads, samples and
composes, for one picture size or for pictures of several sizes on a shared canvas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from upres.data.degradations.jpeg_integer import code_blocks, floor_shift, quant_table, rgb_to_ycc, ycc_to_rgb
from upres.host_to_device import levels_to_unit, upload

# How many luma samples share one chroma sample, (horizontally, vertically).
_FACTORS = {"4:4:4": (1, 1), "4:2:2": (2, 1), "4:2:0": (2, 2)}


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

    def edges(self, height: int, width: int, hf: int, vf: int, device: torch.device) -> _Edges:
        """The gather indices of every edge repeat on a (height, width) canvas, at full size and subsampled by
        (hf, vf): each sample's row (column) index clamped to its picture, in one upload."""
        sets = {
            ("rows", 1): (self.heights, height),
            ("cols", 1): (self.widths, width),
            ("rows", vf): (-(-self.heights // vf), height // vf),
            ("cols", hf): (-(-self.widths // hf), width // hf),
        }
        arrays = {
            key: np.minimum(np.arange(length), np.maximum(limits, 1)[:, None] - 1)
            for key, (limits, length) in sets.items()
        }
        flat = upload(torch.from_numpy(np.concatenate([a.ravel() for a in arrays.values()])), device)
        views, at = {}, 0
        for key, a in arrays.items():
            views[key] = flat[at : at + a.size].view(a.shape)
            at += a.size
        return _Edges(self, views)


class _Edges(NamedTuple):
    extent: _Extent
    index: dict[tuple[str, int], torch.Tensor]


def _repeat_edges(x: torch.Tensor, edges: _Edges, rows: int | None, cols: int | None) -> torch.Tensor:
    """Each sample's last row (column) repeated over the canvas below (right of) its picture, as `_pad_to` does for
    one size: two gathers whatever the batch. `rows`/`cols`: the subsampling of x along that axis, None to leave
    it as it is."""
    n, c, h, w = x.shape
    for dim, key in ((2, ("rows", rows)), (3, ("cols", cols))):
        if key[1] is None:
            continue
        shape = [n, 1, 1, 1]
        shape[dim] = x.shape[dim]
        x = x.gather(dim, edges.index[key].view(shape).expand(n, c, h, w))
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
    return floor_shift(sums + _alternating(w // hf, first, second, c), (hf * vf).bit_length() - 1)


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
    even = floor_shift(3 * c + left + even_bias, bits)
    odd = floor_shift(3 * c + right + odd_bias, bits)
    return _interleave(even, odd, -1)


def _repeat_upsample(c: torch.Tensor, vf: int) -> torch.Tensor:
    c = c.repeat_interleave(2, -1)
    return c.repeat_interleave(2, -2) if vf == 2 else c


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _luma(y: torch.Tensor, table: torch.Tensor, edges: _Edges | None = None) -> torch.Tensor:
    if edges is not None:
        return code_blocks(_repeat_edges(y, edges, 1, 1), table)
    h, w = y.shape[-2:]
    return code_blocks(_pad_to(y, _round_up(h, 8), _round_up(w, 8)), table)[..., :h, :w]


def _chroma(
    c: torch.Tensor, table: torch.Tensor, hf: int, vf: int, edges: _Edges | None = None
) -> torch.Tensor:
    """Downsample (whole chroma blocks wide, an even row count tall, then the sampled rows repeated to whole
    blocks: the order in which jcsample/jcprepct pad), code, and upsample from the real samples only."""
    h, w = c.shape[-2:]
    if hf == 1:
        return _luma(c, table, edges)
    if edges is not None:
        return _chroma_on_canvas(c, table, hf, vf, edges)
    sub_h, sub_w = -(-h // vf), -(-w // hf)
    small = _downsample(_pad_to(c, sub_h * vf, _round_up(w, 8 * hf)), hf, vf)
    coded = code_blocks(_pad_to(small, _round_up(sub_h, 8), small.shape[-1]), table)
    return _upsample(coded[..., :sub_h, :sub_w], vf)[..., :h, :w]


def _chroma_on_canvas(c: torch.Tensor, table: torch.Tensor, hf: int, vf: int, edges: _Edges) -> torch.Tensor:
    """`_chroma` for pictures of different sizes on one canvas (its sides multiples of 16): each sample padded in
    libjpeg's order at its own size."""
    small = _downsample(_repeat_edges(c, edges, 1, 1), hf, vf)
    coded = _repeat_edges(code_blocks(_repeat_edges(small, edges, vf, None), table), edges, vf, hf)
    out = _upsample(coded, vf)
    tiny = (
        -(-edges.extent.widths // hf) <= 2
    )  # libjpeg-turbo repeats these samples' chroma instead of interpolating it
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
    if extent is not None:  # whole MCUs of the widest subsampling; the margin's values never reach a picture
        h, w = px.shape[-2:]
        px = F.pad(px, (0, _round_up(w, 16) - w, 0, _round_up(h, 16) - h))
    if x.shape[1] == 1:
        table = upload(torch.tensor([quant_table(q, False) for q in qs], dtype=torch.int32), x.device)
        edges = None if extent is None else extent.edges(*px.shape[-2:], 1, 1, px.device)
        out = _luma(px, table[:, None, None, None], edges)
    else:
        out = _compress_rgb(px, qs, ss, extent)
    out = levels_to_unit(out[..., : x.shape[-2], : x.shape[-1]], img.dtype)
    return out[0] if squeeze else out


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
    tables = [[quant_table(qs[i], False), quant_table(qs[i], True)] for i in order]
    tables = upload(torch.tensor(tables, dtype=torch.int32), px.device)[:, :, None, None, None]
    same = order == list(range(len(ss)))
    perm = None if same else upload(torch.tensor(order), px.device)
    ycc = rgb_to_ycc(px if perm is None else px.index_select(0, perm))
    parts, start = [], 0
    for mode in _FACTORS:
        count = sum(s == mode for s in ss)
        if not count:
            continue
        part, table = ycc[start : start + count], tables[start : start + count]
        hf, vf = _FACTORS[mode]
        members = order[start : start + count]
        edges = None if extent is None else extent.take(members).edges(*part.shape[-2:], hf, vf, px.device)
        y = _luma(part[:, :1], table[:, 0], edges)
        parts.append(torch.cat([y, _chroma(part[:, 1:], table[:, 1], hf, vf, edges)], 1))
        start += count
    rgb = ycc_to_rgb(torch.cat(parts) if len(parts) > 1 else parts[0])
    return rgb if perm is None else torch.empty_like(rgb).index_copy_(0, perm, rgb)
