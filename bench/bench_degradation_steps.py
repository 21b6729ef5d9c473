"""Where the OTF speed-up comes from: each step alone, upres vs basicsr 1.4.2, one CPU thread, interleaved.

python bench/bench_degradation_steps.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from basicsr_ref import load  # noqa: E402
from upres.data.degradations import filter2d, gaussian_kernel, jpeg_compress, poisson_noise, usm_sharpen  # noqa: E402


def ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    d, ipu, dj = load("degradations"), load("img_process_util"), load("diffjpeg")
    usm_ref, jpeger = ipu.USMSharp(), dj.DiffJPEG(differentiable=False)
    gt = torch.rand(1, 3, 256, 256)
    lr = torch.rand(1, 3, 64, 64)
    k13 = gaussian_kernel(13, 2.0, 1.0, 0.5)
    k13_padded = torch.from_numpy(np.pad(k13, 4)).float()[None]  # basicsr always convolves at 21x21
    gen = torch.Generator().manual_seed(0)
    steps = {
        "USM sharpen GT 256": (lambda: usm_sharpen(gt), lambda: usm_ref(gt)),
        "blur GT 256, 13x13 kernel": (lambda: filter2d(gt, k13), lambda: ipu.filter2D(gt, k13_padded)),
        "JPEG q=60 at 128": (
            lambda: jpeg_compress(gt[:, :, :128, :128], 60),
            lambda: jpeger(gt[:, :, :128, :128], quality=torch.tensor([60.0])),
        ),
        "JPEG q=60 at 64 (LR)": (
            lambda: jpeg_compress(lr, 60),
            lambda: jpeger(lr, quality=torch.tensor([60.0])),
        ),
        "Poisson noise at 128": (
            lambda: poisson_noise(gt[:, :, :128, :128], 1.0, False, gen),
            lambda: d.add_poisson_noise_pt(gt[:, :, :128, :128], scale=1.0),
        ),
    }
    print(f"{'step':<28}{'upres ms':>10}{'basicsr ms':>12}{'ratio':>8}")
    for name, (ours, theirs) in steps.items():
        ours(), theirs()
        a, b = [], []
        for _ in range(3):  # interleave
            a.append(ms(ours, args.repeats))
            b.append(ms(theirs, args.repeats))
        a_ms, b_ms = statistics.median(a), statistics.median(b)
        print(f"{name:<28}{a_ms:>10.2f}{b_ms:>12.2f}{b_ms / a_ms:>8.1f}")


if __name__ == "__main__":
    main()
