"""The whole `upres train` loop against the bare loop where a step's time is mostly the host's: the full RRDBNet
64/23 topology at a tiny crop on one CPU thread (the regime of the eager GPU step, whose kernels wait for the host).
It runs the GPU check's two training loops (`bench/gpu_check_train.py`) on the CPU, upres with its loader workers,
so the loop's own cost (loader, EMA, bookkeeping) is in the figure, not only the step's (`bench_step_ops.py`).

    PYTHONPATH=src python bench/bench_loop_host.py --gan --workers 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu_check_train  # noqa: E402
from gpu_check_common import Sizes  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gan", action="store_true", help="the GAN stage (VGG-style D, VGG19 perceptual, RaGAN)")
    ap.add_argument("--workers", type=int, default=2, help="upres's loader workers (num_worker_per_gpu)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    # lq 8: the VGG-style D needs 32 px GT crops at x4; bf16 autocast as on the GPU
    sizes = Sizes(batch=2, lq=8, train_warm=10, train_iters=args.iters, amp=True, train_workers=args.workers)
    cpu, stage = torch.device("cpu"), "GAN" if args.gan else "fidelity"
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            bare, _ = gpu_check_train.bare_rate(sizes, cpu, Path(tmp), args.gan)
            ours, _, wait = gpu_check_train.upres_rate(sizes, cpu, Path(tmp), args.gan, compiled=False, run=n)
            print(
                f"{stage}, {args.workers} loader workers: bare loop {1e3 / bare:.1f} ms/iteration, upres "
                f"{1e3 / ours:.1f} ms/iteration ({wait:.0%} waiting for data): upres {ours / bare:.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
