"""`degrade_on: device`: the on-the-fly degradations applied on the training device instead of in the loader workers.

The workers read and crop the GT as always and stop before degrading: each item carries its crop with the margin,
the state of its numpy generator at that point and its noise seed. Since every draw of the pipeline depends on image
sizes only, restoring that state here draws the same kernels, scales, noise levels, JPEG qualities and orders the
workers would have, and the same place for the pair inside the degraded crop. What differs from the workers' LR:
the noise pixels come from a generator on the device (CUDA's differ from the CPU's for one seed; on the CPU they
are equal). JPEG is upres's codec in torch ops, which computes what libjpeg-turbo computes (equal to Pillow's
output where Pillow is built on it); each JPEG pass codes the samples of similar sizes as one batch. Video
compression, error-diffusion dithering and adaptive palettes have no device version: the samples that draw them go
through the CPU and back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from upres.data.degradations.jpeg_torch import jpeg_compress_torch
from upres.data.degradations.pipeline import (
    JpegDraws,
    final_draws,
    final_resize,
    first_pass,
    jpeg_draws,
    last_steps,
    round_to_8_bits,
    second_pass,
    sharpen,
)
from upres.data.otf_dataset import RealESRGANDataset

# How much larger than its pictures a shared JPEG canvas may be. One canvas for a whole batch (x4plus, lq 64, batch
# 16) would cut the device's operations to 78 a sample but code 3.2x the pictures' pixels; at 1.5 they are 106 and
# 1.47x (364 when each sample coded its own; bench/bench_otf_sample.py --device-ops, docs/benchmarks.md).
WASTE = 1.5


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
    """`degrade`'s stages one sample at a time, each sample with its own generators (each draws its own resize
    scales, so the sizes between the resizes differ per sample); each JPEG pass codes samples of similar sizes at
    once, and gt_usm (nothing drawn) sharpens the whole batch."""
    opts, scale = dataset.degradations, dataset.scale
    big = batch["gt_big"].to(device, non_blocking=True)
    h, w = big.shape[-2:]
    gens = [restored_generators(draws, device) for draws in batch["draws"]]
    if opts.lq_usm:  # each sample draws its radius
        sharpened = [sharpen(big[i : i + 1], opts, rng) for i, (rng, _) in enumerate(gens)]
    else:
        sharpened = list(sharpen(big, opts, None).split(1))
    xs = [first_pass(x, opts, rng, gen) for x, (rng, gen) in zip(sharpened, gens, strict=True)]
    xs = _jpeg_each(xs, [jpeg_draws(rng, 1, opts.jpeg_prob, opts.jpeg_range, opts) for rng, _ in gens])
    xs = [second_pass(x, opts, rng, gen, (h, w), scale) for x, (rng, gen) in zip(xs, gens, strict=True)]
    finals = [final_draws(rng, 1, opts) for rng, _ in gens]
    lr_size = (h // scale, w // scale)
    xs = [final_resize(x, f, lr_size) if f.resize_first else x for x, f in zip(xs, finals, strict=True)]
    xs = _jpeg_each(xs, [f.jpeg for f in finals])
    xs = [x if f.resize_first else final_resize(x, f, lr_size) for x, f in zip(xs, finals, strict=True)]
    lq_big = round_to_8_bits(
        torch.cat([last_steps(x, rng, opts) for x, (rng, _) in zip(xs, gens, strict=True)])
    )
    pairs = [dataset.cut_pair(big[i], lq_big[i], rng) for i, (rng, _) in enumerate(gens)]
    return torch.stack([lq for lq, _ in pairs]), torch.stack([gt for _, gt in pairs])


def _jpeg_each(xs: list[torch.Tensor], draws: list[JpegDraws]) -> list[torch.Tensor]:
    """The samples that drew a JPEG pass coded a few batches at once: pictures of similar sizes share a canvas."""
    chosen = [i for i, d in enumerate(draws) if d.apply[0]]
    out = list(xs)
    for group in _similar_sizes([tuple(xs[i].shape[-2:]) for i in chosen]):
        members = [chosen[k] for k in group]
        sizes = [tuple(xs[i].shape[-2:]) for i in members]
        canvas = xs[0].new_zeros(
            (len(members), xs[0].shape[1], max(h for h, _ in sizes), max(w for _, w in sizes))
        )
        for k, ((h, w), i) in enumerate(zip(sizes, members, strict=True)):
            canvas[k, :, :h, :w] = xs[i][0]
        quality = [int(draws[i].quality[0]) for i in members]
        coded = jpeg_compress_torch(canvas, quality, [draws[i].subsampling[0] for i in members], sizes=sizes)
        for k, ((h, w), i) in enumerate(zip(sizes, members, strict=True)):
            out[i] = coded[k : k + 1, :, :h, :w]
    return out


def _similar_sizes(sizes: list[tuple[int, int]], waste: float = WASTE) -> list[list[int]]:
    """Indices of `sizes` in groups whose canvas (the largest height by the largest width, once per member) covers
    at most `waste` times their pictures: a batch operation per group on a GPU's host, and little work on padding."""
    groups: list[list[int]] = []
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i][0] * sizes[i][1]):
        if groups:
            grown = [sizes[j] for j in groups[-1]] + [sizes[i]]
            canvas = len(grown) * max(h for h, _ in grown) * max(w for _, w in grown)
            if canvas <= waste * sum(h * w for h, w in grown):
                groups[-1].append(i)
                continue
        groups.append([i])
    return groups
