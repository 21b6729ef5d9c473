"""Benchmarks for `upres upscale` (issue 3). Prints markdown for docs/benchmarks.md.

  overhead  the whole command on Set14 (LR x4, bicubic) against the same model's bare forward over the same
            pre-decoded tensors, in the same process: how much decoding, encoding and the pipeline cost
  tiled     --tile 128 --tile-overlap 16 against --tile 0 on a 512x512 input
  memory    peak resident memory of `upres upscale --tile auto` on a 2048x2048 input, 4x, in a subprocess

Models have random weights (no pretrained weights can be downloaded); speed does not depend on the weights.

usage: python bench/bench_upscale.py [overhead] [tiled] [memory] [--threads 2] [--rounds 4]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from upres.archs import build_network  # noqa: E402
from upres.cli import main as upres_main  # noqa: E402
from upres.io.images import array_to_tensor, decode_image, write_image  # noqa: E402
from upres.io.model_files import load_model, save_model  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
MODELS = {
    "esrgan_lite x4 (32 feat, 12 blocks)": ("esrgan_lite", {"scale": 4}),
    "compact x4 (64 feat, 16 convs)": ("compact", {"scale": 4}),
}


def make_model(folder: Path, name: str, opts: dict) -> Path:
    torch.manual_seed(0)
    net, info = build_network(name, **opts)
    return save_model(folder / f"{name}_x{opts['scale']}.safetensors", net, info)


def set14_lr(folder: Path) -> Path:
    """Set14 downscaled 4x with bicubic: the inputs a 4x model is meant for."""
    src = SHARED / "benchmark" / "Set14"
    if not src.is_dir():
        sys.exit(f"Set14 not found at {src}")
    out = folder / "set14_lr"
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.png")):
        img = Image.open(path)
        img.resize((img.width // 4, img.height // 4), Image.Resampling.BICUBIC).save(out / path.name)
    return out


def run_cli(*args: object) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one in-process `upres upscale` run."""
    start, cpu = time.perf_counter(), time.process_time()
    code = upres_main(["upscale", "--quiet", "--device", "cpu", *[str(a) for a in args]])
    if code != 0:
        sys.exit(f"upres upscale exited {code}")
    return time.perf_counter() - start, time.process_time() - cpu


def in_thread(fn: Callable[..., float], *args: object) -> float:
    """Run fn in a worker thread, as `upres upscale` runs its model: here a 2-thread forward in the main thread
    measured about 2x slower than the same forward in a worker thread, which would flatter the command."""
    box = []
    worker = threading.Thread(target=lambda: box.append(fn(*args)))
    worker.start()
    worker.join()
    return box[0]


def bare_forward(model_path: Path, tensors: list[torch.Tensor], channels_last: bool) -> tuple[float, float]:
    cpu = time.process_time()
    wall = in_thread(_bare_forward, model_path, tensors, channels_last)
    return wall, time.process_time() - cpu


def _bare_forward(model_path: Path, tensors: list[torch.Tensor], channels_last: bool) -> float:
    module = load_model(model_path).module.eval()
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
        tensors = [t.contiguous(memory_format=torch.channels_last) for t in tensors]
    start = time.perf_counter()
    with torch.inference_mode():
        for x in tensors:
            module(x)
    return time.perf_counter() - start


def bench_overhead(work: Path, rounds: int) -> None:
    inputs = set14_lr(work)
    files = sorted(inputs.glob("*.png"))
    arrays = [decode_image(p).array for p in files]
    tensors = [array_to_tensor(a if a.shape[2] == 3 else a[..., [0, 0, 0]])[None] for a in arrays]
    megapixels = sum(a.shape[0] * a.shape[1] for a in arrays) / 1e6
    print(
        f"\n### Overhead of the whole command (Set14 LR x4: {len(files)} files, {megapixels:.3f} input MP)\n"
    )
    print(
        "Each round runs the bare forward (channels-last, in a worker thread) and the command back to back, in "
        "alternating order; ratios are per round, then the median.\n"
    )
    print(
        "| model | bare forward NCHW (s) | bare forward channels-last (s) | `upres upscale` (s) "
        "| wall ratio per round | median wall overhead | median CPU-time overhead |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, (name, opts) in MODELS.items():
        model = make_model(work, name, opts)
        nchw = bare_forward(model, tensors, channels_last=False)[0]
        walls, cpus, bare_walls, cli_walls = [], [], [], []
        for i in range(rounds):
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            if i % 2:
                cli = run_cli("-m", model, inputs, "-o", out)
                bare = bare_forward(model, tensors, channels_last=True)
            else:
                bare = bare_forward(model, tensors, channels_last=True)
                cli = run_cli("-m", model, inputs, "-o", out)
            walls.append(cli[0] / bare[0])
            cpus.append(cli[1] / bare[1])
            bare_walls.append(bare[0])
            cli_walls.append(cli[0])
        print(
            f"| {label} | {nchw:.2f} | {statistics.median(bare_walls):.2f} | {statistics.median(cli_walls):.2f} "
            f"| {', '.join(f'{w:.2f}' for w in walls)} | {100 * (statistics.median(walls) - 1):+.1f}% "
            f"| {100 * (statistics.median(cpus) - 1):+.1f}% |",
            flush=True,
        )


def bench_tiled(work: Path, rounds: int) -> None:
    model = make_model(work, "compact", {"scale": 4})
    img = Image.open(SHARED / "benchmark" / "Set14" / "baboon.png").convert("RGB")
    img.resize((512, 512), Image.Resampling.BICUBIC).save(work / "in512.png")
    print("\n### Tiled against untiled, 512x512 input, compact x4 (64 feat, 16 convs)\n")
    print("| tiling | time (s) | ratio to untiled | model-input pixels / image pixels |")
    print("| --- | --- | --- | --- |")
    cases = [
        ("--tile 0", ["--tile", "0"]),
        ("--tile 128 --tile-overlap 16", ["--tile", "128", "--tile-overlap", "16"]),
    ]
    cases.append(("--tile 256 --tile-overlap 16", ["--tile", "256", "--tile-overlap", "16"]))
    times: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _ in range(rounds):
        for label, flags in cases:
            out = work / "tiled_out"
            shutil.rmtree(out, ignore_errors=True)
            times[label].append(run_cli("-m", model, work / "in512.png", "-o", out, *flags)[0])
    base = min(times["--tile 0"])
    for label, flags in cases:
        tile = int(flags[1])
        per_axis = (
            512 if tile == 0 else sum(min(512, c + tile + 16) - max(0, c - 16) for c in range(0, 512, tile))
        )
        t = min(times[label])
        print(f"| `{label}` | {t:.2f} | {t / base:.2f}x | {(per_axis / 512) ** 2:.2f} |", flush=True)


def bench_memory(work: Path, model_name: str) -> None:
    model = make_model(work, model_name, {"scale": 4})
    src = Image.open(sorted((SHARED / "train" / "SunHays80").glob("*.jpg"))[0]).convert("RGB")
    big = np.asarray(src.resize((2048, 2048), Image.Resampling.BICUBIC))
    write_image(work / "big2048.png", big)
    code = (
        "import resource, sys, time\n"
        "from upres.cli import main\n"
        "t = time.perf_counter()\n"
        f"rc = main(['upscale', '-m', {str(model)!r}, {str(work / 'big2048.png')!r}, '-o', {str(work / 'mem_out')!r},"
        " '--tile', 'auto', '--device', 'cpu'])\n"
        "print('time', time.perf_counter() - t)\n"
        "print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(rc)\n"
    )
    env = {
        "PYTHONPATH": str(REPO / "src"),
        "OMP_NUM_THREADS": str(torch.get_num_threads()),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(result.stdout + result.stderr)
    rss_kb = int(result.stdout.split("maxrss_kb")[1].split()[0])
    seconds = float(result.stdout.split("time")[-1].split()[0])
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = Image.open(work / "mem_out" / "big2048.png")
    print(
        f"\n### Peak resident memory, 2048x2048 -> {out.width}x{out.height}, `--tile auto`, CPU, {model_name} x4\n"
    )
    print(
        f"peak RSS {rss_kb / 1024**2:.2f} GiB (getrusage of the child: {children / 1024**2:.2f} GiB), {seconds:.0f} s"
    )
    print(result.stdout.strip().splitlines()[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("which", nargs="*", default=["overhead", "tiled", "memory"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--memory-model", default="compact")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "overhead" in args.which:
            bench_overhead(work, args.rounds)
        if "tiled" in args.which:
            bench_tiled(work, args.rounds)
        if "memory" in args.which:
            bench_memory(work, args.memory_model)


if __name__ == "__main__":
    main()
