"""Memory of a training run: the peak it reports, and what running out of it tells the user."""

from __future__ import annotations

import sys

import torch

from upres.train.config import Options


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource
    except ImportError:
        return float("nan")
    # ru_maxrss is in KiB on Linux and in bytes on macOS (where the peak read 1024 times too high)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


def out_of_memory_text(
    opts: Options, device: torch.device, iteration: int, newest_state: str, validating: bool = False
) -> str:
    """One line: where memory ran out, the options that size a step (or validation), and how to make it fit."""
    if validating:
        where = f"on {device}" + (f" ({_peak_of_total(device)})" if device.type == "cuda" else "")
        return (
            f"out of memory validating after iteration {iteration} {where}, even in the smallest tiles: give "
            f"val.tile_size a small value (e.g. 128) or validate on smaller images; {newest_state}"
        )
    ds = opts.train_dataset
    batch = ds.batch_size_per_gpu if ds else None
    lq = ds.crop_size(opts.scale) if ds else None
    accum = ds.accum_iter if ds else 1
    where = f"on {device}" + (f" ({_peak_of_total(device)})" if device.type == "cuda" else "")
    sizes = f"datasets.train.batch_size_per_gpu {batch}, lq_size {lq}" + (
        f", accum_iter {accum}" if accum > 1 else ""
    )
    fixes = "lower batch_size_per_gpu (raise accum_iter to keep the effective batch) or lq_size"
    if not opts.use_amp and device.type == "cuda":
        fixes += ", or set use_amp: true"
    return f"out of memory in iteration {iteration} {where} with {sizes}: {fixes}; {newest_state}"


def _peak_of_total(device: torch.device) -> str:
    total = torch.cuda.get_device_properties(device).total_memory / 2**30
    return f"{peak_memory_mb(device) / 1024:.1f} GiB at the peak, of {total:.1f} GiB"
