"""Training-step throughput on CPU: `upres train`'s loop against a plain PyTorch loop over basicsr's RRDBNet.

Both sides get the same pre-made tensors (batch 4, lq 32, x4, L1, AdamW), so the numbers compare the step itself:
upres runs its real loop (`upres.train.loop.train`) with an in-memory dataset; the plain loop is the five lines every
tutorial writes (fp32, default AdamW). Runs are interleaved and repeated; medians of samples/s are reported.

    .venv/bin/python bench/bench_train_step.py [--arch esrgan|compact|both] [--iters 6] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import sys
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import torch
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import upres.train.setup as setup_mod  # noqa: E402
from upres.train.config import parse_options  # noqa: E402
from upres.train.loop import train  # noqa: E402

BATCH, LQ, SCALE = 4, 32, 4


class Tensors(Dataset):
    def __init__(self, n: int = 16) -> None:
        g = torch.Generator().manual_seed(0)
        self.lq = torch.rand(n, 3, LQ, LQ, generator=g)
        self.gt = torch.rand(n, 3, LQ * SCALE, LQ * SCALE, generator=g)

    def __len__(self) -> int:
        return len(self.lq)

    def __getitem__(self, index):
        i = index[1] if isinstance(index, tuple) else index
        return {"lq": self.lq[i], "gt": self.gt[i], "lq_path": "", "gt_path": ""}


RUNS = itertools.count()


def upres_rate(arch: str, iters: int, fast: bool, tmp: Path) -> float:
    opts = {
        "name": "bench", "scale": SCALE, "manual_seed": 0,
        "use_amp": fast, "amp_bf16": fast, "use_channels_last": fast,
        "datasets": {"train": {"type": "pairedimagedataset", "dataroot_gt": str(tmp / "in_memory"), "lq_size": LQ,
                               "batch_size_per_gpu": BATCH, "num_worker_per_gpu": 0}},
        "network_g": {"type": arch},
        "path": {"experiments_root": str(tmp / f"exp{next(RUNS)}")},  # train() refuses a folder holding a run
        "train": {"total_iter": iters + 1, "ema_decay": 0.999, "optim_g": {"type": "AdamW", "lr": 1e-4},
                  "losses": [{"type": "l1loss", "loss_weight": 1.0}]},
        "logger": {"print_freq": 1, "save_checkpoint_freq": 10**6, "use_tb_logger": False},
    }  # fmt: skip
    setup_mod.build_train_dataset = lambda o, seed: (Tensors(), o.train_dataset)
    setup_mod.check_train_data = lambda o, announce=None: []
    buf = StringIO()
    with redirect_stdout(buf):
        train(parse_options(opts))
    # The first iteration includes warm-up; average the per-window rates of the rest.
    rates = [float(m) for m in re.findall(r"\| ([\d.]+) it/s", buf.getvalue())][1:]
    return BATCH / statistics.mean(1 / r for r in rates)


def plain_rate(arch: str, iters: int) -> float:
    import torchvision.transforms.functional as tvf

    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    if arch == "esrgan":
        from basicsr.archs.rrdbnet_arch import RRDBNet

        net = RRDBNet(3, 3, scale=SCALE, num_feat=64, num_block=23)
    else:
        from basicsr.archs.srvgg_arch import SRVGGNetCompact

        net = SRVGGNetCompact(3, 3, num_feat=64, num_conv=16, upscale=SCALE)
    data = Tensors()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    times = []
    for it in range(iters + 1):
        lq, gt = data.lq[:BATCH], data.gt[:BATCH]
        t0 = time.perf_counter()
        loss = torch.nn.functional.l1_loss(net(lq), gt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it:
            times.append(time.perf_counter() - t0)
    return BATCH / statistics.mean(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="both", choices=["esrgan", "compact", "both"])
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import tempfile

    archs = ["compact", "esrgan"] if args.arch == "both" else [args.arch]
    for arch in archs:
        res: dict[str, list[float]] = {"plain": [], "upres fp32": [], "upres bf16+channels_last": []}
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                res["plain"].append(plain_rate(arch, args.iters))
                res["upres fp32"].append(upres_rate(arch, args.iters, False, Path(tmp)))
                res["upres bf16+channels_last"].append(upres_rate(arch, args.iters, True, Path(tmp)))
        base = statistics.median(res["plain"])
        for name, values in res.items():
            med = statistics.median(values)
            print(f"{arch:8s} {name:26s} {med:6.2f} samples/s  ratio vs plain {med / base:.2f}", flush=True)


if __name__ == "__main__":
    main()
