"""Data order as a pure function of (seed, epoch, position), so a resumed run sees exactly the same batches.

Each optimizer step consumes `batch_size * accum_iter * world_size` samples of one epoch's permutation; micro-batch j
of rank r takes its own slice, so two processes with batch b, or one with batch b and accum_iter 2, see the same
samples as one process with batch 2b. Items are `(epoch, index)` pairs: datasets
derive their random crops from them, independent of worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from upres.errors import ConfigError

# One epoch's order is a permutation of int64 indices: 2 GiB at this many samples. 4 images x dataset_enlarge_ratio
# 10^9 asked for 32 GB and ended in "out of memory ... lower batch_size_per_gpu".
MAX_EPOCH_SAMPLES = 1 << 28


def check_epoch_size(size: int, enlarge_ratio: int) -> None:
    if size > MAX_EPOCH_SAMPLES:
        raise ConfigError(
            f"datasets.train.dataset_enlarge_ratio {enlarge_ratio}: {size:,} samples an epoch, whose shuffled order "
            f"needs {size * 8 / 2**30:.0f} GiB; use at most {MAX_EPOCH_SAMPLES // max(size // enlarge_ratio, 1):,} "
            "(1 is enough: upres's sampler never runs out of data)"
        )


def epoch_size_words(size: int, ratio: int) -> str:
    """How a training set of `size` samples is told: 6 images, or 6 images x dataset_enlarge_ratio 5 = 30 samples
    (a bare 30 was read as the number of images)."""
    if ratio == 1:
        return f"{size} images"
    return f"{size // ratio} images x dataset_enlarge_ratio {ratio} = {size} samples"


def steps_per_epoch(size: int, batch_size: int, world_size: int = 1, accum: int = 1) -> int:
    """Optimizer steps in one epoch: whole steps only (the rest of the permutation is left out)."""
    return size // (batch_size * world_size * accum)


class ResumableBatchSampler:
    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        accum: int = 1,
        start: int = 0,
    ):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size, self.accum = rank, world_size, accum
        self.step_samples = batch_size * world_size * accum
        self.steps_per_epoch = steps_per_epoch(size, batch_size, world_size, accum)
        if self.steps_per_epoch == 0:
            raise ValueError(f"the dataset has {size} samples, fewer than one step's {self.step_samples}")
        self.start = start  # micro-batch counter to begin at

    def permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.size, generator=g)

    def position(self, micro_counter: int) -> tuple[int, int, int]:
        """(epoch, optimizer step within the epoch, micro-batch within the step)."""
        step, micro = divmod(micro_counter, self.accum)
        epoch, step_in_epoch = divmod(step, self.steps_per_epoch)
        return epoch, step_in_epoch, micro

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        counter = self.start
        epoch = self.position(counter)[0]
        perm = self.permutation(epoch)
        while True:
            e, step, micro = self.position(counter)
            if e != epoch:
                epoch, perm = e, self.permutation(e)
            first = step * self.step_samples + (micro * self.world_size + self.rank) * self.batch_size
            yield [(epoch, int(i)) for i in perm[first : first + self.batch_size]]
            counter += 1
