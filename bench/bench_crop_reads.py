"""Reading one training crop from large photos: whole decode (PNG, JPEG) against tiled TIFF region reads.

Sources: the first N SunHays80 photos enlarged 3x with Lanczos (~3072 px wide, ~7 MP: the size of a phone photo),
saved as PNG, JPEG q95, and tiled TIFFs written by `upres prepare tiff` (zlib and zstd with the default 128 px tiles; zlib 256 px).
Part 1: milliseconds per 256x256 crop at a random position (`upres.data.read.ImageSource`: open + read), one process.
Part 2: `pairedimagedataset` (GT only, LR made by bicubic, lq_size 64, x4, flips/rotations) samples/s through a
DataLoader with 2 workers, PNG folder against the zlib tiled-TIFF folder (128 px tiles).

    PYTHONPATH=src python bench/bench_crop_reads.py [--data ../shared/data] [--images 8] [--crops 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from upres.data import build_dataset
from upres.data.options import parse_dataset_options
from upres.data.prepare import prepare_tiff
from upres.data.read import ImageSource
from upres.io.image_files import list_images

CROP = 256


def make_sources(data: Path, root: Path, n: int) -> dict[str, Path]:
    folders = {name: root / name for name in ("png", "jpeg")}
    for f in folders.values():
        f.mkdir(parents=True)
    for path in list_images(data / "train" / "SunHays80")[:n]:
        with Image.open(path) as img:
            big = img.convert("RGB").resize((img.width * 3, img.height * 3), Image.LANCZOS)
        big.save(folders["png"] / f"{path.stem}.png")
        big.save(folders["jpeg"] / f"{path.stem}.jpg", quality=95)
    for label, tile, codec in (
        ("tiff zlib 128", 128, "zlib"),
        ("tiff zstd 128", 128, "zstd"),
        ("tiff zlib 256", 256, "zlib"),
    ):
        folders[label] = root / label.replace(" ", "_")
        prepare_tiff(folders["png"], folders[label], tile=tile, compression=codec, workers=2)
    return folders


def crop_times(folder: Path, crops: int, seed: int = 0) -> tuple[float, bool]:
    """Median ms per crop (open + read of a random 256x256 rectangle) and whether regions were read."""
    files = list_images(folder)
    rng = np.random.default_rng(seed)
    times, regions = [], False
    for i in range(crops + 1):
        path = files[i % len(files)]
        start = time.perf_counter()
        with ImageSource(path) as src:
            top, left = int(rng.integers(0, src.height - CROP)), int(rng.integers(0, src.width - CROP))
            src.read(top, left, CROP, CROP)
            regions = src.region_reads
        if i:  # the first read warms codec imports
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, regions


def loader_rate(folder: Path, samples: int) -> float:
    opts = {
        "type": "pairedimagedataset",
        "dataroot_gt": str(folder),
        "lq_size": 64,
        "dataset_enlarge_ratio": 50,
    }
    ds = build_dataset(parse_dataset_options(opts), 4, seed=0)
    loader = DataLoader(
        ds, batch_size=4, shuffle=True, num_workers=2, persistent_workers=True, drop_last=True
    )
    seen, start = 0, None
    for batch in loader:
        if start is None:  # worker start-up excluded
            start = time.perf_counter()
            continue
        seen += batch["lq"].shape[0]
        if seen >= samples:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--crops", type=int, default=200)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folders = make_sources(Path(args.data), Path(tmp), args.images)
        first = list_images(folders["png"])[0]
        with Image.open(first) as img:
            print(f"{args.images} images of about {img.width}x{img.height}; crop {CROP}x{CROP}\n")
        print("| source | MB per image | ms per crop | crop speed vs PNG | region reads |")
        print("| --- | --- | --- | --- | --- |")
        png_ms = None
        for label, folder in folders.items():
            ms, regions = crop_times(folder, args.crops)
            png_ms = png_ms or ms
            mb = sum(p.stat().st_size for p in list_images(folder)) / len(list_images(folder)) / 1e6
            print(
                f"| {label} | {mb:.1f} | {ms:.1f} | {png_ms / ms:.1f}x | {'yes' if regions else 'no'} |",
                flush=True,
            )
        print("\n| dataset folder | samples/s (2 workers, batch 4, lq 64, x4) |")
        print("| --- | --- |")
        rates = {}
        for label in ("png", "tiff zlib 128"):
            rates[label] = loader_rate(folders[label], args.samples)
            print(f"| {label} | {rates[label]:.1f} |", flush=True)
        print(f"\ntiled TIFF / PNG loader throughput: {rates['tiff zlib 128'] / rates['png']:.1f}x")
    print(f"cpu_count={os.cpu_count()} torch={torch.__version__}")


if __name__ == "__main__":
    main()
