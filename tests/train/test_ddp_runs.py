"""Training under `torchrun` (two CPU processes over gloo): what every process starts from, and what it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import base_options, merge, write

from upres.io.model_files import read_tensors
from upres.train.config import parse_options
from upres.train.loop import train

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}


def _torchrun(cfg: Path, *extra: str, nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "upres", "train", "-c", str(cfg), "--device", "cpu", *extra]  # fmt: skip
    return subprocess.run(cmd, env=ENV, cwd=cfg.parent, capture_output=True, text=True, timeout=300)


def _weights(exp: Path, name: str) -> dict[str, torch.Tensor]:
    return read_tensors(exp / "models" / name)[0]


@pytest.mark.slow
def test_ddp_with_an_ldl_loss_equals_one_process_with_double_batch(tmp_path, hr_folder):
    """The LDL loss compares with the EMA's output: every process's EMA must start from the generator DDP gave them
    all (process 1's started from its own random one, and the runs differed by 2e-3)."""
    ldl = {
        "train": {"losses": [{"type": "l1loss", "loss_weight": 1.0}, {"type": "ldlloss", "loss_weight": 1.0}]}
    }
    single = merge(
        merge(base_options(hr_folder, tmp_path / "single"), ldl),
        {"datasets": {"train": {"batch_size_per_gpu": 4}}},
    )
    train(parse_options(single), device="cpu")
    out = _torchrun(write(tmp_path / "ddp.yml", merge(base_options(hr_folder, tmp_path / "ddp"), ldl)))
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("net_g_10.safetensors", "net_g_ema_10.safetensors"):
        a, b = _weights(tmp_path / "single", name), _weights(tmp_path / "ddp", name)
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=0, msg=f"{name} {k}")
