"""Can the paired dataset keep a training step fed? Loader samples/s (2 workers) next to a step's time; and with
--vs-basicsr, samples/s per worker against BasicSR 1.4.2's datasets on the same files.

Data, x4 with flips/rotations, batch 4: Set14 at lq_size 48 (its smallest image, comic, is 250 px wide: too small
for a 256 GT crop), GT only with LR by bicubic on the fly, and with an LR folder made by `upres prepare lr`;
SunHays80 (~1024 px JPEGs) at lq_size 64, LR on the fly. Step: compact and esrgan_lite x4, batch 4, lq 64,
L1 + AdamW, plain torch loop on this CPU.

    PYTHONPATH=src python bench/bench_dataloading.py [--data ../shared/data] [--samples 400]

--vs-basicsr: what one loader worker makes, `__getitem__` in one process on one thread (torch and cv2), upres and
basicsr alternated sample by sample over the same indices, after a round that fills the page cache; the ratio is
each round's, its median and range printed. Cases: PNG tiles of SunHays80 cut by `upres prepare chunk` with LR made
by `upres prepare lr` (x2 192 px tiles, lq 32: the training parity benchmark's data; x4 480 px tiles, lq 64:
BasicSR's DIV2K sub-image layout), with flips and rotations, against basicsr's PairedImageDataset; and SunHays80's
JPEGs on the fly (lq 64 at x4) with `degrade_on: device` (read, crop, flip; the degradations are the device's)
against basicsr's RealESRGANDataset (read, flip, crop, draw the blur kernels: its CPU part; the degradations are its
model's, on the device).

    PYTHONPATH=src python bench/bench_dataloading.py --vs-basicsr [--work /tmp/loader] [--rounds 7] [--samples 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from upres.archs import build_network
from upres.data import build_dataset
from upres.data.options import parse_dataset_options
from upres.data.prepare import prepare_chunks, prepare_lr

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


def _paired_tiles(hr_src: Path, work: Path, tile: int, scale: int) -> tuple[Path, Path]:
    """HR tiles and their LR, as a user makes them with `upres prepare chunk` and `upres prepare lr`."""
    hr, lr = work / f"hr_{tile}", work / f"hr_{tile}_lr_x{scale}"
    if not (lr.is_dir() and any(lr.iterdir())):
        # Whole tiles only: BasicSR refuses a GT that is not its LR x scale (a photo shorter than the tile).
        prepare_chunks(hr_src, hr, size=tile, step=tile, min_size=tile, workers=1)
        prepare_lr(hr, lr, scale, workers=1)
    return hr, lr


def _basicsr_datasets():
    import torchvision.transforms.functional as tvf

    # basicsr 1.4.2 imports a torchvision module that was renamed; its contents are those of the new one.
    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    from basicsr.data.paired_image_dataset import PairedImageDataset
    from basicsr.data.realesrgan_dataset import RealESRGANDataset

    return PairedImageDataset, RealESRGANDataset


# Real-ESRGAN x4plus's dataset block (options/train_realesrnet_x4plus.yml), as RealESRGANDataset reads it.
_X4PLUS_KERNELS = {
    "blur_kernel_size": 21,
    "kernel_list": ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"],
    "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
    "sinc_prob": 0.1,
    "blur_sigma": [0.2, 3],
    "betag_range": [0.5, 4],
    "betap_range": [1, 2],
    "blur_kernel_size2": 21,
    "kernel_list2": ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"],
    "kernel_prob2": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
    "sinc_prob2": 0.1,
    "blur_sigma2": [0.2, 1.5],
    "betag_range2": [0.5, 4],
    "betap_range2": [1, 2],
    "final_sinc_prob": 0.8,
}


def _cases(data: Path, work: Path) -> list[tuple[str, object, object]]:
    """(label, upres dataset, basicsr dataset) over the same files with the same crop sizes."""
    from upres.data.otf_dataset import build_realesrgan_dataset

    paired_b, otf_b = _basicsr_datasets()
    cases = []
    for tile, scale, lq in ((192, 2, 32), (480, 4, 64)):
        hr, lr = _paired_tiles(data / "train" / "SunHays80", work, tile, scale)
        flips = {"use_hflip": True, "use_rot": True}
        ours = build_dataset(
            parse_dataset_options(
                {
                    "type": "pairedimagedataset",
                    "dataroot_gt": str(hr),
                    "dataroot_lq": str(lr),
                    "lq_size": lq,
                    **flips,
                }
            ),
            scale,
            seed=0,
        )
        theirs = paired_b(
            {
                "dataroot_gt": str(hr),
                "dataroot_lq": str(lr),
                "io_backend": {"type": "disk"},
                "filename_tmpl": "{}",
                "gt_size": lq * scale,
                "phase": "train",
                "scale": scale,
                **flips,
            }  # fmt: skip
        )
        label = f"paired PNG tiles {tile} px, x{scale}, lq {lq}, flips+rotations ({len(ours)} pairs)"
        cases.append((label, ours, theirs))
    photos = data / "train" / "SunHays80"
    meta = work / "sunhays80.txt"
    meta.write_text("\n".join(p.name for p in sorted(photos.iterdir())) + "\n")
    ours = build_realesrgan_dataset({"dataroot_gt": str(photos), "lq_size": 64}, 4, 0)
    ours.deferred = True  # degrade_on: device: the worker reads and crops
    theirs = otf_b(
        {
            "dataroot_gt": str(photos),
            "meta_info": str(meta),
            "io_backend": {"type": "disk"},
            "gt_size": 256,
            "use_hflip": True,
            "use_rot": False,
            **_X4PLUS_KERNELS,
        }  # fmt: skip
    )
    cases.append((f"on the fly, SunHays80 JPEGs (~1024 px), x4, lq 64 ({len(ours)} photos)", ours, theirs))
    return cases


def _round(sides: dict[str, Callable[[int], object]], indices: list[int]) -> dict[str, float]:
    """Seconds per sample of each side over `indices`, the sides alternated sample by sample (who goes first too),
    so a colleague's job starting mid-round slows both alike."""
    spent = dict.fromkeys(sides, 0.0)
    for n, i in enumerate(indices):
        for name in sorted(sides, reverse=bool(n % 2)):
            start = time.perf_counter()
            sides[name](i)
            spent[name] += time.perf_counter() - start
    return {k: v / len(indices) for k, v in spent.items()}


def compare_with_basicsr(data: Path, work: Path | None, rounds: int, samples: int) -> None:
    """Per-worker samples/s of upres and basicsr (medians over rounds) and the ratio of each round's pair."""
    import cv2
    import numpy as np

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for label, ours, theirs in _cases(data, work):
            n = len(ours)
            indices = [int(i) for i in np.random.default_rng(0).permutation(n)[: min(samples, n)]]
            np.random.seed(0)  # basicsr draws its crops and flips from numpy's global generator
            sides = {"upres": ours.__getitem__, "basicsr": theirs.__getitem__}
            _round(sides, indices)  # the page cache, imports, first allocations
            times: dict[str, list[float]] = {k: [] for k in sides}
            for _ in range(rounds):
                for name, t in _round(sides, indices).items():
                    times[name].append(t)
            ratios = sorted(b / u for u, b in zip(times["upres"], times["basicsr"], strict=True))
            rate = {k: 1 / statistics.median(v) for k, v in times.items()}
            print(
                f"{label}: upres {rate['upres']:.0f} samples/s, basicsr {rate['basicsr']:.0f} samples/s per worker; "
                f"upres/basicsr {statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f} over {rounds} "
                f"rounds of {len(indices)})",
                flush=True,
            )
    print(f"cpu_count={os.cpu_count()} torch={torch.__version__} one thread, no workers")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--samples", type=int, default=None, help="per case (default 400; 200 with --vs-basicsr)")
    ap.add_argument("--vs-basicsr", action="store_true", help="per-worker samples/s against basicsr 1.4.2")
    ap.add_argument(
        "--work", type=Path, default=None, help="--vs-basicsr: where the tiles go (reused when there)"
    )
    ap.add_argument("--rounds", type=int, default=7, help="--vs-basicsr: alternated rounds")
    args = ap.parse_args()
    data = Path(args.data)
    if args.vs_basicsr:
        compare_with_basicsr(data, args.work, args.rounds, args.samples or 200)
        return
    args.samples = args.samples or 400
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
