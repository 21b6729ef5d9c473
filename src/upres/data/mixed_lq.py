"""traiNNer-redux's `dataroot_lq_prob`: on-the-fly LR training that sometimes takes the real LR from `dataroot_lq`.

Each item draws its own choice (redux draws one per batch) from a generator of its own, seeded by (seed, epoch,
index), so the OTF and paired draws of a file without the key stay as they were and resume stays exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from upres.data.otf_dataset import RealESRGANDataset
from upres.data.paired import PairedImageDataset
from upres.errors import ConfigError

_STREAM = 0x4C51  # keeps the choice's generator apart from the crop and degradation ones


class MixedLQDataset(Dataset):
    """Items of `otf`, or with probability `prob` the real pair of the same GT image from `paired`."""

    def __init__(
        self, otf: RealESRGANDataset, paired: PairedImageDataset, prob: float, seed: int = 0
    ) -> None:
        if otf.degradations.degrade_on == "device":
            raise ConfigError(
                "degrade_on: device does not combine with dataroot_lq_prob (a batch would mix real LR read by the "
                "workers with LR made on the device); set degrade_on: workers or remove dataroot_lq_prob"
            )
        self.otf, self.paired, self.prob, self.seed = otf, paired, prob, seed
        self.degradations = otf.degradations  # the loop reads the sharpening and pair-pool settings here
        self.epoch = 0
        by_gt = {Path(p.gt).resolve(): i for i, p in enumerate(paired.pairs) if p.lq is not None}
        self.pair_of: list[int] = []
        for path in otf.paths:
            i = by_gt.get(Path(path).resolve())
            if i is None:
                raise ConfigError(
                    f"dataroot_lq_prob: {path} has no LR in datasets.train.dataroot_lq; give every GT image its LR "
                    "(same relative path and stem, or filename_tmpl)"
                )
            self.pair_of.append(i)

    def __len__(self) -> int:
        return len(self.otf)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.otf.set_epoch(epoch)
        self.paired.set_epoch(epoch)

    def uses_real_lr(self, epoch: int, index: int) -> bool:
        return bool(np.random.default_rng([self.seed, epoch, index, _STREAM]).uniform() < self.prob)

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        epoch, i = index if isinstance(index, tuple) else (self.epoch, index)
        if self.uses_real_lr(epoch, int(i)):
            return self.paired[(epoch, self.pair_of[int(i) % len(self.pair_of)])]
        return self.otf[(epoch, int(i))]
