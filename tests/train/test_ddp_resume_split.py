"""A state of a torchrun run resumed with another number of processes: what the log says about the samples."""

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
from upres.train.resume_changes import data_change_note

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
BATCH_4 = {"datasets": {"train": {"batch_size_per_gpu": 4}}, "train": {"total_iter": 15}}


@pytest.mark.slow
def test_two_processes_resumed_as_one_with_the_doubled_batch_go_on_with_the_same_samples(tmp_path, hr_folder):
    """The log said such a resume 'sees other samples in another order', though each step takes the same ones."""
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "ddp"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "upres", "train", "-c", str(cfg), "--device", "cpu"]  # fmt: skip
    out = subprocess.run(cmd, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    train(parse_options(merge(base_options(hr_folder, tmp_path / "ddp"), BATCH_4)), "auto", device="cpu")
    train(parse_options(merge(base_options(hr_folder, tmp_path / "one"), BATCH_4)), device="cpu")
    log = (tmp_path / "ddp" / "log.txt").read_text()
    assert (
        "data settings differ from the state's (batch_size_per_gpu 2 -> 4, processes 2 -> 1): each step takes the "
        "same 4 samples as an uninterrupted run would, only split otherwise" in log
    )
    assert "sees other samples" not in log
    a = read_tensors(tmp_path / "one" / "models" / "net_g_15.safetensors")[0]
    b = read_tensors(tmp_path / "ddp" / "models" / "net_g_15.safetensors")[0]
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=0, msg=k)


def test_a_resume_with_fewer_processes_says_the_effective_batch_and_how_to_keep_it():
    saved = {"samples": 6, "batch_size_per_gpu": 2, "accum_iter": 1, "processes": 4}
    now = {**saved, "processes": 1}
    assert data_change_note(saved, now) == (
        "data settings differ from the state's (processes 4 -> 1): the run continues, but sees other samples in "
        "another order than an uninterrupted run would, and the effective batch is 2 where it was 8; "
        "batch_size_per_gpu 8 keeps it"
    )
    odd = {**saved, "batch_size_per_gpu": 3, "processes": 3}
    assert data_change_note(odd, {**odd, "processes": 2, "batch_size_per_gpu": 9}).endswith(
        "the effective batch is 18 where it was 9"
    )
    assert data_change_note(saved, {**now, "accum_iter": 3}).endswith(
        "the effective batch is 6 where it was 8; accum_iter 4 keeps it"
    )
