"""Aligned random crops, flips and 90-degree rotations for (LR, GT) tensor pairs.

Every random choice comes from the `numpy.random.Generator` passed in, so a sample is a pure function of the
generator's seed (datasets derive it from (seed, epoch, index): the same samples whatever the worker count).
"""

from __future__ import annotations

import numpy as np
import torch


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


def paired_random_crop(
    lq: torch.Tensor, gt: torch.Tensor, lq_size: int, scale: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop lq_size x lq_size from lq and the matching (lq_size * scale)^2 region from gt."""
    h, w = lq.shape[-2:]
    if h < lq_size or w < lq_size:
        raise ValueError(f"LR image {w}x{h} is smaller than lq_size {lq_size}")
    top = int(rng.integers(0, h - lq_size + 1))
    left = int(rng.integers(0, w - lq_size + 1))
    g = lq_size * scale
    return (
        lq[..., top : top + lq_size, left : left + lq_size],
        gt[..., top * scale : top * scale + g, left * scale : left * scale + g],
    )


def random_crop(img: torch.Tensor, size: int, rng: np.random.Generator, multiple: int = 1) -> torch.Tensor:
    """A size x size crop whose corner lies on a `multiple` grid (so a /multiple resize of it is aligned)."""
    h, w = img.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"image {w}x{h} is smaller than the crop {size}")
    top = int(rng.integers(0, (h - size) // multiple + 1)) * multiple
    left = int(rng.integers(0, (w - size) // multiple + 1)) * multiple
    return img[..., top : top + size, left : left + size]


def random_flips(
    tensors: list[torch.Tensor], hflip: bool, rot: bool, rng: np.random.Generator
) -> list[torch.Tensor]:
    """BasicSR's `augment`: horizontal flip (if hflip), vertical flip and transpose (if rot), each with p = 0.5.

    Together the three give all 8 orientations; the same choice applies to every tensor in the list.
    """
    do_h = hflip and rng.random() < 0.5
    do_v = rot and rng.random() < 0.5
    do_t = rot and rng.random() < 0.5
    out = []
    for t in tensors:
        if do_h:
            t = t.flip(-1)
        if do_v:
            t = t.flip(-2)
        if do_t:
            t = t.transpose(-2, -1)
        out.append(t.contiguous())
    return out
