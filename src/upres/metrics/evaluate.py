"""Benchmark evaluation: LR made from each ground truth with MATLAB-style bicubic, upscaled, scored like papers.

Ground truth is cropped to a multiple of the scale, the LR is `imresize(gt, 1/scale)` saved at the ground truth's bit
depth (8 bits, or 16 for a 16-bit file, as `upres prepare lr` writes it and training's validation makes it), and PSNR/SSIM
are computed on 8-bit images with a border of `scale` pixels excluded (Y channel unless `y_channel=False`). Extra
full-reference metrics (LPIPS, DISTS, TOPIQ) see the same 8-bit RGB images with the same border excluded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from upres.data.paired import quantize
from upres.data.read import array_to_rgb, read_array
from upres.data.resize import imresize
from upres.errors import UpresError
from upres.io.image_files import list_images, other_files_hint
from upres.metrics.registry import MetricFn
from upres.metrics.torch_metrics import psnr_batch, ssim_batch

SSIM_WINDOW = 11  # the Gaussian window of SSIM (Wang et al.), as psnr_ssim and torch_metrics use it

# (1, 3, h, w) float LR in [0, 1] -> (1, 3, h*scale, w*scale) float in [0, 1]
UpscaleFn = Callable[[torch.Tensor], torch.Tensor]


class ModelScaleError(UpresError):
    """The model's output is not `scale` times its input."""


class NothingScored(UpresError):
    """A folder held images, and none of them could be scored (each is a failed file, not a usage error)."""


@dataclass
class ImageScore:
    name: str
    psnr: float
    ssim: float
    metrics: dict[str, float] = field(default_factory=dict)  # the extra metrics, by name


@dataclass
class FolderResult:
    folder: str
    method: str
    psnr: float
    ssim: float
    images: int
    seconds: float
    per_image: list[ImageScore] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # means of the extra metrics
    # Images that could not be scored (unreadable, too small), {"name", "reason"}: the means leave them out.
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def ground_truth(path: Path, scale: int) -> torch.Tensor:
    """(1, 3, H, W) GT cropped to a multiple of the scale (gray -> RGB, alpha composited on white)."""
    return _crop(array_to_rgb(read_array(path)), scale)


def _crop(gt: torch.Tensor, scale: int) -> torch.Tensor:
    h, w = gt.shape[-2:]
    return gt[None, :, : h - h % scale, : w - w % scale]


def bicubic_lr(gt: torch.Tensor, scale: int, bits: int = 8) -> torch.Tensor:
    """The LR as a `bits`-deep file holds it (a 16-bit ground truth's LR rounded to 8 bits scored lower than the
    same model's validation during training reported)."""
    return quantize(imresize(gt, 1 / scale), bits)


def bicubic_upscaler(scale: int) -> UpscaleFn:
    return lambda lr: imresize(lr, scale).clamp(0, 1)


def evaluate_folder(
    upscale: UpscaleFn,
    folder: str | Path,
    scale: int,
    method: str = "",
    y_channel: bool = True,
    metrics: dict[str, MetricFn] | None = None,
) -> FolderResult:
    """Score one method on every image of a ground-truth folder; seconds count the upscaling only.

    `metrics`: extra full-reference metrics by name (`upres.metrics.registry.build_metric` functions)."""
    folder = Path(folder)
    if not folder.exists():
        raise UpresError(f"{folder}: no such file or folder")
    paths = list_images(folder)
    if not paths:
        raise UpresError(f"{folder}: no images found{other_files_hint([folder])}")
    scores: list[ImageScore] = []
    skipped: list[dict[str, str]] = []
    seconds = 0.0
    for path in paths:
        name = path.relative_to(folder).as_posix() if folder.is_dir() else path.name
        try:
            gt, bits = _scorable(path, scale)
        except UpresError as exc:
            if not folder.is_dir():
                raise  # one file given, and it cannot be scored
            # One bad file does not end the evaluation; the caller reports it and the means say how many they cover.
            reason = str(exc)
            skipped.append({"name": name, "reason": reason.removeprefix(f"{path}: ")})
            continue
        lr = bicubic_lr(gt, scale, bits)
        start = time.perf_counter()
        sr = upscale(lr)
        seconds += time.perf_counter() - start
        if sr.shape != gt.shape:
            raise ModelScaleError(
                f"{path}: output is {sr.shape[-1]}x{sr.shape[-2]}, expected {gt.shape[-1]}x{gt.shape[-2]}; "
                f"is the model really {scale}x?"
            )
        p = psnr_batch(sr, gt, scale, y_channel).item()
        s = ssim_batch(sr, gt, scale, y_channel).item()
        saved = quantize(sr, 8)  # what a written 8-bit output holds
        extra = {metric: float(fn(saved, gt, scale, False).item()) for metric, fn in (metrics or {}).items()}
        scores.append(ImageScore(name, p, s, extra))
    if not scores:
        first = skipped[0]
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise NothingScored(f"{folder}: no image could be scored: {first['name']}: {first['reason']}{more}")
    return FolderResult(
        folder=str(folder),
        method=method,
        psnr=float(np.mean([x.psnr for x in scores])),
        ssim=float(np.mean([x.ssim for x in scores])),
        images=len(scores),
        seconds=seconds,
        per_image=scores,
        metrics={name: float(np.mean([x.metrics[name] for x in scores])) for name in metrics or {}},
        skipped=skipped,
    )


def _scorable(path: Path, scale: int) -> tuple[torch.Tensor, int]:
    """The ground truth of `path` and its bit depth, or an UpresError saying why it cannot be scored."""
    arr = read_array(path)
    full = array_to_rgb(arr)
    h, w = full.shape[-2:]
    if min(h - h % scale, w - w % scale) < SSIM_WINDOW + 2 * scale:
        raise UpresError(
            f"{path}: {w}x{h} is too small to score at x{scale}: SSIM's {SSIM_WINDOW}-pixel window after a "
            f"border of {scale} needs at least {SSIM_WINDOW + 2 * scale} pixels per side"
        )
    return _crop(full, scale), 16 if arr.dtype == np.uint16 else 8


def model_upscaler(
    model_path: str | Path, scale: int, device: str = "auto", precision: str = "fp32", tile: int = 0
) -> UpscaleFn:
    """An UpscaleFn running a generator file through the tiled `Upscaler`."""
    from upres.devices import resolve_single_device
    from upres.infer.render import from_model_planes, to_model_planes
    from upres.infer.tiling import Upscaler, resolve_precision
    from upres.io.model_files import check_finite_weights, load_model

    dev = resolve_single_device(device)
    loaded = load_model(model_path, dev)
    check_finite_weights(loaded, model_path)
    if loaded.info.scale != scale:
        raise UpresError(f"{model_path}: model is {loaded.info.scale}x but --scale is {scale}")
    up = Upscaler(
        loaded.module, scale, dev, resolve_precision(precision, dev), multiple=loaded.info.size_multiple
    )

    def run(lr: torch.Tensor) -> torch.Tensor:
        # The channels as `upres upscale` maps them (a gray model takes each colour plane, an RGBA one gets an opaque
        # alpha): the score is that of the image upscale writes (a raw 3-channel input failed in the first conv).
        out = up(to_model_planes(lr, loaded.info.in_channels), tile=tile)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return from_model_planes(out, lr.shape[1])

    return run


def evaluate(
    methods: dict[str, UpscaleFn],
    folders: list[str | Path],
    scale: int,
    y_channel: bool = True,
    metrics: dict[str, MetricFn] | None = None,
) -> tuple[list[FolderResult], list[UpresError]]:
    """Every method on every folder, folder-major (the order tables are printed in), and the errors of folders that
    gave no result (missing, empty, nothing scorable): one bad folder does not end the others."""
    results, errors = [], []
    for folder in folders:
        try:
            results += [
                evaluate_folder(fn, folder, scale, method=name, y_channel=y_channel, metrics=metrics)
                for name, fn in methods.items()
            ]
        except ModelScaleError:
            raise  # the model, not the folder: every folder would fail alike
        except UpresError as exc:
            errors.append(exc)
    return results, errors
