"""On-the-fly training samples per second in one process on one thread: decode, crop, degrade, cut the pair.

    PYTHONPATH=src python bench/bench_otf_sample.py [--src OTHER/src]   # --src: another checkout, to compare
    PYTHONPATH=src python bench/bench_otf_sample.py --x4plus --deferred  # a worker's part with degrade_on: device
    PYTHONPATH=src python bench/bench_otf_sample.py --x4plus --device-ops  # operations the device then issues

Reads the first folder of ../shared/data/train (a user's own folder with --root), lq 64 at x4 (GT 256).
`--deferred`: what a loader worker does with `degrade_on: device` (read and crop; the degradations are the training
device's). `--device-ops`: the operations (kernels on a GPU; views left out) that degrading one sample on the device
dispatches in a batch of 16, counted on the CPU, which dispatches the same ones, and the pixels the shared JPEG
canvases hold over the pictures' own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

VIEWS = {"view", "slice", "unsqueeze", "reshape", "select", "expand", "permute", "_unsafe_view", "alias", "detach",
         "t", "transpose", "as_strided", "unbind", "split", "squeeze", "lift_fresh", "_reshape_alias", "narrow",
         "unfold", "expand_as", "view_as", "empty", "contiguous"}  # fmt: skip


def device_ops(ds, n: int) -> tuple[float, float, float]:
    """Non-view operations per sample of `degrade_batch` on a batch of `n` deferred items, its uploads of host data
    per sample (on the CPU `upload` hands the tensor over as it is; on a GPU each is a pinned copy and the copy to the
    device, two more operations), and the pixels its JPEG canvases hold over those of the pictures on them."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.data import default_collate

    import upres.data.otf_device as otf_device
    import upres.host_to_device as host_to_device
    from upres.data.otf_device import degrade_batch

    uploads = [0]
    real_upload = host_to_device.upload

    def upload(tensor, device):
        uploads[0] += 1
        return real_upload(tensor, device)

    # Each module holds its own reference to `upload` (imported by name).
    users = [m for m in list(sys.modules.values()) if getattr(m, "upload", None) is real_upload]

    areas = [0, 0]
    real = otf_device.jpeg_compress_torch

    def jpeg(x, quality, subsampling, sizes):
        areas[0] += x.shape[0] * x.shape[-2] * x.shape[-1]
        areas[1] += sum(h * w for h, w in sizes)
        return real(x, quality, subsampling, sizes=sizes)

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket.__name__ not in VIEWS:
                Count.calls += 1
            return func(*args, **(kwargs or {}))

    ds.deferred = True
    batch = default_collate([ds[(1, i % len(ds))] for i in range(n)])
    degrade_batch(ds, batch, torch.device("cpu"))
    otf_device.jpeg_compress_torch = jpeg
    for module in users:
        module.upload = upload
    try:
        with Count():
            degrade_batch(ds, batch, torch.device("cpu"))
    finally:
        otf_device.jpeg_compress_torch = real
        for module in users:
            module.upload = real_upload
    return Count.calls / n, uploads[0] / n, areas[0] / max(areas[1], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, help="the src folder of the checkout to time (default: this one)")
    ap.add_argument("--root", type=Path, help="HR folder (default: the first of ../shared/data/train)")
    ap.add_argument("-n", type=int, default=48, help="samples timed after one untimed (default 48)")
    ap.add_argument("--x4plus", action="store_true", help="Real-ESRGAN's x4plus settings (default: redux's)")
    ap.add_argument("--deferred", action="store_true", help="read and crop only, as with degrade_on: device")
    ap.add_argument(
        "--device-ops", action="store_true", help="count the device's operations per sample instead"
    )
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(args.src or repo / "src"))
    import torch

    from upres.data.otf_dataset import build_realesrgan_dataset

    torch.set_num_threads(1)
    root = args.root or sorted((repo.parent / "shared" / "data" / "train").iterdir())[0]
    settings = {}
    if args.x4plus:
        from upres.data.degradations.options import REAL_ESRGAN_X4PLUS as settings
    ds = build_realesrgan_dataset({"dataroot_gt": str(root), "lq_size": 64}, 4, 0, settings)
    what = f"lq 64 x4, {'x4plus' if args.x4plus else 'redux defaults'}, {root.name}"
    if args.device_ops:
        ops, uploads, canvas = device_ops(ds, 16)
        print(
            f"{ops:.0f} operations per sample on the device and {uploads:.1f} uploads of host data (about "
            f"{ops + 2 * uploads:.0f} operations on a GPU), JPEG canvases {canvas:.2f}x the pictures ({what})"
        )
        return
    ds.deferred = args.deferred
    ds[0]
    start = time.perf_counter()
    for i in range(1, args.n + 1):
        ds[i % len(ds)]
    part = "read and crop only (degrade_on: device)" if args.deferred else "whole sample"
    print(f"{args.n / (time.perf_counter() - start):.1f} samples/s (one process, one thread, {part}, {what})")


if __name__ == "__main__":
    main()
