"""Helpers for the upscale tests: model files made on the fly, CLI runners."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import save_model


def make_identity_model(path: Path, scale: int = 1, channels: int = 3) -> Path:
    """A Compact net with zeroed weights: output = nearest-upsampled input, exactly (its residual is 0)."""
    net, info = build_network(
        "compact", scale=scale, num_feat=4, num_conv=1, num_in_ch=channels, num_out_ch=channels
    )
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    return save_model(path, net, info)


def make_random_model(path: Path, scale: int = 2) -> Path:
    torch.manual_seed(1)
    net, info = build_network("compact", scale=scale, num_feat=16, num_conv=2)
    return save_model(path, net, info)


def nearest(arr: np.ndarray, s: int) -> np.ndarray:
    return arr.repeat(s, 0).repeat(s, 1)


def on_cpu_unless_named(args: tuple[object, ...]) -> list[str]:
    """The CLI arguments, with `--device cpu` unless the test names a device: these tests compare pixels with
    references made on the CPU (nearest upsampling, exact 16-bit levels), which fp16 on a GPU would not reproduce."""
    argv = [str(a) for a in args]
    return argv if "--device" in argv else [*argv, "--device", "cpu"]


def upscale(*args: object) -> int:
    return main(["upscale", "--quiet", *on_cpu_unless_named(args)])


def run_upscale(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """In-process CLI run, not quiet: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(["upscale", *on_cpu_unless_named(args)])
    out, err = capsys.readouterr()
    return code, out, err


def upscale_subprocess(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    src = Path(__file__).resolve().parents[2] / "src"
    return subprocess.run(
        [sys.executable, "-m", "upres", "upscale", *on_cpu_unless_named(args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
