"""The `loader_device` section of `bench/gpu_check.py`: on-the-fly degradations with `degrade_on: device`.

Two rates, measured apart so each tells its own limit: the loader workers' samples/s per worker when they only read
and crop (the degradations deferred), and the samples/s at which the training process degrades those batches on
the device (as `upres train` does: each sample's own steps, each JPEG pass for samples of similar sizes at once; the
device drained at the end), with the host's share of that time (the calls returned before the drain). Compared with
the rate the compiled training step takes, they say how many workers the run needs and whether the training
process's host keeps up.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import upres.train.setup as setup_mod
from gpu_check_common import Row, Sizes, sync
from gpu_check_train import loader_folder
from upres.data.otf_device import degrade_batch
from upres.train.config import parse_options
from upres.train.sampler import ResumableBatchSampler


def bench_loader_device(
    sizes: Sizes, device: torch.device, work: Path, step_samples_per_s: float
) -> tuple[dict, list[Row]]:
    opts = {
        "name": "loader", "scale": sizes.arch["scale"], "high_order_degradation": True, "degrade_on": "device",
        "datasets": {"train": {"type": "realesrgandataset", "dataroot_gt": str(loader_folder(sizes, work)),
                               "lq_size": sizes.lq, "batch_size_per_gpu": sizes.batch}},
        "network_g": {"type": "compact"},
    }  # fmt: skip
    dataset, _ = setup_mod.build_train_dataset(parse_options(opts), 0)
    dataset.deferred = True
    workers = sizes.loader_workers
    sampler = ResumableBatchSampler(len(dataset), sizes.batch, seed=0)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        prefetch_factor=4,
        pin_memory=device.type == "cuda",
    )
    batches = iter(loader)
    first = next(batches)  # worker start-up is paid once per run
    start = time.perf_counter()
    kept = [next(batches) for _ in range(sizes.loader_batches)]
    read_rate = sizes.loader_batches * sizes.batch / (time.perf_counter() - start)
    per_worker = read_rate / max(workers, 1)

    degrade_batch(dataset, first, device)  # the device's constants and kernels' first calls
    sync(device)
    start = time.perf_counter()
    for batch in kept:
        degrade_batch(dataset, batch, device)
    host_s = time.perf_counter() - start
    sync(device)
    total_s = time.perf_counter() - start
    device_rate = len(kept) * sizes.batch / total_s
    needed = (
        math.ceil(step_samples_per_s / per_worker) if per_worker and math.isfinite(step_samples_per_s) else 0
    )
    data = {
        "workers": workers,
        "read_samples_per_s": read_rate,
        "read_per_worker": per_worker,
        "workers_needed": needed,
        "device_samples_per_s": device_rate,
        "device_host_ms_per_batch": 1000 * host_s / len(kept),
        "device_host_share": host_s / total_s,
        "step_samples_per_s": step_samples_per_s,
    }
    what = f"{sizes.loader_image_size}px PNGs, lq {sizes.lq}, batch {sizes.batch}"
    rows = [
        Row(
            f"loader, `degrade_on: device`: workers read and crop, {what}",
            f"{per_worker:.1f} samples/s per worker ({workers} workers: {read_rate:.1f})",
            f"{step_samples_per_s:.1f} samples/s (the step's need)",
            read_rate / step_samples_per_s if step_samples_per_s else None,
            f"workers needed: {needed}",
        ),
        Row(
            f"`degrade_on: device`: degradations on {device.type} in the training process, {what}",
            f"{device_rate:.1f} samples/s",
            f"{step_samples_per_s:.1f} samples/s (the step's need)",
            device_rate / step_samples_per_s if step_samples_per_s else None,
            f"well above 1x: its host time adds to the step's ({1000 * host_s / len(kept):.1f} ms of host a batch)",
        ),
    ]
    return data, rows
