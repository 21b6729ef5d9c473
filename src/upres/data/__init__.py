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
    "realesrgandataset": lambda opts, scale, seed: build_otf(opts, scale, seed),
}


def build_otf(opts: DatasetOptions, scale: int, seed: int, top_level: dict | None = None) -> Dataset:
    """HR-only data, LR made on the fly; degradation keys from the dataset block and the file's top level."""
    from upres.data.otf_dataset import build_realesrgan_dataset

    block = {**opts.model_dump(exclude={"degradation"}), **opts.degradation}
    return build_realesrgan_dataset(block, scale, seed, top_level)


def build_dataset(opts: DatasetOptions, scale: int, seed: int = 0) -> Dataset:
    """Make the dataset `opts.type` names, for a model of this scale; `seed` fixes every crop and flip."""
    if opts.scale is not None and opts.scale != scale:
        raise ConfigError(
            f"dataset {opts.name or opts.type!r}: scale {opts.scale} differs from the top-level scale {scale}; "
            "remove the dataset's scale (the top-level scale sets it, as traiNNer-redux and BasicSR do)"
        )
    factory = DATASETS.get(opts.type)
    if factory is None:
        raise ConfigError(f"dataset type {opts.type!r} is unknown; use one of: {', '.join(sorted(DATASETS))}")
    return factory(opts, scale, seed)
