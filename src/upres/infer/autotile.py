"""`--tile auto`: the largest tile whose working memory fits the budget, and halving on out-of-memory.

Memory per input pixel is measured once per model by running it on a 32x32 input and recording every layer's
input and output sizes; the peak live set is taken as twice the largest layer's in+out,
which covers residual branches and RRDB's dense concatenations. The band buffers the blender keeps (a full output
width for one tile row, float32) are added on top.

Budget: on CUDA, 80% of the free memory (torch.cuda.mem_get_info after emptying the cache). On CPU, a quarter of
the available RAM capped at CPU_BUDGET_CAP: CPU throughput stops growing beyond tiles of a few hundred pixels,
so a larger budget would only raise the resident size.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

CPU_BUDGET_CAP = 1 << 30
MIN_TILE = 32
TILE_STEP = 16
_FALLBACK_RAM = 4 << 30

T = TypeVar("T")


def available_ram() -> int:
    """Bytes of RAM the OS could give us without swapping (Linux, Windows; a guess elsewhere)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if sys.platform == "win32":
        import ctypes

        class _MemStatus(ctypes.Structure):
            _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong)] + [
                (name, ctypes.c_ulonglong)
                for name in ("total", "avail", "totalPage", "availPage", "totalVirt", "availVirt", "ext")
            ]

        stat = _MemStatus()
        stat.dwLength = ctypes.sizeof(_MemStatus)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(stat)):
            return int(stat.avail)
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_RAM


def memory_budget(device: torch.device) -> int:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    return min(available_ram() // 4, CPU_BUDGET_CAP)


def bytes_per_input_pixel(
    module: nn.Module, in_channels: int, element_size: int = 4, probe: int = 32
) -> float:
    """Peak activation bytes per input pixel, from the layer sizes of one small forward pass."""
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    sizes: list[int] = []

    def hook(_m: nn.Module, inputs: tuple, output: object) -> None:
        n_in = sum(t.numel() for t in inputs if isinstance(t, torch.Tensor))
        n_out = output.numel() if isinstance(output, torch.Tensor) else 0
        sizes.append(n_in + n_out)

    handles = [m.register_forward_hook(hook) for m in module.modules() if not list(m.children())]
    try:
        with torch.inference_mode():
            module(torch.zeros(1, in_channels, probe, probe, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
    return 2 * max(sizes) * element_size / (probe * probe)


def pick_tile(
    height: int,
    width: int,
    scale: int,
    out_channels: int,
    per_pixel: float,
    budget: int,
    overlap: int = 16,
    batch: int = 1,
) -> int:
    """0 (whole image) if it fits, else the largest tile (a multiple of 16, at least MIN_TILE) within budget."""

    def cost(tile: int) -> float:
        ext_h, ext_w = min(height, tile + 2 * overlap), min(width, tile + 2 * overlap)
        model = per_pixel * ext_h * ext_w * batch
        # Blender: accumulator + weight sum + the finished band + a clone of the remainder, all float32.
        band = 3 * ext_h * scale * width * scale * (out_channels + 1) * 4 * batch
        return model + band

    if (
        per_pixel * height * width * batch + 2 * height * scale * width * scale * out_channels * 4 * batch
        <= budget
    ):
        return 0
    tile = max(MIN_TILE, (max(height, width) // TILE_STEP) * TILE_STEP)
    while tile > MIN_TILE and cost(tile) > budget:
        tile -= TILE_STEP
    return tile


# The CPU allocator's refusal is a plain RuntimeError: "can't allocate memory" (posix_memalign, Linux and macOS) or
# "not enough memory" (_aligned_malloc, Windows).
CPU_OUT_OF_MEMORY = ("can't allocate memory", "not enough memory")


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        isinstance(exc, MemoryError) or "out of memory" in text or any(t in text for t in CPU_OUT_OF_MEMORY)
    )


def retry_halving(run: Callable[[int], T], tile: int, full_size: int, on_retry: Callable[[int], None]) -> T:
    """Call run(tile); on out-of-memory halve the tile (a whole image counts as full_size) and try again."""
    while True:
        try:
            return run(tile)
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            current = tile if tile > 0 else full_size
            if current // 2 < MIN_TILE:
                raise
            tile = max(MIN_TILE, (current // 2 // TILE_STEP) * TILE_STEP)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            on_retry(tile)
