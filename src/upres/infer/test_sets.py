"""`upres test`'s work: a model over an option file's val/test sets, saving each upscaled image and, where the set
has ground truth and metrics are on, scoring it.

Like traiNNer-redux's test.py, LR-only sets (`singleimagedataset`) are upscaled and saved without metrics, and the
saved file is the model's output itself (`<set>/<name>[_<suffix>].png`); comparison strips are optional.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from upres.data.bad_samples import BadSampleError
from upres.data.options import DatasetOptions, as_list
from upres.data.resize import imresize
from upres.infer.autotile import retry_halving
from upres.infer.tiling import Upscaler
from upres.io.images import ImageReadError, tensor_to_array, write_image

log = logging.getLogger("upres.test")


@dataclass
class SetResult:
    """What one set gave: images written, metric means (None: not scored, and why), images that failed."""

    images: int = 0
    written: list[Path] = field(default_factory=list)
    metrics: dict[str, float] | None = None
    unscored: str | None = None
    failed: list[str] = field(default_factory=list)


def root_labels(roots: list[str]) -> list[str]:
    """Sub-folder names that keep the outputs of several dataset roots apart (their folder names, made unique)."""
    labels: list[str] = []
    for k, root in enumerate(roots):
        name = Path(root).name or f"root{k}"
        labels.append(name if name not in labels else f"{name}-{k}")
    return labels


def output_name(source: Path, roots: list[str], suffix: str | None) -> str:
    """`sub/dir/stem[_suffix].png` relative to the dataset root holding `source` (its stem when none does); with
    several roots, under the root's folder name, so `lr/0.png` and `lr2/0.png` both keep their result."""
    labels = root_labels(roots)
    for root, label in zip(roots, labels, strict=True):
        try:
            stem = source.with_suffix("").resolve().relative_to(Path(root).resolve())
        except ValueError:
            continue
        if len(roots) > 1:
            stem = Path(label) / stem
        break
    else:
        stem = Path(source.stem)
    name = f"{stem.name}_{suffix}" if suffix else stem.name
    return (stem.parent / f"{name}.png").as_posix()


def _item(dataset: Dataset, index: int) -> dict:
    load = getattr(dataset, "load", None)
    if load is not None:
        from upres.data.augment import sample_rng

        return load(index, sample_rng(0, 0, index))
    return dataset[index]


@torch.no_grad()
def run_set(
    upscaler: Upscaler,
    dataset: Dataset,
    opts: DatasetOptions,
    out_dir: Path,
    *,
    metrics: list,
    scale: int,
    tile: int = 0,
    overlap: int = 16,
    suffix: str | None = None,
    save_images: bool = True,
    strips: bool = False,
    inputs: set[Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SetResult:
    """Upscale every image of one set into out_dir; mean of each metric over the images that have ground truth.
    An image that fails is listed in the result's `failed` (the command prints each once, at the end)."""
    result = SetResult()
    roots = as_list(opts.dataroot_lq) or as_list(opts.dataroot_gt)
    sums = {m.name: 0.0 for m in metrics}
    scored = 0
    taken: dict[str, str] = {}
    for i in range(len(dataset)):
        try:
            item = _item(dataset, i)
        except (BadSampleError, ImageReadError) as exc:
            result.failed.append(str(exc))
            continue
        source = Path(item.get("lq_path") or item.get("gt_path"))
        lq = item["lq"][None]
        sr = retry_halving(
            lambda t, lq=lq: upscaler(lq, tile=t, overlap=overlap),
            tile,
            max(lq.shape[-2:]),
            lambda t: log.warning(
                "out of memory, retrying with tile %d (set val.tile_size to avoid this)", t
            ),
        )
        result.images += 1
        gt = item.get("gt")
        if gt is not None and metrics and (why := _too_small(gt, metrics, scale)):
            # One such image ended the whole run before anything was written; it is left unscored, as eval does.
            result.failed.append(f"{source}: not scored: {why}")
        elif gt is not None and metrics:
            for m in metrics:
                sums[m.name] += float(m(sr, gt[None]).sum())
            scored += 1
        if save_images:
            name = output_name(source, roots, suffix)
            target = out_dir / name
            problem = _clash(name, target, source, taken, inputs, out_dir)
            if problem:
                result.failed.append(problem)
                continue
            strip_name = f"strips/{name}"
            if strips and (
                problem := _clash(strip_name, out_dir / strip_name, source, taken, inputs, out_dir)
            ):
                result.failed.append(problem)
                continue
            taken[name] = str(source)
            try:
                result.written.append(write_image(target, tensor_to_array(sr[0])))
                if strips:
                    taken[strip_name] = f"{source} (its comparison strip)"
                    panels = [imresize(lq, scale).clamp(0, 1)[0], sr[0]] + ([gt] if gt is not None else [])
                    write_image(out_dir / strip_name, tensor_to_array(torch.cat(panels, dim=2)))
            except (
                OSError
            ) as exc:  # one unwritable output (a folder in the way, a full disk) fails its image only
                problem = (
                    f"{source}: not saved, cannot write {exc.filename or target} ({exc.strerror or exc})"
                )
                result.failed.append(problem)
                continue
        if progress is not None:
            progress(i + 1, len(dataset))
    if not metrics:
        result.unscored = "metrics off"
    elif scored == 0 and opts.type == "singleimagedataset":
        result.unscored = f"{opts.type} has no ground truth"
    elif scored == 0:
        result.unscored = f"no pair could be scored ({len(result.failed)} failed, named above)"
    else:
        result.metrics = {name: total / scored for name, total in sums.items()}
    return result


def _too_small(gt: torch.Tensor, metrics: list, scale: int) -> str | None:
    """Why `gt` is too small to score with every metric after its crop_border (PSNR of nothing is NaN, SSIM raises)."""
    from upres.metrics.evaluate import SSIM_WINDOW

    h, w = gt.shape[-2:]
    side = min(h // scale * scale, w // scale * scale)
    for m in metrics:
        kind = m.options.type.lower()
        need = SSIM_WINDOW if kind in ("calculate_ssim", "ssim") else 1
        left = side - 2 * m.options.crop_border
        if left < need:
            return (
                f"{side} pixels on its short side, {max(left, 0)} after val.metrics.{m.name}.crop_border "
                f"{m.options.crop_border}, but {m.options.type} needs at least {need}"
            )
    return None


def _clash(
    name: str, target: Path, source: Path, taken: dict[str, str], inputs: set[Path] | None, out_dir: Path
) -> str | None:
    """Why writing `target` would lose data (another image's output, or an input image), or None."""
    if not target.resolve().is_relative_to(out_dir.resolve()):
        return f"{source}: not saved, its output {target} is outside the results folder {out_dir}"
    if name in taken:
        return f"{source}: not saved, its output {target} is also {taken[name]}'s (the same name)"
    if inputs is not None and target.resolve() in inputs:
        return f"{source}: not saved, its output {target} is an input image; choose another -o folder"
    return None
