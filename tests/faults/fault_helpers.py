"""Helpers for the fault tests: small model files and images made on the fly, the CLI run in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from upres.archs import build_network
from upres.io.model_files import save_model

SRC = Path(__file__).resolve().parents[2] / "src"


def compact_model(path: Path, scale: int = 2, zero: bool = True) -> Path:
    """A tiny Compact net; zeroed weights make the output the nearest-upsampled input."""
    net, info = build_network("compact", scale=scale, num_feat=4, num_conv=1)
    if zero:
        with torch.no_grad():
            for p in net.parameters():
                p.zero_()
    return save_model(path, net, info)


def png(path: Path, size: int = 8, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def cli_env() -> dict[str, str]:
    env = {"PYTHONPATH": str(SRC), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for key in ("UPRES_CACHE_DIR", "HOME", "TMPDIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def run_cli(*args: object, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "upres", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(),
        timeout=timeout,
    )


def mp4(path, frames: int = 48, size: tuple[int, int] = (48, 32)):
    """An H.264 MP4 with its index (moov) at the front, as web video is published: cut short, it still opens and
    announces every frame."""
    av = pytest.importorskip("av", reason="making a test clip needs PyAV (upres[video])")

    out = av.open(str(path), "w", options={"movflags": "faststart"})
    vs = out.add_stream("libx264", rate=24)
    vs.width, vs.height, vs.pix_fmt = *size, "yuv420p"
    rng = np.random.default_rng(0)
    for _ in range(frames):
        pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        out.mux(vs.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
    out.mux(vs.encode(None))
    out.close()
    return path
