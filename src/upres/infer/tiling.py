"""The upscaling primitive: model + image tensor -> upscaled tensor, tiled with blended overlaps.

Tiles are processed one tile-row at a time and finished rows are handed out as bands, so callers can hold the
output at its final bit depth instead of as a full float32 canvas.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_precision(precision: str, device: torch.device, supports_half: bool = True) -> torch.dtype:
    if precision == "auto":
        return torch.float16 if device.type == "cuda" and supports_half else torch.float32
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, fp32, fp16 or bf16, not {precision!r}")
    return PRECISIONS[precision]


def _ramp(length: int, lo_margin: int, hi_margin: int, device: torch.device | None = None) -> torch.Tensor:
    """Cross-fade weights for one tile axis: 1 in the core, 0 near the outer edge of each overlapping margin.

    Two neighbours fade linearly across a window of one margin's width centred on their shared core boundary, so
    their weights sum to 1 and every pixel that gets weight has at least half a margin of real context.
    """
    pos = torch.arange(length, device=device) + 0.5
    w = torch.ones(length, device=device)
    if lo_margin:
        w = torch.minimum(w, ((pos - lo_margin / 2) / lo_margin).clamp(0, 1))
    if hi_margin:
        w = torch.minimum(w, ((length - hi_margin / 2 - pos) / hi_margin).clamp(0, 1))
    return w


def _spans(size: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(extended start, extended end, core start, core end) along one axis."""
    spans = []
    for c0 in range(0, size, tile):
        c1 = min(c0 + tile, size)
        spans.append((max(0, c0 - overlap), min(size, c1 + overlap), c0, c1))
    return spans


PINNED_MAX_BYTES = 256 * 2**20


def to_host(t: torch.Tensor) -> torch.Tensor:
    """`t.cpu()`; a GPU tensor comes back through pinned memory, which the copy fills at full speed without first
    faulting in fresh pages (a 640x480 x4 float32 frame is 59 MB), with `t`'s strides when they are dense (one plain
    memcpy). PyTorch's caching host allocator reuses the block once the caller drops the tensor; results over
    PINNED_MAX_BYTES stay pageable, so the cache never pins gigabytes."""
    if t.device.type != "cuda" or t.nbytes > PINNED_MAX_BYTES:
        return t.cpu()
    host = torch.empty_like(t, device="cpu", pin_memory=True)
    host.copy_(t, non_blocking=True)
    torch.cuda.current_stream(t.device).synchronize()
    return host


def _to(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    return to_host(t) if device.type == "cpu" else t.to(device)


def _window(start: int, size: int, window: int, multiple: int) -> int:
    """Start of the `window`-long span beginning at `start`, moved inwards when it would pass the image's far edge.
    A moved start off the model's pixel grid keeps `start` (that edge tile then has a shape of its own)."""
    moved = min(start, size - window)
    return moved if moved % multiple == 0 else start


@dataclass
class Upscaler:
    """Runs one generator on a device at one precision; redoes non-finite half-precision tiles in fp32."""

    module: nn.Module
    scale: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    # Pixel-unshuffle models group pixels in blocks of this size: tiles must start on that grid to match untiled.
    multiple: int = 1
    fp32_fallbacks: int = 0
    # torch.compile the model (`--compile`): tiles are then fed at one shape so its graphs are reused.
    compile: bool = False

    def __post_init__(self) -> None:
        # NHWC convolutions run about 1.5x faster on CPU (oneDNN) and use tensor cores on CUDA. The module is
        # converted in place: pass a copy when its layout must not change (a generator still being trained).
        self.module = (
            self.module.eval().requires_grad_(False).to(self.device, memory_format=torch.channels_last)
        )
        self._fp32_module = self.module
        if self.dtype != torch.float32:
            import copy

            self.module = copy.deepcopy(self.module).to(self.dtype)
        # The fp32 redo of a bad half-precision tile stays eager: it is rare, and compiling it would double the
        # compile time for a path most runs never take.
        self.runner: nn.Module = self.module
        if self.compile:
            from upres.infer.compiled import CompiledModel

            self.runner = CompiledModel(self.module, self.device)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One model call on a (N, C, H, W) float tensor in [0, 1]; returns float32 on the input's device."""
        out = self._run(x)
        if self.dtype != torch.float32 and not bool(self._valid(out)):
            out = self._redo_fp32(x)
        return _to(out.float().clamp_(0, 1), x.device)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner(
            x.to(self.device, self.dtype, non_blocking=True).contiguous(memory_format=torch.channels_last)
        )

    def _redo_fp32(self, x: torch.Tensor) -> torch.Tensor:
        # fp16 overflows to inf or collapses to black in some models; fp32 is the reference.
        self.fp32_fallbacks += 1
        return self._fp32_module(
            x.to(self.device, torch.float32).contiguous(memory_format=torch.channels_last)
        )

    @staticmethod
    def _valid(out: torch.Tensor) -> torch.Tensor:
        """On the device: all finite and not all black (read by the host once per call or per tile row)."""
        return torch.isfinite(out).all() & (out.abs().amax() > 0)

    @torch.inference_mode()
    def _row(self, tiles: list[torch.Tensor]) -> Iterator[torch.Tensor]:
        """One tile row through the model, outputs in order. In half precision every tile of the row runs before
        their validity is read, in one host sync per row instead of one per tile; in fp32 tiles go one by one."""
        if self.dtype == torch.float32:
            for t in tiles:
                yield _to(self._run(t).float().clamp_(0, 1), t.device)
            return
        outs = [self._run(t) for t in tiles]
        ok = torch.stack([self._valid(o) for o in outs]).tolist()
        for i, (t, good) in enumerate(zip(tiles, ok)):
            out, outs[i] = outs[i], None  # each output is freed once blended
            yield _to((out if good else self._redo_fp32(t)).float().clamp_(0, 1), t.device)

    def overlap_pixels(self, overlap: int) -> int:
        """Input pixels a tile is extended by on each side. A pixel-unshuffle model (1x, 2x RRDBNet) sees the input in
        cells of `multiple` pixels, so the overlap counts cells: 16 gives its trunk 16 cells of context, as for a 4x
        model (counted in pixels, a 1x model's trunk saw 4 cells and its tiles showed seams)."""
        return max(0, overlap) * self.multiple

    def bands(self, x: torch.Tensor, tile: int = 0, overlap: int = 16) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield (first output row, finished float32 rows) covering the whole output from top to bottom."""
        n, c, h, w = x.shape
        s = self.scale
        if tile <= 0 or (h <= tile and w <= tile):
            yield 0, self.forward(x)
            return
        m = self.multiple
        tile = -(-tile // m) * m
        overlap = self.overlap_pixels(overlap)
        rows, cols = _spans(h, tile, overlap), _spans(w, tile, overlap)
        # Compiled: every tile runs at one window size, so one graph serves them all. An edge tile's window is
        # widened inwards with real pixels (not padding, which would change its border) and cropped back after.
        fix = self.compile
        win_h, win_w = min(h, tile + 2 * overlap), min(w, tile + 2 * overlap)
        acc: torch.Tensor | None = None
        wsum: torch.Tensor | None = None
        acc_start = 0  # output row of acc[..., 0, :]
        for ri, (ey0, ey1, cy0, cy1) in enumerate(rows):
            end = ey1 * s
            wy = _ramp((ey1 - ey0) * s, (cy0 - ey0) * s, (ey1 - cy1) * s, x.device)
            wy0 = _window(ey0, h, win_h, m) if fix else ey0
            wy1 = wy0 + win_h if fix else ey1
            wxs = [_window(ex0, w, win_w, m) if fix else ex0 for ex0, _, _, _ in cols]
            ends = [wx0 + win_w if fix else ex1 for wx0, (_, ex1, _, _) in zip(wxs, cols)]
            outs = self._row([x[..., wy0:wy1, wx0:wx1] for wx0, wx1 in zip(wxs, ends)])
            for (ex0, ex1, cx0, cx1), wx0, out in zip(cols, wxs, outs):
                if fix:
                    out = out[..., (ey0 - wy0) * s : (ey1 - wy0) * s, (ex0 - wx0) * s : (ex1 - wx0) * s]
                if acc is None:
                    acc = x.new_zeros(n, out.shape[1], end - acc_start, w * s, dtype=torch.float32)
                    wsum = x.new_zeros(1, 1, end - acc_start, w * s, dtype=torch.float32)
                elif end - acc_start > acc.shape[2]:
                    grow = end - acc_start - acc.shape[2]
                    acc = torch.cat([acc, acc.new_zeros(n, acc.shape[1], grow, w * s)], 2)
                    wsum = torch.cat([wsum, wsum.new_zeros(1, 1, grow, w * s)], 2)
                wx = _ramp((ex1 - ex0) * s, (cx0 - ex0) * s, (ex1 - cx1) * s, x.device)
                weight = wy[:, None] * wx[None, :]
                r0, r1 = ey0 * s - acc_start, ey1 * s - acc_start
                acc[..., r0:r1, ex0 * s : ex1 * s] += out * weight
                wsum[..., r0:r1, ex0 * s : ex1 * s] += weight
            # Rows above the next tile-row's extended start receive no more contributions.
            done = (rows[ri + 1][0] * s if ri + 1 < len(rows) else end) - acc_start
            if done > 0:
                yield acc_start, acc[..., :done, :] / wsum[..., :done, :]
                acc, wsum = acc[..., done:, :].clone(), wsum[..., done:, :].clone()
                acc_start += done

    def __call__(self, x: torch.Tensor, tile: int = 0, overlap: int = 16) -> torch.Tensor:
        parts = [band for _, band in self.bands(x, tile, overlap)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, 2)
