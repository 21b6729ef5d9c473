"""Can the paired dataset keep a training step fed? Loader samples/s (2 workers) next to a step's time.

Data, x4 with flips/rotations, batch 4: Set14 at lq_size 48 (its smallest image, comic, is 250 px wide: too small
for a 256 GT crop), GT only with LR by bicubic on the fly, and with an LR folder made by `upres prepare lr`;
SunHays80 (~1024 px JPEGs) at lq_size 64, LR on the fly. Step: compact and esrgan_lite x4, batch 4, lq 64,
L1 + AdamW, plain torch loop on this CPU.

    PYTHONPATH=src python bench/bench_dataloading.py [--data ../shared/data] [--samples 400]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from upres.archs import build_network
from upres.data import build_dataset
from upres.data.options import parse_dataset_options
from upres.data.prepare import prepare_lr

SCALE, LQ, BATCH, WORKERS = 4, 64, 4, 2


def loader_rate(opts: dict, samples: int) -> tuple[float, int]:
    """Steady-state samples/s (worker start-up excluded) and the dataset length."""
    ds = build_dataset(parse_dataset_options(opts), SCALE, seed=0)
    loader = DataLoader(
        ds, batch_size=BATCH, shuffle=True, num_workers=WORKERS, persistent_workers=True, drop_last=True
    )
    seen, start = 0, None
    while seen < samples:
        for batch in loader:
            if start is None:  # worker start-up is paid once per run, not per sample
                start = time.perf_counter()
                continue
            seen += batch["lq"].shape[0]
            if seen >= samples:
                break
    return seen / (time.perf_counter() - start), len(ds)


def step_time(arch: str, steps: int = 6) -> float:
    torch.manual_seed(0)
    net, _ = build_network(arch, scale=SCALE)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    lq = torch.rand(BATCH, 3, LQ, LQ)
    gt = torch.rand(BATCH, 3, LQ * SCALE, LQ * SCALE)
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        loss = torch.nn.functional.l1_loss(net(lq), gt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:  # the first step allocates
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--samples", type=int, default=400)
    args = ap.parse_args()
    data = Path(args.data)
    torch.set_num_threads(2)
    common = {"type": "pairedimagedataset", "lq_size": LQ, "use_hflip": True, "use_rot": True}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        set14 = data / "benchmark" / "Set14"
        prepare_lr(set14, Path(tmp) / "Set14_x4", SCALE, workers=1)
        cases = [
            (
                "Set14, LR on the fly (bicubic)",
                {**common, "dataroot_gt": str(set14), "dataset_enlarge_ratio": 20, "lq_size": 48},
            ),
            (
                "Set14, LR folder",
                {
                    **common,
                    "dataroot_gt": str(set14),
                    "dataroot_lq": str(Path(tmp) / "Set14_x4"),
                    "dataset_enlarge_ratio": 20,
                    "lq_size": 48,
                },
            ),
            (
                "SunHays80, LR on the fly (bicubic)",
                {**common, "dataroot_gt": str(data / "train" / "SunHays80"), "dataset_enlarge_ratio": 3},
            ),
        ]
        for label, opts in cases:
            rate, _ = loader_rate(opts, args.samples)
            rows.append((label, rate))
            print(
                f"{label}: {rate:.1f} samples/s ({WORKERS} workers, batch {BATCH}, lq {opts['lq_size']}, x{SCALE})",
                flush=True,
            )
    print()
    # esrgan_lite takes about a minute per step on 2 shared cores: fewer timed steps.
    for arch, steps in (("compact", 4), ("esrgan_lite", 2)):
        t = step_time(arch, steps)
        print(
            f"train step {arch} x{SCALE}, batch {BATCH}, lq {LQ}, CPU (2 threads): {t * 1000:.0f} ms "
            f"= {BATCH / t:.1f} samples/s needed",
            flush=True,
        )
    slowest = min(r for _, r in rows)
    print(f"\nslowest loader feeds a step as short as {BATCH / slowest * 1000:.0f} ms per batch of {BATCH}")
    print(f"cpu_count={os.cpu_count()} torch={torch.__version__}")


if __name__ == "__main__":
    main()
