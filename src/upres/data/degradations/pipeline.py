"""Real-ESRGAN's second-order degradation pipeline, as a sequence of small named steps.

    GT -> [USM] -> blur -> resize -> noise -> JPEG                       (first pass, at GT size)
          -> blur -> resize -> noise                                     (second pass, around LR size)
          -> {resize to LR + sinc, JPEG} in random order -> [video] -> [dither] -> round to 8 bits

Works on (N,C,H,W) batches on any device (kernels and per-sample parameters are drawn per sample; the resize
choice and the final-stage order per batch, as Real-ESRGAN does) or on one (C,H,W) image in a data worker.
Scalar choices come from a numpy Generator, pixel noise from a torch Generator on the image's device, so the same
seeds give the same LR.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch

from upres.data.degradations.blur import (
    filter2d,
    pad_kernels,
    random_blur_kernel,
    random_kernel_size,
    sinc_kernel,
)
from upres.data.degradations.dither import dither
from upres.data.degradations.jpeg import jpeg_compress
from upres.data.degradations.jpeg_torch import jpeg_compress_torch
from upres.data.degradations.noise import gaussian_noise, poisson_noise
from upres.data.degradations.options import DegradationOptions
from upres.data.degradations.resize import choose, random_scale, resize
from upres.data.degradations.sharpen import usm_sharpen
from upres.data.degradations.thicklines import thick_lines
from upres.data.degradations.video import video_compress
from upres.host_to_device import levels_to_unit, upload


def make_generators(
    seed: int | Sequence[int], device: torch.device | str = "cpu"
) -> tuple[np.random.Generator, torch.Generator]:
    """Independent numpy and torch generators from one seed (or a seed sequence such as (seed, epoch, index))."""
    # numpy seeds must be non-negative; fold negatives (e.g. `--seed -1`) into uint64 so they still work.
    parts = [seed] if isinstance(seed, int) else list(seed)
    rng = np.random.default_rng([int(p) % 2**64 for p in parts])
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.integers(0, 2**63 - 1)))
    return rng, gen


def degrade(
    gt: torch.Tensor,
    opts: DegradationOptions,
    scale: int,
    rng: np.random.Generator,
    generator: torch.Generator | None = None,
    jpeg: Literal["libjpeg", "torch"] = "libjpeg",
) -> torch.Tensor:
    """LR of `gt` ((C,H,W) or (N,C,H,W) float in [0, 1]) of size (H // scale, W // scale), 8-bit-rounded.

    `jpeg`: the real libjpeg through Pillow (on the CPU; a GPU image goes there and back), or upres's codec in torch
    ops, which stays on the image's device."""
    check_gt(gt, scale)
    if not isinstance(opts, DegradationOptions):
        raise TypeError(
            f"degrade: opts must be DegradationOptions, not {type(opts).__name__} (for a dict of option keys: "
            "parse_degradation_options(d))"
        )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"degrade: rng must be a numpy Generator, not {type(rng).__name__} (rng, generator = make_generators(seed))"
        )
    if jpeg not in ("libjpeg", "torch"):
        raise ValueError(f"degrade: jpeg must be 'libjpeg' or 'torch', not {jpeg!r}")
    squeeze = gt.dim() == 3
    x = gt.unsqueeze(0) if squeeze else gt
    if generator is None:
        generator = torch.Generator(device=x.device)
        generator.manual_seed(int(rng.integers(0, 2**63 - 1)))
    h, w = x.shape[-2:]
    x = first_pass(sharpen(x, opts, rng), opts, rng, generator)
    x = apply_jpeg(x, jpeg_draws(rng, x.shape[0], opts.jpeg_prob, opts.jpeg_range, opts), jpeg)
    x = second_pass(x, opts, rng, generator, (h, w), scale)
    final = final_draws(rng, x.shape[0], opts)
    lr_size = (h // scale, w // scale)
    x = final_resize(x, final, lr_size) if final.resize_first else x
    x = apply_jpeg(x, final.jpeg, jpeg)
    x = x if final.resize_first else final_resize(x, final, lr_size)
    lq = round_to_8_bits(last_steps(x, rng, opts))
    return lq[0] if squeeze else lq


# The stages below are `degrade` in order; `data/otf_device.py` runs them one sample at a time, with each sample's
# generators, and codes the JPEG passes of a whole batch at once.


def sharpen(x: torch.Tensor, opts: DegradationOptions, rng: np.random.Generator | None) -> torch.Tensor:
    """The GT copy to degrade, unsharp-masked as `lq_usm` (a radius drawn from `rng`) or `gt_usm` (nothing drawn)
    say, or as it is."""
    if opts.lq_usm:
        assert rng is not None, "lq_usm draws a radius per call"
        lo, hi = opts.lq_usm_radius_range
        return usm_sharpen(
            x, radius=int(rng.integers(lo, hi, endpoint=True))
        )  # USMSharp's weight and threshold
    if opts.gt_usm:
        return usm_sharpen(x, opts.gt_usm_weight, opts.gt_usm_radius, opts.gt_usm_threshold)
    return x


def first_pass(
    x: torch.Tensor, opts: DegradationOptions, rng: np.random.Generator, generator: torch.Generator
) -> torch.Tensor:
    """Thick lines, blur, resize, noise at the GT's size: the first pass after sharpening, up to its JPEG."""
    h, w = x.shape[-2:]
    if opts.thicklines_prob > 0:  # drawn only when on, so files without it keep their random stream
        x = thicklines_step(x, rng, opts.thicklines_prob)

    x = blur_step(x, rng, opts.blur_prob, opts.sinc_prob, opts.kernel_range, opts.kernel_list, opts.kernel_prob,
                  opts.blur_sigma, opts.betag_range, opts.betap_range)  # fmt: skip
    s = random_scale(rng, opts.resize_prob, opts.resize_range)
    x = resize(x, (round(h * s), round(w * s)), choose(rng, opts.resize_mode_list, opts.resize_mode_prob))
    return noise_step(x, rng, generator, opts.noise_prob, opts.gaussian_noise_prob, opts.noise_range,
                      opts.poisson_scale_range, opts.gray_noise_prob)  # fmt: skip


def second_pass(
    x: torch.Tensor,
    opts: DegradationOptions,
    rng: np.random.Generator,
    generator: torch.Generator,
    gt_size: tuple[int, int],
    scale: int,
) -> torch.Tensor:
    """Blur, resize around the LR size, noise."""
    h, w = gt_size
    x = blur_step(x, rng, opts.blur_prob2, opts.sinc_prob2, opts.kernel_range2, opts.kernel_list2,
                  opts.kernel_prob2, opts.blur_sigma2, opts.betag_range2, opts.betap_range2)  # fmt: skip
    s = random_scale(rng, opts.resize_prob2, opts.resize_range2)
    # traiNNer-redux: "keep" leaves the image at its size, the final resize takes it to the LR size.
    if s != 1:
        x = resize(
            x,
            (int(h / scale * s), int(w / scale * s)),
            choose(rng, opts.resize_mode_list2, opts.resize_mode_prob2),
        )
    return noise_step(x, rng, generator, opts.noise_prob2, opts.gaussian_noise_prob2, opts.noise_range2,
                      opts.poisson_scale_range2, opts.gray_noise_prob2)  # fmt: skip


class JpegDraws(NamedTuple):
    apply: np.ndarray
    quality: np.ndarray
    subsampling: list[str]


class FinalDraws(NamedTuple):
    """The final stage: resize mode, sinc kernels (None: no sample drew one), whether the resize and sinc come
    before the JPEG (Real-ESRGAN: other orders of the three produce twisted lines, so only these two) and the JPEG."""

    mode: str
    sinc: np.ndarray | None
    resize_first: bool
    jpeg: JpegDraws


def final_draws(rng: np.random.Generator, n: int, opts: DegradationOptions) -> FinalDraws:
    mode = choose(rng, opts.resize_mode_list3, opts.resize_mode_prob3)
    sinc = _final_sinc(rng, n, opts)
    resize_first = bool(rng.uniform() < 0.5)
    return FinalDraws(mode, sinc, resize_first, jpeg_draws(rng, n, opts.jpeg_prob2, opts.jpeg_range2, opts))


def final_resize(x: torch.Tensor, final: FinalDraws, size: tuple[int, int]) -> torch.Tensor:
    x = resize(x, size, final.mode)
    return _safe_filter(x, final.sinc) if final.sinc is not None else x


def last_steps(x: torch.Tensor, rng: np.random.Generator, opts: DegradationOptions) -> torch.Tensor:
    """Video compression and dithering, each when on."""
    return dither_step(video_step(x, rng, opts), rng, opts)


def round_to_8_bits(x: torch.Tensor) -> torch.Tensor:
    """The nearest of the 256 levels k/255, each the float an 8-bit file gives, on every device."""
    return levels_to_unit((x * 255.0).round().clamp(0, 255))


def check_gt(gt: object, scale: object) -> None:
    """The documented input, or one error with the fix: a uint8 image (torchvision's read_image gives one) was taken
    as levels of 0..255 and gave a white LR; other layouts failed deep inside Pillow or torch."""
    if not isinstance(gt, torch.Tensor):
        raise TypeError(
            f"degrade: gt must be a torch.Tensor, not {type(gt).__name__} (a numpy HxWxC image: "
            "torch.from_numpy(a).permute(2, 0, 1).float() / 255)"
        )
    if not gt.is_floating_point():
        raise TypeError(
            f"degrade: gt must be float in [0, 1], not {str(gt.dtype).removeprefix('torch.')}; divide the image by "
            "its peak first (gt.float() / 255 for 8 bits)"
        )
    if gt.dim() not in (3, 4) or gt.shape[-3] not in (1, 3):
        hint = " (channels last? gt.permute(2, 0, 1))" if gt.dim() == 3 and gt.shape[-1] in (1, 3) else ""
        raise ValueError(
            f"degrade: gt must be (C,H,W) or (N,C,H,W) with C 1 (gray) or 3 (RGB), not shape {tuple(gt.shape)}{hint}"
        )
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale < 1:
        raise ValueError(f"degrade: scale must be a positive integer, not {scale!r}")
    if min(gt.shape[-2:]) < scale:
        raise ValueError(
            f"degrade: gt is {gt.shape[-2]}x{gt.shape[-1]}, smaller than scale {scale}: it has no LR at that scale"
        )


def thicklines_step(x: torch.Tensor, rng: np.random.Generator, prob: float) -> torch.Tensor:
    """Thicken the dark lines of each sample with probability `prob`."""
    apply = rng.uniform(size=x.shape[0]) < prob
    if not apply.any():
        return x
    if apply.all():
        return thick_lines(x)
    mask = upload(torch.as_tensor(apply), x.device).view(-1, 1, 1, 1)
    return torch.where(mask, thick_lines(x), x)


def blur_step(
    x: torch.Tensor,
    rng: np.random.Generator,
    prob: float,
    sinc_prob: float,
    kernel_range: Sequence[int],
    kernel_list: Sequence[str],
    kernel_prob: Sequence[float],
    sigma: Sequence[float],
    betag: Sequence[float],
    betap: Sequence[float],
) -> torch.Tensor:
    """Blur each sample with probability `prob` by its own random kernel (padded to a common size)."""
    apply = rng.uniform(size=x.shape[0]) < prob
    if not apply.any():
        return x
    kernels = [
        random_blur_kernel(rng, sinc_prob, kernel_range, kernel_list, kernel_prob, sigma, betag, betap)
        for _ in range(int(apply.sum()))
    ]
    return _filter_subset(x, apply, kernels)


def _filter_subset(x: torch.Tensor, apply: np.ndarray, kernels: list[np.ndarray]) -> torch.Tensor:
    k = pad_kernels(kernels)
    if apply.all():
        return _safe_filter(x, k)
    idx = upload(torch.as_tensor(np.flatnonzero(apply)), x.device)
    out = x.clone()
    out[idx] = _safe_filter(x[idx], k)
    return out


def _safe_filter(x: torch.Tensor, k: np.ndarray) -> torch.Tensor:
    # Reflect padding needs the image wider than half the kernel; tiny intermediates get a cropped kernel.
    limit = 2 * (min(x.shape[-2:]) - 1) + 1
    if k.shape[-1] > limit:
        c = (k.shape[-1] - limit) // 2
        k = k[..., c : c + limit, c : c + limit]
        k = k / k.sum(axis=(-2, -1), keepdims=True)
    return filter2d(x, k)


def noise_step(
    x: torch.Tensor,
    rng: np.random.Generator,
    generator: torch.Generator,
    prob: float,
    gaussian_prob: float,
    sigma_range: Sequence[float],
    poisson_range: Sequence[float],
    gray_prob: float,
) -> torch.Tensor:
    """Gaussian (probability `gaussian_prob`) or Poisson noise per sample, gray with probability `gray_prob`."""
    n = x.shape[0]
    apply = rng.uniform(size=n) < prob
    gaussian = rng.uniform(size=n) < gaussian_prob
    gray = rng.uniform(size=n) < gray_prob
    sigma = rng.uniform(sigma_range[0], sigma_range[1], size=n)
    pscale = rng.uniform(poisson_range[0], poisson_range[1], size=n)
    out = x
    for chosen, fn, amount in (
        (apply & gaussian, gaussian_noise, sigma),
        (apply & ~gaussian, poisson_noise, pscale),
    ):
        if not chosen.any():
            continue
        if chosen.all():
            out = fn(out, amount.tolist(), gray.tolist(), generator)
        else:
            idx = upload(torch.as_tensor(np.flatnonzero(chosen)), x.device)
            out = out.clone() if out is x else out
            out[idx] = fn(out[idx], amount[chosen].tolist(), gray[chosen].tolist(), generator)
    return out


def jpeg_draws(
    rng: np.random.Generator, n: int, prob: float, quality_range: Sequence[float], opts: DegradationOptions
) -> JpegDraws:
    apply = rng.uniform(size=n) < prob
    quality = rng.integers(round(quality_range[0]), round(quality_range[1]) + 1, size=n)
    subsampling = [choose(rng, opts.jpeg_subsampling_list, opts.jpeg_subsampling_prob) for _ in range(n)]
    return JpegDraws(apply, quality, subsampling)


def apply_jpeg(
    x: torch.Tensor, draws: JpegDraws, codec: Literal["libjpeg", "torch"] = "libjpeg"
) -> torch.Tensor:
    compress = jpeg_compress_torch if codec == "torch" else jpeg_compress
    return _per_sample(
        x, draws.apply, lambda t, i: compress(t, draws.quality[i].tolist(), [draws.subsampling[j] for j in i])
    )


def video_step(x: torch.Tensor, rng: np.random.Generator, opts: DegradationOptions) -> torch.Tensor:
    if opts.video_prob <= 0:
        return x
    n = x.shape[0]
    apply = rng.uniform(size=n) < opts.video_prob
    codec = [choose(rng, opts.video_codec_list, opts.video_codec_prob) for _ in range(n)]
    crf = rng.integers(opts.video_crf_range[0], opts.video_crf_range[1] + 1, size=n)
    return _per_sample(x, apply, lambda t, i: video_compress(t, [codec[j] for j in i], crf[i].tolist()))


def dither_step(x: torch.Tensor, rng: np.random.Generator, opts: DegradationOptions) -> torch.Tensor:
    if opts.dither_prob <= 0:
        return x
    n = x.shape[0]
    apply = rng.uniform(size=n) < opts.dither_prob
    method = [choose(rng, opts.dither_method_list, opts.dither_method_prob) for _ in range(n)]
    palette = [choose(rng, opts.dither_palette_list, opts.dither_palette_prob) for _ in range(n)]
    bits = rng.integers(opts.dither_bits_range[0], opts.dither_bits_range[1] + 1, size=n)
    colors = rng.integers(opts.dither_colors_range[0], opts.dither_colors_range[1] + 1, size=n)
    amount = np.where(np.array(palette) == "uniform", bits, colors)
    return _per_sample(
        x,
        apply,
        lambda t, i: dither(t, [palette[j] for j in i], amount[i].tolist(), [method[j] for j in i]),
    )


def _per_sample(x: torch.Tensor, apply: np.ndarray, fn) -> torch.Tensor:
    if not apply.any():
        return x
    idx = np.flatnonzero(apply)
    y = x.clamp(0, 1)
    if apply.all():
        return fn(y, idx)
    out = x.clone()
    t = upload(torch.as_tensor(idx), x.device)
    out[t] = fn(y[t], idx)
    return out


def _final_sinc(rng: np.random.Generator, n: int, opts: DegradationOptions) -> np.ndarray | None:
    apply = rng.uniform(size=n) < opts.final_sinc_prob
    if not apply.any():
        return None
    kernels = []
    for a in apply:
        size = random_kernel_size(rng, opts.final_kernel_range)
        cutoff = float(rng.uniform(np.pi / 3, np.pi))
        # A unit impulse leaves the samples that drew no sinc unchanged.
        kernels.append(sinc_kernel(cutoff, size) if a else np.ones((1, 1)))
    return pad_kernels(kernels)
