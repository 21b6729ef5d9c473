"""On-the-fly training samples per second in one process on one thread: decode, crop, degrade, cut the pair.

    PYTHONPATH=src python bench/bench_otf_sample.py [--src OTHER/src]   # --src: another checkout, to compare

Reads the first folder of ../shared/data/train (a user's own folder with --root), lq 64 at x4 (GT 256).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, help="the src folder of the checkout to time (default: this one)")
    ap.add_argument("--root", type=Path, help="HR folder (default: the first of ../shared/data/train)")
    ap.add_argument("-n", type=int, default=48, help="samples timed after one untimed (default 48)")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(args.src or repo / "src"))
    import torch

    from upres.data.otf_dataset import build_realesrgan_dataset

    torch.set_num_threads(1)
    root = args.root or sorted((repo.parent / "shared" / "data" / "train").iterdir())[0]
    ds = build_realesrgan_dataset({"dataroot_gt": str(root), "lq_size": 64}, scale=4, seed=0)
    ds[0]
    start = time.perf_counter()
    for i in range(1, args.n + 1):
        ds[i % len(ds)]
    print(
        f"{args.n / (time.perf_counter() - start):.1f} samples/s (one process, one thread, lq 64 x4, {root.name})"
    )


if __name__ == "__main__":
    main()
