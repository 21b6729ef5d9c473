"""The `train_profile` section of `bench/gpu_check.py`: where a training step's time goes, upres against the bare loop.

torch.profiler records a few steady-state iterations of each, after the same warm-up: wall time per step, the
device's busy time per step (kernels and copies), device operations per step, and the ops with the most device time
(the most CPU time on a CPU). Wall time well above busy time is the device waiting for the host; more operations or
other top ops are work upres does that the bare loop does not. The tables go to a text file next to the report.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

import upres.train.step as step_mod
from gpu_check_common import Row, Sizes, sync
from gpu_check_train import _stage_label, bare_step, train_in_memory, upres_options

STEPS = 5


# CUDA runtime calls that make the host wait for the device: one per step is enough to put the host's and the GPU's
# time end to end where they should overlap.
WAITS = (
    "cudaStreamSynchronize",
    "cudaDeviceSynchronize",
    "cudaEventSynchronize",
    "cudaMemcpy",
    "cudaMemcpyAsync",
)


def _summary(prof: profile, steps: int, seconds: float, device: torch.device) -> tuple[dict, str]:
    events = prof.key_averages()
    on_device = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    waits = {e.key: e for e in events if e.key in WAITS}
    host_table = events.table(sort_by="self_cpu_time_total", row_limit=25)
    if device.type == "cuda":
        busy = sum(e.self_device_time_total for e in on_device) / 1e3 / steps
        ops = sum(e.count for e in on_device) / steps
        table = (
            events.table(sort_by="self_device_time_total", row_limit=20) + "\n\nby host time:\n" + host_table
        )
    else:
        busy = float("nan")
        ops = sum(e.count for e in events if e.device_type == torch.autograd.DeviceType.CPU) / steps
        table = host_table
    # ops: kernels and copies on a GPU, ATen ops on a CPU (where nothing runs asynchronously)
    data = {
        "wall_ms": seconds * 1e3 / steps,
        "device_busy_ms": busy,
        "ops_per_step": ops,
        "host_waits_per_step": {k: e.count / steps for k, e in waits.items()},
        "host_wait_ms_per_step": sum(e.self_cpu_time_total for e in waits.values()) / 1e3 / steps,
    }
    return data, table


def _profile_bare(sizes: Sizes, device: torch.device, work: Path, gan: bool) -> tuple[dict, str]:
    step = bare_step(sizes, device, work, gan)
    for _ in range(sizes.train_warm):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        sync(device)
        start = time.perf_counter()
        for _ in range(STEPS):
            step()
        sync(device)
        seconds = time.perf_counter() - start
    return _summary(prof, STEPS, seconds, device)


def _profile_upres(sizes: Sizes, device: torch.device, work: Path, gan: bool) -> tuple[dict, str]:
    """A real `upres train` run; the profiler is on for STEPS iterations after the warm-up."""
    opts = upres_options(sizes, work, gan, compiled=False)
    opts["path"]["experiments_root"] = str(work / f"profile_{'gan' if gan else 'fid'}")
    opts["train"]["total_iter"] = sizes.train_warm + STEPS + 1
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    prof = profile(activities=activities)
    real, calls, window = step_mod.TrainStep.__call__, [0], {}

    def counted(self, it, next_batch):
        calls[0] += 1
        if calls[0] == sizes.train_warm + 1:
            prof.start()
            sync(device)
            window["start"] = time.perf_counter()
        real(self, it, next_batch)
        if calls[0] == sizes.train_warm + STEPS:
            sync(device)
            window["seconds"] = time.perf_counter() - window["start"]
            prof.stop()

    step_mod.TrainStep.__call__ = counted
    try:
        train_in_memory(opts, sizes, device)
    finally:
        step_mod.TrainStep.__call__ = real
    return _summary(prof, STEPS, window["seconds"], device)


def profile_training(sizes: Sizes, device: torch.device, work: Path, text: Path) -> tuple[dict, list[Row]]:
    data, rows, sections = {}, [], []
    for gan in (False, True):
        stage, what = _stage_label(sizes, gan)
        bare, bare_table = _profile_bare(sizes, device, work, gan)
        ours, our_table = _profile_upres(sizes, device, work, gan)
        data[stage.lower()] = {"upres": ours, "bare": bare}
        sections += [f"## {stage}: upres train\n\n{our_table}", f"## {stage}: bare loop\n\n{bare_table}"]
        rows.append(
            Row(
                f"step profile, {what} ({STEPS} steps)",
                f"{ours['wall_ms']:.1f} ms wall, {ours['device_busy_ms']:.1f} ms device busy, "
                f"{ours['ops_per_step']:.0f} ops, {ours['host_wait_ms_per_step']:.1f} ms in host waits",
                f"{bare['wall_ms']:.1f} ms wall, {bare['device_busy_ms']:.1f} ms busy, "
                f"{bare['ops_per_step']:.0f} ops, {bare['host_wait_ms_per_step']:.1f} ms in host waits (bare loop)",
                bare["wall_ms"] / ours["wall_ms"],
            )
        )
    text.write_text("\n\n".join(sections) + "\n")
    return data, rows
