"""On-the-fly degradation throughput: upres's pipeline vs basicsr 1.4.2's functions doing the same steps.

Real-ESRGAN x4plus settings, GT 256x256 crops, one CPU thread (a data worker). The basicsr side is what
RealESRGANDataset.__getitem__ (kernel generation) plus RealESRGANModel.feed_data (USM, filter2D, interpolate,
random_add_gaussian_noise_pt / random_add_poisson_noise_pt, DiffJPEG, in that order) do for one sample, run on CPU
without the final crop and pair pool. Both run in the same process, interleaved round by round.

    python bench/bench_degradations.py [--rounds 5] [--per-round 20] [--batch 1] [--no-usm]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from basicsr_ref import load  # noqa: E402
from upres.data.degradations import DegradationOptions, degrade, make_generators  # noqa: E402
from upres.data.degradations.options import REAL_ESRGAN_X4PLUS  # noqa: E402


def crops(n: int, size: int, seed: int) -> list[torch.Tensor]:
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        top, left = rng.integers(0, p.shape[0] - size + 1), rng.integers(0, p.shape[1] - size + 1)
        c = np.ascontiguousarray(p[top : top + size, left : left + size].transpose(2, 0, 1))
        out.append(torch.from_numpy(c).float() / 255.0)
    return out


class BasicsrPipeline:
    """basicsr 1.4.2's x4plus synthesis for a batch, steps copied from RealESRGANDataset / RealESRGANModel."""

    def __init__(self, o: DegradationOptions, scale: int, usm: bool = True) -> None:
        self.d = load("degradations")
        ipu = load("img_process_util")
        self.filter2D = ipu.filter2D
        self.usm = ipu.USMSharp()
        self.jpeger = load("diffjpeg").DiffJPEG(differentiable=False)
        self.o, self.scale, self.use_usm = o, scale, usm
        self.kernel_range = [2 * v + 1 for v in range(3, 11)]
        self.pulse = torch.zeros(21, 21)
        self.pulse[10, 10] = 1

    def _kernel(self, sinc_prob, kernel_list, kernel_prob, sigma, betag, betap) -> torch.Tensor:
        d = self.d
        ks = random.choice(self.kernel_range)
        if np.random.uniform() < sinc_prob:
            omega_c = np.random.uniform(np.pi / 3, np.pi) if ks < 13 else np.random.uniform(np.pi / 5, np.pi)
            k = d.circular_lowpass_kernel(omega_c, ks, pad_to=False)
        else:
            k = d.random_mixed_kernels(kernel_list, kernel_prob, ks, sigma, sigma, [-math.pi, math.pi], betag, betap,
                                       noise_range=None)  # fmt: skip
        p = (21 - ks) // 2
        return torch.FloatTensor(np.pad(k, ((p, p), (p, p))))

    def kernels(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        o = self.o
        k1 = self._kernel(
            o.sinc_prob, o.kernel_list, o.kernel_prob, o.blur_sigma, o.betag_range, o.betap_range
        )
        k2 = self._kernel(
            o.sinc_prob2, o.kernel_list2, o.kernel_prob2, o.blur_sigma2, o.betag_range2, o.betap_range2
        )
        if np.random.uniform() < o.final_sinc_prob:
            ks = random.choice(self.kernel_range)
            sinc = torch.FloatTensor(
                self.d.circular_lowpass_kernel(np.random.uniform(np.pi / 3, np.pi), ks, pad_to=21)
            )
        else:
            sinc = self.pulse
        return k1, k2, sinc

    def __call__(self, gt: torch.Tensor) -> torch.Tensor:
        d, o, s = self.d, self.o, self.scale
        ks = [self.kernels() for _ in range(gt.shape[0])]
        k1, k2, sinc = (torch.stack([k[i] for k in ks]) for i in range(3))
        gt_usm = self.usm(gt) if self.use_usm else gt
        ori_h, ori_w = gt.shape[2:4]
        out = self.filter2D(gt_usm, k1)
        kind = random.choices(["up", "down", "keep"], o.resize_prob)[0]
        scale = {"up": lambda: np.random.uniform(1, o.resize_range[1]),
                 "down": lambda: np.random.uniform(o.resize_range[0], 1), "keep": lambda: 1}[kind]()  # fmt: skip
        out = F.interpolate(out, scale_factor=scale, mode=random.choice(["area", "bilinear", "bicubic"]))
        if np.random.uniform() < o.gaussian_noise_prob:
            out = d.random_add_gaussian_noise_pt(out, sigma_range=o.noise_range, clip=True, rounds=False,
                                                 gray_prob=o.gray_noise_prob)  # fmt: skip
        else:
            out = d.random_add_poisson_noise_pt(out, scale_range=o.poisson_scale_range, gray_prob=o.gray_noise_prob,
                                                clip=True, rounds=False)  # fmt: skip
        jpeg_p = out.new_zeros(out.size(0)).uniform_(*o.jpeg_range)
        out = self.jpeger(torch.clamp(out, 0, 1), quality=jpeg_p)
        if np.random.uniform() < o.blur_prob2:
            # DiffJPEG returns a non-contiguous tensor that filter2D's .view() rejects for batches > 1 on recent torch.
            out = self.filter2D(out.contiguous(), k2)
        kind = random.choices(["up", "down", "keep"], o.resize_prob2)[0]
        scale = {"up": lambda: np.random.uniform(1, o.resize_range2[1]),
                 "down": lambda: np.random.uniform(o.resize_range2[0], 1), "keep": lambda: 1}[kind]()  # fmt: skip
        out = F.interpolate(out, size=(int(ori_h / s * scale), int(ori_w / s * scale)),
                            mode=random.choice(["area", "bilinear", "bicubic"]))  # fmt: skip
        if np.random.uniform() < o.gaussian_noise_prob2:
            out = d.random_add_gaussian_noise_pt(out, sigma_range=o.noise_range2, clip=True, rounds=False,
                                                 gray_prob=o.gray_noise_prob2)  # fmt: skip
        else:
            out = d.random_add_poisson_noise_pt(out, scale_range=o.poisson_scale_range2,
                                                gray_prob=o.gray_noise_prob2, clip=True, rounds=False)  # fmt: skip
        mode = random.choice(["area", "bilinear", "bicubic"])
        if np.random.uniform() < 0.5:
            out = F.interpolate(out, size=(ori_h // s, ori_w // s), mode=mode)
            out = self.filter2D(out.contiguous(), sinc)
            jpeg_p = out.new_zeros(out.size(0)).uniform_(*o.jpeg_range2)
            out = self.jpeger(torch.clamp(out, 0, 1), quality=jpeg_p)
        else:
            jpeg_p = out.new_zeros(out.size(0)).uniform_(*o.jpeg_range2)
            out = self.jpeger(torch.clamp(out, 0, 1), quality=jpeg_p)
            out = F.interpolate(out, size=(ori_h // s, ori_w // s), mode=mode)
            out = self.filter2D(out.contiguous(), sinc)
        return torch.clamp((out * 255.0).round(), 0, 255) / 255.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-round", type=int, default=20, help="batches per side per round")
    ap.add_argument("--batch", type=int, default=1, help="1 = per sample, as in a data worker")
    ap.add_argument("--gt-size", type=int, default=256)
    ap.add_argument("--no-usm", action="store_true", help="skip the GT unsharp mask on both sides")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(1)
    opts, scale = DegradationOptions(**{**REAL_ESRGAN_X4PLUS, "gt_usm": not args.no_usm}), 4
    theirs = BasicsrPipeline(opts, scale, usm=not args.no_usm)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    pool = crops(16 * args.batch, args.gt_size, seed=0)
    batches = [torch.stack(pool[i : i + args.batch]) for i in range(0, len(pool), args.batch)]

    def run_ours(r: int) -> float:
        t = time.perf_counter()
        for i in range(args.per_round):
            rng, gen = make_generators((r, i))
            degrade(batches[i % len(batches)], opts, scale, rng, gen)
        return args.per_round * args.batch / (time.perf_counter() - t)

    def run_theirs(r: int) -> float:
        t = time.perf_counter()
        for i in range(args.per_round):
            theirs(batches[i % len(batches)])
        return args.per_round * args.batch / (time.perf_counter() - t)

    run_ours(-1), run_theirs(-1)  # warm-up: allocator, FFT plans, lazy imports
    ours, ref = [], []
    for r in range(args.rounds):
        ours.append(run_ours(r))
        ref.append(run_theirs(r))
    ratios = [a / b for a, b in zip(ours, ref, strict=True)]
    result = {
        "gt_size": args.gt_size,
        "batch": args.batch,
        "gt_usm": not args.no_usm,
        "samples_per_round": args.per_round * args.batch,
        "upres_samples_per_s": round(statistics.median(ours), 2),
        "basicsr_samples_per_s": round(statistics.median(ref), 2),
        "ratio_median": round(statistics.median(ratios), 2),
        "ratio_min": round(min(ratios), 2),
        "ratio_max": round(max(ratios), 2),
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v}")


if __name__ == "__main__":
    main()
