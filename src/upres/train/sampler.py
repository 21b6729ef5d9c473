"""Data order as a pure function of (seed, epoch, position), so a resumed run sees exactly the same batches.

Each global batch holds `batch_size * world_size` samples of one epoch's permutation; rank r takes its slice, so two
processes with batch b see the same samples as one process with batch 2b. Items are `(epoch, index)` pairs: datasets
derive their random crops from them, independent of worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class ResumableBatchSampler:
    def __init__(
        self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1, start: int = 0
    ):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = size // (batch_size * world_size)
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"the dataset has {size} samples, fewer than one batch of {batch_size * world_size}"
            )
        self.start = start  # global batch counter to begin at

    def permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.size, generator=g)

    def position(self, batch_counter: int) -> tuple[int, int]:
        return divmod(batch_counter, self.batches_per_epoch)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        counter = self.start
        epoch, _ = self.position(counter)
        perm = self.permutation(epoch)
        while True:
            e, b = self.position(counter)
            if e != epoch:
                epoch, perm = e, self.permutation(e)
            global_batch = self.batch_size * self.world_size
            first = b * global_batch + self.rank * self.batch_size
            yield [(epoch, int(i)) for i in perm[first : first + self.batch_size]]
            counter += 1
