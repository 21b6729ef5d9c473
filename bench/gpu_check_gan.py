"""The `train_gan` section of `bench/gpu_check.py`: where the GAN stage's gap to the bare loop comes from.

On the H200 the eager GAN stage ran at 0.81x the bare loop while issuing fewer operations, each costing the host
more, and on a CPU (host-bound regime) upres's whole loop is faster: the cause is something only a GPU run shows.
Each variant changes one thing, timed in one process against the same bare loop:

- bare loop, D reused: the bare loop with upres's D layout (two D passes, D's graph kept through G's backward,
  backward restricted to each network's parameters) instead of BasicSR's four passes. Slower than the bare loop: the
  layout is the cost, and upres's step should run D again, as BasicSR does, on that device.
- upres, loader in the main process (`num_worker_per_gpu: 0`): faster than with workers: the workers' pinning
  thread or their processes take the host from the step.
- upres, BasicSR's D passes: G's backward frees its graph and D runs again on the detached output (patched into
  upres's step here, no option of its own). Faster: the same conclusion as the first variant, inside upres.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import torch

import upres.train.gan_step as gan_step
from gpu_check_common import Row, Sizes
from gpu_check_train import bare_rate, upres_rate


@contextlib.contextmanager
def separate_d_passes() -> Iterator[None]:
    """upres's step with D run again for D's loss. Only without D input noise (the check has none): the stored
    inputs already carry it, and the second pass would add more."""
    backward, d_step = gan_step.generator_backward, gan_step.discriminator_step

    def free_graph(loss, net_g, scaler=None, keep_graph=True, params=None):
        backward(loss, net_g, scaler, keep_graph=False, params=params)

    def d_again(net_d, opt_d, gan_loss, outs=None, **kw):
        sr, gt = outs.fake_input.detach(), outs.real_input.detach()
        return d_step(net_d, opt_d, gan_loss, None, sr=sr, gt=gt, **kw)

    gan_step.generator_backward, gan_step.discriminator_step = free_graph, d_again
    try:
        yield
    finally:
        gan_step.generator_backward, gan_step.discriminator_step = backward, d_step


def bench_gan_variants(sizes: Sizes, device: torch.device, work: Path) -> tuple[dict, list[Row]]:
    base, _ = bare_rate(sizes, device, work, gan=True)
    reuse, _ = bare_rate(sizes, device, work, gan=True, d_reuse=True)
    # Each upres run in a folder of its own: a run's log is read back for its rate.
    runs = [work / f"gan_variant_{i}" for i in range(3)]
    for folder in runs:
        folder.mkdir(exist_ok=True)
    upres, losses, wait = upres_rate(sizes, device, runs[0], gan=True, compiled=False)
    in_process = dataclasses.replace(sizes, train_workers=0)
    upres0, _, wait0 = upres_rate(in_process, device, runs[1], gan=True, compiled=False)
    with separate_d_passes():
        upres_sep, losses_sep, wait_sep = upres_rate(sizes, device, runs[2], gan=True, compiled=False)
    data = {
        "bare_it_per_s": base,
        "bare_d_reuse_it_per_s": reuse,
        "upres_it_per_s": upres,
        "upres_workers0_it_per_s": upres0,
        "upres_separate_d_it_per_s": upres_sep,
        "upres_last_losses": losses,
        "upres_separate_d_last_losses": losses_sep,
        "upres_data_wait": {"workers": wait, "workers0": wait0, "separate_d": wait_sep},
    }
    ref = f"{base:.2f} it/s (bare loop, BasicSR's four D passes)"
    rows = [
        Row("GAN variant: bare loop with upres's two D passes", f"{reuse:.2f} it/s", ref, reuse / base),
        Row(
            f"GAN variant: `upres train`, {sizes.train_workers} loader workers",
            f"{upres:.2f} it/s ({wait:.0%} waiting for data)",
            ref,
            upres / base,
        ),
        Row(
            "GAN variant: `upres train`, loader in the main process",
            f"{upres0:.2f} it/s ({wait0:.0%} waiting for data)",
            ref,
            upres0 / base,
        ),
        Row(
            "GAN variant: `upres train`, BasicSR's D passes",
            f"{upres_sep:.2f} it/s ({wait_sep:.0%} waiting for data)",
            ref,
            upres_sep / base,
        ),
    ]
    return data, rows
