"""Weight copies under DDP (`torchrun`, two CPU processes over gloo): G runs unwrapped on its low-precision copies and
its gradients are averaged after the backward; the run trains what DDP with autocast's casts trains, bit for bit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import base_options, merge, small_gan, write

from upres.io.model_files import read_tensors

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
AMP = {"use_amp": True, "use_amp_on_cpu": True, "amp_bf16": True}

# `upres train` in each process; "autocast" replaces the copies by autocast's per-use casts (what DDP ran before).
DRIVER = """
import sys
import upres.train.step as step
real = step.LowPrecisionWeights
made = []
def copies(*args, **kwargs):
    if sys.argv[1] == "autocast":
        return None
    made.append(real(*args, **kwargs))
    return made[-1]
step.LowPrecisionWeights = copies
from upres.cli import main
code = main(["train", "-c", sys.argv[2], "--device", "cpu"])
print(f"weight copies of {sum(len(m.masters) for m in made)} tensors", file=sys.stderr)
sys.exit(code)
"""


def _run(tmp_path: Path, name: str, mode: str, opts: dict) -> tuple[dict[str, torch.Tensor], str]:
    exp = tmp_path / name
    cfg = write(tmp_path / f"{name}.yml", {**opts, "path": {"experiments_root": str(exp)}})
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(driver),
           mode, str(cfg)]  # fmt: skip
    out = subprocess.run(cmd, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return read_tensors(exp / "models" / "net_g_10.safetensors")[0], out.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "patch",
    [
        {
            "datasets": {"train": {"accum_iter": 2, "batch_size_per_gpu": 1}},
            "train": {"grad_clip": True},
        },  # compact: PReLU not copied
        merge(
            small_gan("ragan"),
            {"network_g": {"type": "esrgan", "num_feat": 8, "num_grow_ch": 4, "num_block": 1}},
        ),
    ],
    ids=["compact_accumulation_clipping", "esrgan_gan"],
)
def test_ddp_with_weight_copies_trains_what_ddp_with_autocast_trains(tmp_path, hr_folder, patch):
    opts = merge(merge(base_options(hr_folder, tmp_path), AMP), patch)
    if "network_g" in patch:
        opts["network_g"] = patch["network_g"]
    copies, log = _run(tmp_path, "copies", "copies", opts)
    autocast, reference_log = _run(tmp_path, "autocast", "autocast", opts)
    assert "weight copies of 0 tensors" in reference_log
    assert (
        log.count("weight copies of 0 tensors") == 0 and log.count("weight copies of ") == 2
    )  # each process
    assert copies.keys() == autocast.keys()
    assert all(torch.equal(copies[k], autocast[k]) for k in copies), [
        k for k in copies if not torch.equal(copies[k], autocast[k])
    ]


@pytest.mark.slow
def test_across_machines_ddp_keeps_its_buckets(tmp_path, hr_folder):
    """Two machines (`--nnodes 2`, one process each): DDP's buckets, sent while the backward runs, hide the network;
    one collective after the backward would not, so G keeps autocast's casts there."""
    cfg = write(tmp_path / "o.yml", merge(base_options(hr_folder, tmp_path / "exp"), AMP))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
              "--master_addr", "127.0.0.1", "--master_port", str(port)]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*launch, "--node_rank", str(node), str(driver), "copies", str(cfg)],
            env=ENV,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node in (1, 0)
    ]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs[1][-3000:]
    assert all("weight copies of 0 tensors" in e for e in errs)
