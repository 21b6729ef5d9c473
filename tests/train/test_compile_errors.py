"""use_compile where torch.compile cannot work: one line naming the key and the fix, exit 2, nothing lost."""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import torch
from train_helpers import base_options, merge, write

from upres.cli import main
from upres.toolchain import missing_toolchain
from upres.train.compiling import toolchain_error

REPO = Path(__file__).resolve().parents[2]
SRC = str(REPO / "src")


def test_no_cpp_compiler_on_the_cpu_is_one_line_before_the_experiment_folder_exists(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    cfg = write(tmp_path / "o.yml", merge(base_options(hr_folder, exp), {"use_compile": True}))
    # Inductor takes its C++ compiler from CXX (read when torch is imported): a new process, as a user's shell has it.
    env = {**os.environ, "PYTHONPATH": SRC, "CXX": str(tmp_path / "no-such-compiler")}
    out = subprocess.run(
        [sys.executable, "-m", "upres", "train", "-c", str(cfg), "--device", "cpu"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: use_compile: torch.compile cannot run on cpu here: on the CPU it needs a working C++ compiler "
        "(g++ or clang++; MSVC on Windows), and none was found; install it, or set use_compile: false"
    ]
    assert not exp.exists()


def test_a_gpu_without_triton_or_too_old_for_it_is_named(monkeypatch):
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "NVIDIA GeForce GTX 1080 Ti")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (6, 1))
    real_find = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real_find(name, *a)
    )
    no_triton = toolchain_error(gpu)
    assert no_triton == (
        "use_compile: torch.compile cannot run on cuda:0 here: on a GPU it needs the triton package, which this "
        "PyTorch install lacks (pip install triton; on Windows, triton-windows); install it, or set use_compile: false"
    )
    assert f"error: {no_triton}" in (REPO / "docs" / "training-guide.md").read_text(encoding="utf-8")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "triton" else None)
    assert missing_toolchain(gpu) == (
        "its GPU code generator (Triton) needs a GPU of compute capability 7.0 or newer, and NVIDIA GeForce GTX "
        "1080 Ti is 6.1"
    )
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 0))
    assert missing_toolchain(gpu) is None


def test_a_compile_failure_during_the_run_is_one_line_and_saves_nothing_of_it(
    tmp_path, hr_folder, monkeypatch, capsys
):
    """An op the compiler cannot handle shows at the first step; a recompile (a new shape) can fail much later."""

    def failing(graph, inputs, **compile_options):
        raise RuntimeError("cannot lower aten.made_up")

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend=failing))
    exp = tmp_path / "exp"
    cfg = write(tmp_path / "o.yml", merge(base_options(hr_folder, exp), {"use_compile": True}))
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 2
    line = (
        "use_compile: torch.compile failed in iteration 1 (RuntimeError: cannot lower aten.made_up); set "
        "use_compile: false to train without it; no training state is saved"
    )
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {line}"
    assert line in (exp / "log.txt").read_text()
    assert list((exp / "training_states").iterdir()) == []
