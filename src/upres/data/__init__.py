"""Datasets by the names option files use: an explicit registry, `build_dataset` to make one."""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.data import Dataset

from upres.data.options import DatasetOptions
from upres.data.paired import build_paired
from upres.data.single import build_single
from upres.errors import ConfigError

DatasetFactory = Callable[[DatasetOptions, int, int], Dataset]

DATASETS: dict[str, DatasetFactory] = {
    "pairedimagedataset": build_paired,
    "singleimagedataset": build_single,
    # "realesrgandataset": HR-only with on-the-fly degradations; registered by the degradation module.
}


def build_dataset(opts: DatasetOptions, scale: int, seed: int = 0) -> Dataset:
    """Make the dataset `opts.type` names, for a model of this scale; `seed` fixes every crop and flip."""
    if opts.scale is not None and opts.scale != scale:
        raise ConfigError(
            f"dataset {opts.name or opts.type!r}: scale {opts.scale} differs from the top-level scale {scale}"
        )
    factory = DATASETS.get(opts.type)
    if factory is None:
        raise ConfigError(f"dataset type {opts.type!r} is unknown; use one of: {', '.join(sorted(DATASETS))}")
    return factory(opts, scale, seed)
