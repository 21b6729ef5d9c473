"""Random crop corners, flips and 90-degree rotations for (LR, GT) tensor pairs.

Every random choice comes from the `numpy.random.Generator` passed in, so a sample is a pure function of the
generator's seed (datasets derive it from (seed, epoch, index): the same samples whatever the worker count).
"""

from __future__ import annotations

import numpy as np
import torch


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


def crop_corner(
    height: int, width: int, size: int, rng: np.random.Generator, multiple: int = 1, what: str = "image"
) -> tuple[int, int]:
    """(top, left) of a random size x size crop on a `multiple` grid (so a /multiple resize of it is aligned).

    Chosen from the image's size alone, so the caller can then read just that rectangle from the file.
    """
    if height < size or width < size:
        raise ValueError(f"{what} {width}x{height} is smaller than the crop {size}")
    top = int(rng.integers(0, (height - size) // multiple + 1)) * multiple
    left = int(rng.integers(0, (width - size) // multiple + 1)) * multiple
    return top, left


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
