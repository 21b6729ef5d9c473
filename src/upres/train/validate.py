"""Validation on the EMA generator: metrics per dataset, comparison strips (bicubic | output | ground truth)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from upres.data.augment import sample_rng
from upres.data.bad_samples import BadSampleError
from upres.data.options import as_list
from upres.data.paired import quantize
from upres.data.resize import imresize
from upres.errors import ConfigError
from upres.infer.autotile import retry_halving
from upres.infer.test_sets import output_name
from upres.infer.tiling import Upscaler
from upres.io.images import ImageReadError, tensor_to_array, write_image
from upres.io.names import fitted_name
from upres.train.config import MetricOptions, ValOptions
from upres.train.crops import Crops, cut, detail_box

log = logging.getLogger("upres.train")


@dataclass
class Metric:
    name: str
    fn: Callable[..., torch.Tensor]
    higher_is_better: bool
    options: MetricOptions

    def __call__(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        # The output as a written 8-bit file holds it, as `upres eval` scores it: PSNR/SSIM round it anyway, LPIPS,
        # DISTS and TOPIQ scored the raw floats, so validation and `upres test` differed from eval's figure.
        saved = quantize(sr, 8)
        return self.fn(saved, gt, self.options.crop_border, self.options.test_y_channel)


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
        if opts.better is not None and (opts.better == "higher") != higher:
            # Obeyed, it kept the worst model as net_g_best and stopped early on improvement.
            raise ConfigError(
                f"val.metrics.{name}.better: {opts.better!r}, but {opts.type} is "
                f"{'higher' if higher else 'lower'}-is-better; remove the key (upres knows each metric's direction)"
            )
        metrics.append(Metric(name, fn, higher, opts))
    return metrics


def _item(dataset: Dataset, index: int) -> dict:
    """Item `index` as it is, without the training-time replacement of bad samples."""
    load = getattr(dataset, "load", None)
    return load(index, sample_rng(0, 0, index)) if load is not None else dataset[index]


@dataclass
class ImageResult:
    name: str
    values: dict[str, float]
    bicubic: dict[str, float] | None = None  # the same metrics for bicubic upscaling of the same LR
    crops: Crops | None = None


@dataclass
class SetResult:
    """One validation set at one iteration: the means, and every image's scores (and comparison crops)."""

    means: dict[str, float]
    images: list[ImageResult] = field(default_factory=list)
    bicubic: dict[str, float] | None = None
    left_out: list[str] = field(default_factory=list)  # why each image that could not be read was left out


class TileMemory:
    """The tile validation starts each image with: val.tile_size until an image runs out of memory, then the tile
    that image came down to. Every image of every validation started again from the whole image, ran out of memory,
    and said so: a line and a failed attempt per image, each validation."""

    def __init__(self, tile_size: int) -> None:
        self.tile = tile_size

    def came_down_to(self, tile: int, set_name: str) -> None:
        self.tile = tile
        log.warning(
            "validation %s: out of memory, retrying with tile %d, and starting from it from now on (set "
            "val.tile_size: %d to avoid the retries)",
            set_name,
            tile,
            tile,
        )


# (set name, images done, images in the set) after each image: validation of a large set takes a while.
Progress = Callable[[str, int, int], None]


@torch.no_grad()
def run_validation(
    upscaler: Upscaler,
    datasets: dict[str, Dataset],
    metrics: list[Metric],
    val: ValOptions,
    scale: int,
    out_dir: Path | None,
    iteration: int,
    with_bicubic: bool = False,
    with_crops: bool = False,
    progress: Progress | None = None,
    tiles: TileMemory | None = None,
) -> dict[str, SetResult]:
    """Each metric per image and per validation set; strips saved under out_dir/<set>/<iteration>_<name>.png.

    with_bicubic: also score bicubic upscaling of the same LR with the same metrics (the baseline the model must
    beat); with_crops: keep 1:1 crops of each image's most detailed region for the report; tiles: the tile an
    earlier out of memory came down to, kept for the next images and validations."""
    tiles = tiles if tiles is not None else TileMemory(val.tile_size)
    results: dict[str, SetResult] = {}
    save_img = val.save_img and out_dir is not None
    for set_name, dataset in datasets.items():
        images: list[ImageResult] = []
        scored: list[ImageResult] = []  # those with ground truth (an LR-only set has none)
        left_out: list[str] = []
        for i in range(len(dataset)):
            try:
                item = _item(dataset, i)
            except (BadSampleError, ImageReadError) as exc:
                # Validation never stands in another image for a bad one, and never stops the run over it; the
                # caller says so (the means are then over fewer images than the best and the baseline were).
                left_out.append(str(exc))
                continue
            lq = item["lq"][None]
            gt = (
                item["gt"][None] if "gt" in item else None
            )  # an LR-only set (singleimagedataset): pictures only
            # Validation shares the GPU with training: out of memory, it retries in smaller tiles instead of failing.
            sr = retry_halving(
                lambda tile, lq=lq: upscaler(lq, tile=tile, overlap=val.tile_overlap),
                tiles.tile,
                max(lq.shape[-2:]),
                lambda tile, set_name=set_name: tiles.came_down_to(tile, set_name),
            )
            name = _image_name(Path(item["lq_path"]), dataset)
            need_bicubic = with_bicubic or with_crops or (val.save_img and out_dir is not None)
            bicubic = imresize(lq, scale).clamp(0, 1) if need_bicubic else None
            try:
                result = ImageResult(
                    name, {m.name: float(m(sr, gt).sum()) for m in metrics} if gt is not None else {}
                )
                if with_bicubic and gt is not None:
                    result.bicubic = {m.name: float(m(bicubic, gt).sum()) for m in metrics}
            # A picture replaced mid-run by one the metric cannot score (SSIM's 11x11 window).
            except ValueError as exc:
                left_out.append(f"{item.get('gt_path', item['lq_path'])}: {exc}")
                continue
            if with_crops and gt is not None:
                result.crops = cut(detail_box(gt, scale), scale, lq, bicubic, sr, gt)
            images.append(result)
            if gt is not None:
                scored.append(result)
            if save_img:
                strip = torch.cat([bicubic[0], sr[0]] + ([gt[0]] if gt is not None else []), dim=2)
                # sub/dir/stem: images of one stem in two sub-folders each keep their picture
                where = Path(name)
                path = out_dir / set_name / where.parent / fitted_name(f"{iteration}_{where.name}", ".png")
                try:
                    write_image(path, tensor_to_array(strip))
                except OSError as exc:  # a full disk: the scores still count, the pictures wait for space
                    log.warning(
                        "validation @ %d: could not write %s (%s); no more images this validation, scores go on",
                        iteration,
                        path,
                        exc.strerror or exc,
                    )
                    save_img = False
            if progress is not None:
                progress(set_name, i + 1, len(dataset))
        results[set_name] = SetResult(
            _means([r.values for r in scored], metrics) if scored else {},
            images,
            _means([r.bicubic for r in scored], metrics) if with_bicubic and scored else None,
            left_out,
        )
    return results


def _image_name(source: Path, dataset: Dataset) -> str:
    """`sub/dir/stem` of an image relative to its dataset root (under the root's folder name when there are
    several), as `upres test` names its results; the stem alone made `a/0001.png` and `b/0001.png` one image."""
    opts = getattr(dataset, "opts", None)
    if opts is None:
        return source.stem
    lq_roots, gt_roots = as_list(opts.dataroot_lq), as_list(opts.dataroot_gt)
    inside = [r for r in lq_roots if source.resolve().is_relative_to(Path(r).resolve())]
    return output_name(source, lq_roots if inside else gt_roots, None).removesuffix(".png")


def _means(rows: list[dict[str, float]], metrics: list[Metric]) -> dict[str, float]:
    return {m.name: sum(r[m.name] for r in rows) / max(len(rows), 1) for m in metrics}


@dataclass
class BestTracker:
    """Best value and iteration per metric, how many validations since the tracked one improved, and the iteration
    of the latest validation (-1: none), which a resumed run reads to redo one its state was saved before."""

    best: dict[str, tuple[float, int]]
    stale: int = 0
    validated: int = -1
    # Whether the run that saved the state had a validation due at its iteration (None: a state from before this
    # was recorded); with another val.val_freq since, one due now was never started.
    due_at_state: bool | None = None

    def update(
        self, values: dict[str, float], metrics: list[Metric], iteration: int, tracked: str | None
    ) -> bool:
        improved_tracked = False
        for m in metrics:
            if m.name not in values:
                continue
            v = values[m.name]
            old = self.best.get(m.name)
            # A NaN score (a blown-up model) is never a best: nothing compares greater than it, so it stayed the
            # best for good, net_g_best was written from that model, and every later validation counted as stale.
            better = not math.isnan(v) and (
                old is None or math.isnan(old[0]) or (v > old[0] if m.higher_is_better else v < old[0])
            )
            if better:
                self.best[m.name] = (v, iteration)
            if m.name == tracked:
                improved_tracked = better
        self.stale = 0 if improved_tracked else self.stale + 1
        self.validated = iteration
        return improved_tracked
