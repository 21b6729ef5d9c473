"""Inference figures of `bench/gpu_check.py`: upres against spandrel's module timed alone on the same device.

module   `Upscaler(x)` on one frame (CPU float32 in and out, as a library user calls it) against spandrel's
         module on a tensor already on the device, same precision: the cost of upres's wrapper
upscale  `upres upscale` steady-state images/s over generated PNGs against the module's frames/s
upscale_compile  the same with `--compile` (torch.compile, CUDA graphs on a GPU) against the module's frames/s
video    `upres video` frames/s on a generated clip against the module's frames/s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import torch

from gpu_check_common import REPO, Row, Sizes, photo, timed
from upres.archs import build_network
from upres.infer.tiling import Upscaler
from upres.io.images import array_to_tensor, write_image
from upres.io.model_files import load_model, save_model

PRECISION_NAMES = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}


def make_model(work: Path, sizes: Sizes) -> Path:
    torch.manual_seed(0)
    arch = dict(sizes.arch)
    net, info = build_network(arch.pop("type"), **arch)
    return save_model(work / "model.safetensors", net, info)


def spandrel_module(path: Path, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    import spandrel

    return spandrel.ModelLoader().load_from_file(path).model.eval().to(device, dtype)


def frames(sizes: Sizes, n: int) -> list[torch.Tensor]:
    w, h = sizes.frame
    return [array_to_tensor(photo(w, h, seed))[None] for seed in range(n)]


def bench_module(
    model: Path, sizes: Sizes, device: torch.device, dtype: torch.dtype
) -> tuple[dict, list[Row]]:
    inputs = frames(sizes, 4)
    ref = spandrel_module(model, device, dtype)
    on_device = [x.to(device, dtype) for x in inputs]
    loaded = load_model(model)
    up = Upscaler(loaded.module, loaded.scale, device, dtype)
    counter = iter(range(10**9))

    def reference() -> None:
        with torch.inference_mode():
            ref(on_device[next(counter) % len(on_device)])

    def upres_cpu_io() -> None:
        up(inputs[next(counter) % len(inputs)])

    def upres_device_io() -> None:
        up(on_device[next(counter) % len(on_device)].float())

    ref_s = timed(reference, device, sizes.module_reps, warm=3)
    cpu_s = timed(upres_cpu_io, device, sizes.module_reps, warm=3)
    dev_s = timed(upres_device_io, device, sizes.module_reps, warm=3)
    w, h = sizes.frame
    what = f"{w}x{h} x{loaded.scale} {PRECISION_NAMES[dtype]}"
    data = {
        "frame": [w, h],
        "spandrel_module_ms": ref_s * 1e3,
        "upscaler_cpu_in_out_ms": cpu_s * 1e3,
        "upscaler_device_in_out_ms": dev_s * 1e3,
        "fp32_fallbacks": up.fp32_fallbacks,
    }
    rows = [
        Row(
            f"`Upscaler(x)` one frame {what}, CPU float32 in and out",
            f"{cpu_s * 1e3:.1f} ms",
            f"{ref_s * 1e3:.1f} ms (spandrel module, tensor on device)",
            ref_s / cpu_s,
            ">= 0.95x",
        ),
        Row(
            f"`Upscaler(x)` one frame {what}, tensor on device",
            f"{dev_s * 1e3:.1f} ms",
            f"{ref_s * 1e3:.1f} ms",
            ref_s / dev_s,
        ),
    ]
    return data, rows


# `upres upscale` as a user runs it, one process per command, with the check's compile backend (aot_eager in smoke).
_CHILD = """import functools, sys, torch
if sys.argv[1] != "inductor":
    torch.compile = functools.partial(torch.compile, backend=sys.argv[1])
from upres.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _cli(args: list[str], backend: str) -> tuple[float, dict]:
    """(seconds, JSON summary) of one `upres upscale` process. A process per run, as users run it: on torch 2.11 +
    CUDA 13 a second `--compile` model in one process failed its CUDA graph capture (see docs/benchmarks.md)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-c", _CHILD, backend, "upscale", "--json", *args]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, stdout=subprocess.PIPE, text=True
    )  # stderr (compile notes) passes through
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"upres upscale {' '.join(args)} exited {proc.returncode}")
    return seconds, json.loads(proc.stdout)


def _pngs(sizes: Sizes, work: Path) -> Path:
    """The benchmark's PNG folder (written once, shared by runs)."""
    w, h = sizes.frame
    folder = work / "pngs"
    if not folder.exists():
        folder.mkdir()
        for i in range(sizes.images):
            write_image(folder / f"{i:04d}.png", photo(w, h, 1000 + i))
    return folder


def bench_upscale(
    model: Path,
    sizes: Sizes,
    device: torch.device,
    dtype: torch.dtype,
    ref_ms: float,
    work: Path,
    compile: bool = False,
    backend: str = "inductor",
) -> tuple[dict, list[Row]]:
    w, h = sizes.frame
    folder = _pngs(sizes, work)
    flags = ["--precision", PRECISION_NAMES[dtype], "--device", str(device), "-m", str(model)]
    flags += ["--compile"] if compile else []
    tag = "_compile" if compile else ""
    # One process: the steady state is read inside it, so a separate cold run (the compile alone took 45 s on the
    # H200) would only add minutes to the check.
    t_all, summary = _cli([*flags, str(folder), "-o", str(work / f"out_all{tag}")], backend)
    # The steady state inside that one run, from when its files finished: the fixed cost (process start, model load,
    # compiling or loading the compiled model, CUDA graph capture) stays out. It was the difference of two runs,
    # whose fixed costs varied by seconds with --compile on the H200 (compiled in 8.5 s, then 6.9 s).
    finished = sorted(f["finished_s"] for f in summary["files"])
    t_warm = finished[sizes.images_warm - 1]
    span = finished[-1] - t_warm
    steady = (sizes.images - sizes.images_warm) / span if span > 0 else sizes.images / t_all
    module_rate = 1e3 / ref_ms
    data = {
        "images": sizes.images,
        "seconds_all": t_all,
        "seconds_first": t_warm,  # when the first images_warm had finished, inside the whole run
        "first_images": sizes.images_warm,
        # process start to the first finished file: start-up, model load and, with --compile, the cold compile
        "seconds_first_file": finished[0],
        "steady_images_per_s": steady,
        "module_frames_per_s": module_rate,
        # the whole run's seconds per pipeline stage (summed over threads) and thread counts: the limiting stage
        "stages_all": summary.get("stages", {}),
        "threads": summary.get("threads", {}),
    }
    stages = summary.get("stages", {})
    pace = ", ".join(
        f"{k} {v:.0f} s" for k, v in stages.items() if k in ("model", "encode", "model_waiting_for_writers")
    )
    row = Row(
        f"`upres upscale{' --compile' if compile else ''}` {sizes.images} PNGs {w}x{h}, steady state",
        f"{steady:.2f} img/s (whole run: {pace}; {summary.get('threads', {}).get('writers', '?')} writers)",
        f"{module_rate:.2f} frames/s (module alone, eager)",
        steady / module_rate,
        ">= 1.3x" if compile else ">= 0.95x",
    )
    return data, [row]


def bench_upscale_compile(
    model: Path,
    sizes: Sizes,
    device: torch.device,
    dtype: torch.dtype,
    ref_ms: float,
    work: Path,
    backend: str = "inductor",
) -> tuple[dict, list[Row]]:
    return bench_upscale(model, sizes, device, dtype, ref_ms, work, compile=True, backend=backend)


def make_clip(path: Path, sizes: Sizes) -> None:
    import av

    w, h = sizes.frame
    base = photo(w + 64, h, 7)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for i in range(sizes.video_frames):
            shift = i % 64  # a slow pan, so frames differ as in a real clip
            frame = av.VideoFrame.from_ndarray(base[:, shift : shift + w].copy(), format="rgb24")
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))


def bench_video(
    model: Path, sizes: Sizes, device: torch.device, dtype: torch.dtype, ref_ms: float, work: Path
) -> tuple[dict, list[Row]]:
    from upres.infer.video import VideoOptions, upscale_video

    clip = work / "clip.mkv"
    make_clip(clip, sizes)
    loaded = load_model(model)
    up = Upscaler(loaded.module, loaded.scale, device, dtype)
    upscale_video(
        up, clip, work / "warm.mkv", VideoOptions(end=0.2)
    )  # warm-up: CUDA context, cudnn autotuning
    start = time.perf_counter()
    result = upscale_video(up, clip, work / "out.mkv", VideoOptions())
    seconds = time.perf_counter() - start
    fps = result.frames / seconds
    module_fps = 1e3 / ref_ms
    data = {
        "frames": result.frames,
        "seconds": seconds,
        "frames_per_s": fps,
        "model_seconds": result.model_seconds,
        "starved_seconds": result.starved_seconds,
        "module_frames_per_s": module_fps,
    }
    w, h = sizes.frame
    row = Row(
        f"`upres video` {result.frames} frames {w}x{h} H.264",
        f"{fps:.2f} frames/s",
        f"{module_fps:.2f} frames/s (module alone)",
        fps / module_fps,
        ">= 0.9x",
    )
    return data, [row]
