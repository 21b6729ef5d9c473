"""Validation on the EMA generator: metrics per dataset, comparison strips (bicubic | output | ground truth)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from upres.data.augment import sample_rng
from upres.data.bad_samples import BadSampleError
from upres.data.resize import imresize
from upres.errors import ConfigError
from upres.infer.autotile import retry_halving
from upres.infer.tiling import Upscaler
from upres.io.images import ImageReadError, tensor_to_array, write_image
from upres.train.config import MetricOptions, ValOptions

log = logging.getLogger("upres.train")


@dataclass
class Metric:
    name: str
    fn: Callable[..., torch.Tensor]
    higher_is_better: bool
    options: MetricOptions

    def __call__(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        return self.fn(sr, gt, self.options.crop_border, self.options.test_y_channel)


def build_metrics(
    val: ValOptions, device: torch.device | str = "cpu", notes: list[str] | None = None
) -> list[Metric]:
    """The metrics of `val.metrics`; a pyiqa metric that cannot load here is left out with a note, never a crash."""
    from upres.metrics.registry import METRIC_NAMES, MetricUnavailable, build_metric

    metrics = []
    for name, opts in val.metrics.items():
        try:
            fn, higher = build_metric(opts.type, device)
        except MetricUnavailable as exc:
            if notes is not None:
                notes.append(f"val.metrics.{name} ({opts.type}) skipped: {exc}")
            continue
        except KeyError:
            raise ConfigError(
                f"val.metrics.{name}.type {opts.type!r} is not available; available: {', '.join(METRIC_NAMES)}"
            ) from None
        if opts.better is not None:
            higher = opts.better == "higher"
        metrics.append(Metric(name, fn, higher, opts))
    return metrics


def _item(dataset: Dataset, index: int) -> dict:
    """Item `index` as it is, without the training-time replacement of bad samples."""
    load = getattr(dataset, "load", None)
    return load(index, sample_rng(0, 0, index)) if load is not None else dataset[index]


@torch.no_grad()
def validate(
    upscaler: Upscaler,
    datasets: dict[str, Dataset],
    metrics: list[Metric],
    val: ValOptions,
    scale: int,
    out_dir: Path | None,
    iteration: int,
) -> dict[str, dict[str, float]]:
    """Mean of each metric per validation set; strips saved under out_dir/<set>/<iteration>_<name>.png."""
    results: dict[str, dict[str, float]] = {}
    for set_name, dataset in datasets.items():
        sums = {m.name: 0.0 for m in metrics}
        count = 0
        for i in range(len(dataset)):
            try:
                item = _item(dataset, i)
            except (BadSampleError, ImageReadError) as exc:
                # Validation never stands in another image for a bad one, and never stops the run over it.
                log.warning("validation %s: leaving out a bad image (%s)", set_name, exc)
                continue
            lq, gt = item["lq"][None], item["gt"][None]
            # Validation shares the GPU with training: out of memory, it retries in smaller tiles instead of failing.
            sr = retry_halving(
                lambda tile, lq=lq: upscaler(lq, tile=tile, overlap=val.tile_overlap),
                val.tile_size,
                max(lq.shape[-2:]),
                lambda tile, set_name=set_name: log.warning(
                    "validation %s: out of memory, retrying with tile %d (set val.tile_size to avoid this)",
                    set_name,
                    tile,
                ),
            )
            for m in metrics:
                sums[m.name] += float(m(sr, gt).sum())
            count += 1
            if val.save_img and out_dir is not None:
                stem = Path(item["lq_path"]).stem
                bicubic = imresize(lq, scale).clamp(0, 1)
                strip = torch.cat([bicubic[0], sr[0], gt[0]], dim=2)
                write_image(out_dir / set_name / f"{iteration}_{stem}.png", tensor_to_array(strip))
        results[set_name] = {name: total / max(count, 1) for name, total in sums.items()}
    return results


@dataclass
class BestTracker:
    """Best value and iteration per metric, and how many validations since the tracked one improved."""

    best: dict[str, tuple[float, int]]
    stale: int = 0

    def update(
        self, values: dict[str, float], metrics: list[Metric], iteration: int, tracked: str | None
    ) -> bool:
        improved_tracked = False
        for m in metrics:
            if m.name not in values:
                continue
            v = values[m.name]
            old = self.best.get(m.name)
            better = old is None or (v > old[0] if m.higher_is_better else v < old[0])
            if better:
                self.best[m.name] = (v, iteration)
            if m.name == tracked:
                improved_tracked = better
        self.stale = 0 if improved_tracked else self.stale + 1
        return improved_tracked
