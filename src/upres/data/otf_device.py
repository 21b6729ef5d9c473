"""`degrade_on: device`: the on-the-fly degradations applied on the training device instead of in the loader workers.

The workers read and crop the GT as always and stop before degrading: each item carries its crop with the margin,
the state of its numpy generator at that point and its noise seed. Since every draw of the pipeline depends on image
sizes only, restoring that state here draws the same kernels, scales, noise levels, JPEG qualities and orders the
workers would have, and the same place for the pair inside the degraded crop. What differs from the workers' LR:
the noise pixels come from a generator on the device (CUDA's differ from the CPU's for one seed; on the CPU they
are equal). JPEG is upres's codec in torch ops, which computes what libjpeg-turbo computes (equal to Pillow's
output where Pillow is built on it). Video compression, error-diffusion dithering and adaptive palettes have no
device version: the samples that draw them go through the CPU and back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from upres.data.degradations.pipeline import degrade
from upres.data.otf_dataset import RealESRGANDataset


def defer_degradations(train_set: object, device: torch.device, note: Callable[[str], None]) -> None:
    """`degrade_on: device`: the workers stop before degrading and the feed degrades each batch on `device`."""
    if not isinstance(train_set, RealESRGANDataset):  # set-up refuses the mixed dataset in its own words
        raise TypeError(f"degrade_on: device needs a RealESRGANDataset, not {type(train_set).__name__}")
    train_set.deferred = True
    d = train_set.degradations
    # Ordered and plain dithering to a uniform palette are torch operations; error diffusion and adaptive palettes
    # are Pillow's.
    pillow_dither = d.dither_prob > 0 and (
        "floyd_steinberg" in d.dither_method_list or "adaptive" in d.dither_palette_list
    )
    steps = [n for n, on in (("video compression", d.video_prob > 0),
                             ("error-diffusion and adaptive-palette dithering", pillow_dither)) if on]  # fmt: skip
    note(
        f"degrade_on: device: the degradations run on {device} with the workers' random draws, JPEG by upres's torch "
        "codec (libjpeg-turbo's arithmetic)"
        + (f"; {' and '.join(steps)} go through the CPU (no device version)" if steps else "")
        + (
            "; on a CPU this only moves the workers' work into the training process (degrade_on: workers is faster)"
            if device.type == "cpu"
            else ""
        )
    )


def restored_generators(draws: str, device: torch.device) -> tuple[np.random.Generator, torch.Generator]:
    """The worker's generators as they stood before degrading: numpy's from its saved state, torch's (the noise
    pixels) seeded as the worker's was, on `device`."""
    saved = json.loads(draws)
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = saved["numpy"]
    gen = torch.Generator(device=device)
    gen.manual_seed(int(saved["noise_seed"]))
    return rng, gen


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """TF32 off for the degradations' convolutions and matrix products (small blur kernels, USM, Lanczos), then as it
    was: cuDNN runs float32 convolutions in TF32 by default on Ampere and newer GPUs, and `fast_matmul` does the same
    for products, whose 10-bit mantissas put results about a quarter of an 8-bit level off the workers' float32."""
    convs, products = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = convs
        torch.set_float32_matmul_precision(products)


def degrade_batch(
    dataset: RealESRGANDataset, batch: dict[str, Any], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(lq, gt) on `device` from a batch of deferred items (`dataset.deferred`), each degraded with its own draws."""
    with full_float32():
        return _degrade_each(dataset, batch, device)


def _degrade_each(
    dataset: RealESRGANDataset, batch: dict[str, Any], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    big = batch["gt_big"].to(device, non_blocking=True)
    lqs, gts = [], []
    for i, draws in enumerate(batch["draws"]):
        rng, gen = restored_generators(draws, device)
        # One sample at a time: each draws its own resize scales, so the intermediate sizes differ per sample.
        lq_big = degrade(big[i], dataset.degradations, dataset.scale, rng, gen, jpeg="torch")
        lq, gt = dataset.cut_pair(big[i], lq_big, rng)
        lqs.append(lq)
        gts.append(gt)
    return torch.stack(lqs), torch.stack(gts)
