"""RRDBNet x4 forward on CPU: upres's module vs spandrel's on the same weights, interleaved, median of runs.

Also reports achieved GFLOP/s (RRDBNet x4, 64 nf / 23 nb, is about 35.8 MFLOP per input pixel when counting
multiply and add separately) next to a 2048x2048 float32 matmul on the same machine.

    .venv/bin/python bench/bench_arch_forward.py [--repeats 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from spandrel import ModelLoader

from upres.archs import build_network


def conv_flops_per_input_pixel(net: torch.nn.Module, size: int = 32) -> float:
    """Count 2*MACs of every conv by hooking a forward pass at a small size."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        total += 2 * out.numel() * mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1] // mod.groups

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        net(torch.rand(1, 3, size, size))
    for h in hooks:
        h.remove()
    return total / (size * size)


def time_once(fn, x) -> float:
    t0 = time.perf_counter()
    fn(x)
    return time.perf_counter() - t0


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours, _ = build_network("esrgan", scale=4)
    ours.eval()
    theirs = ModelLoader().load_from_state_dict(ours.state_dict()).model.eval()
    flops_px = conv_flops_per_input_pixel(ours)
    print(f"threads={args.threads}  conv FLOP per input pixel: {flops_px / 1e6:.1f} M")
    print(f"2048x2048 fp32 matmul: {matmul_gflops():.1f} GFLOP/s")
    for size in (64, 128):
        x = torch.rand(1, 3, size, size)
        with torch.inference_mode():
            torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)
            for _ in range(2):
                ours(x), theirs(x)
            t_ours, t_theirs = [], []
            for i in range(args.repeats):
                pair = [(ours, t_ours), (theirs, t_theirs)]
                for net, bucket in pair if i % 2 == 0 else pair[::-1]:
                    bucket.append(time_once(net, x))
        mo, mt = statistics.median(t_ours), statistics.median(t_theirs)
        gflops = flops_px * size * size / mo / 1e9
        print(
            f"{size}x{size}: upres {mo * 1e3:.0f} ms, spandrel {mt * 1e3:.0f} ms, "
            f"ratio upres/spandrel {mo / mt:.3f}, upres {gflops:.1f} GFLOP/s"
        )


if __name__ == "__main__":
    main()
