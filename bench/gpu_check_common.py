"""Shared pieces of `bench/gpu_check.py`: sizes (full and smoke), timing with device sync, result rows."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


@dataclass(frozen=True)
class Sizes:
    """What each benchmark runs at. Full: the figures of issue 12 (RRDBNet 64/23 x4). Smoke: the same code paths at
    toy sizes, on the CPU, in well under a minute."""

    arch: dict = field(default_factory=lambda: {"type": "esrgan", "scale": 4})
    frame: tuple[int, int] = (640, 480)  # width, height of the inference inputs
    module_reps: int = 20
    images: int = 200
    images_warm: int = (
        40  # steady state: (images - images_warm) / the seconds from image images_warm to the last
    )
    video_frames: int = 120
    batch: int = 16
    lq: int = 32
    train_warm: int = 20
    train_iters: int = 60
    compile_warm: int = 20
    loader_images: int = 32
    loader_image_size: int = 512
    loader_batches: int = 30
    loader_workers: int = 4
    train_workers: int = 2  # upres train's loader workers in the training figures (num_worker_per_gpu)
    # Eager training: rounds of (bare loop, upres) alternating, the median ratio reported. Two runs of one setting
    # differed by up to 15% on the H200, as much as the ratio's distance from 1.0; more rounds narrow it.
    train_rounds: int = 1
    matmul: int = 8192
    gan_d: str = "vggstylediscriminator"
    amp: bool = (
        True  # bf16 autocast in training; the smoke run trains in fp32 (CPUs without bf16 units crawl)
    )
    perceptual_layer: str = (
        "conv5_4"  # ESRGAN's; the smoke run stops VGG early (a full VGG19 takes seconds on a CPU)
    )

    def as_dict(self) -> dict:
        return asdict(self)


SMOKE = Sizes(
    arch={"type": "esrgan", "scale": 4, "num_feat": 8, "num_block": 1},
    frame=(32, 24),
    module_reps=2,
    images=3,
    images_warm=1,
    video_frames=4,
    batch=2,
    lq=8,
    train_warm=1,
    train_iters=1,
    compile_warm=1,
    loader_images=4,
    loader_image_size=64,
    loader_batches=2,
    loader_workers=1,
    matmul=256,
    amp=False,
    perceptual_layer="conv1_2",
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, reps: int, warm: int = 1) -> float:
    """Median seconds of `fn()` over `reps` calls after `warm` untimed ones, the device drained around each."""
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Row:
    """One line of the report: upres's figure, the reference's, their ratio (>1: upres faster) and the goal."""

    figure: str
    upres: str
    reference: str = ""
    ratio: float | None = None
    goal: str = ""


def photo(width: int, height: int, seed: int) -> np.ndarray:
    """A natural-looking uint8 RGB image (a crop of scikit-image's bundled photos, resized), different per seed."""
    import skimage.data
    from PIL import Image

    sources = [skimage.data.astronaut, skimage.data.coffee, skimage.data.chelsea, skimage.data.rocket]
    rng = np.random.default_rng(seed)
    img = sources[seed % len(sources)]()
    h, w = img.shape[:2]
    ch, cw = int(h * rng.uniform(0.6, 1)), int(w * rng.uniform(0.6, 1))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = Image.fromarray(np.ascontiguousarray(img[y : y + ch, x : x + cw]))
    out = np.asarray(crop.resize((width, height), Image.Resampling.BICUBIC))
    return out[:, ::-1].copy() if rng.random() < 0.5 else out


def peak_tflops(device: torch.device, n: int) -> dict[str, float]:
    """Dense matmul TFLOP/s measured here (bf16 and fp16 on CUDA, fp32 on a CPU): what a step is compared with."""
    if device.type == "cuda":
        dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    else:
        dtypes = {"fp32": torch.float32}
    out = {}
    for name, dtype in dtypes.items():
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        seconds = timed(lambda a=a, b=b: a @ b, device, reps=10 if device.type == "cuda" else 2, warm=2)
        out[name] = 2 * n**3 / seconds / 1e12
    return out
