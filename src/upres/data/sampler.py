"""A sampler that makes every training sample a pure function of (seed, epoch, position): exact resume.

It yields `(epoch, index)` pairs; the datasets seed their crops and flips from them, so the samples do not depend on
the worker count, on `persistent_workers`, or on whether the run was resumed mid-epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class EpochSampler(Sampler[tuple[int, int]]):
    """Shuffled (by seed and epoch) indices of one epoch, this rank's share, from position `start` on."""

    def __init__(
        self, length: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1
    ) -> None:
        if length < 1:
            raise ValueError("EpochSampler needs a dataset with at least one sample")
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Begin `epoch` at this rank's sample number `start` (resume: samples already consumed this epoch)."""
        self.epoch = epoch
        self.start = start

    def order(self) -> np.ndarray:
        idx = (
            np.random.default_rng([self.seed, self.epoch]).permutation(self.length)
            if self.shuffle
            else np.arange(self.length)
        )
        # Pad by wrapping so every rank gets the same count (DistributedSampler's rule).
        per_rank = -(-self.length // self.world_size)
        idx = np.resize(idx, per_rank * self.world_size)
        return idx[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i in self.order()[self.start :]:
            yield (self.epoch, int(i))

    def __len__(self) -> int:
        return -(-self.length // self.world_size) - self.start
