"""Training on each device: fp16 AMP with its gradient scaler, bf16 AMP, validation on the training device, and
torchrun with one process. Bodies run on the CPU and, where there is one, on a CUDA GPU (skipped elsewhere)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import base_options, merge, patch_forward, train_stops_at_iteration_7, write

from devices import DEVICES, needs_cuda
from upres.cli import main
from upres.io.model_files import read_tensors
from upres.train.checkpoint import load_training_state
from upres.train.config import parse_options
from upres.train.loop import train

REPO = Path(__file__).resolve().parents[2]


def _weights(exp: Path, it: int) -> dict[str, torch.Tensor]:
    return read_tensors(exp / "models" / f"net_g_{it}.safetensors")[0]


def _poison_forward(monkeypatch, bad_calls: set[int]) -> None:
    """The generator's output is infinite on the given forward calls, as an fp16 overflow would make it."""
    patch_forward(
        monkeypatch, lambda n, forward, x: forward(x) * float("inf") if n in bad_calls else forward(x)
    )


@needs_cuda
def test_fp16_amp_skips_an_overflowing_step_and_lowers_the_scale(tmp_path, hr_folder, monkeypatch):
    _poison_forward(monkeypatch, {3})
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "use_amp": True,
            "amp_bf16": False,
            "train": {"total_iter": 4, "ema_decay": 0},
            "logger": {"print_freq": 1, "save_checkpoint_freq": 1},
        },
    )
    train(parse_options(opts), device="cuda")
    log = (exp / "log.txt").read_text()
    assert "AMP float16" in log
    skipped = {int(m[0]): int(m[1]) for m in re.findall(r" iter (\d+)/4 .* skipped (\d+) ", log)}
    assert skipped[3] == skipped[2] + 1  # counted on the device, read at print time
    before, at3, after = _weights(exp, 2), _weights(exp, 3), _weights(exp, 4)
    assert all(torch.equal(before[k], at3[k]) for k in before), "the overflowing step changed the weights"
    assert any(not torch.equal(at3[k], after[k]) for k in at3), "training did not go on"
    assert load_training_state(exp / "training_states" / "4.state")["scaler"]["scale"] < 65536.0


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_amp_trains_without_a_gradient_scaler(tmp_path, hr_folder, device):
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "use_amp": True,
            "use_amp_on_cpu": True,  # off by default on CPU, where bf16 is usually slower: asked for here
            "amp_bf16": True,
            "use_channels_last": True,
            "train": {"total_iter": 5},
        },
    )
    result = train(parse_options(opts), device=device)
    assert f"device {device}" in (exp / "log.txt").read_text()
    assert "AMP bfloat16" in (exp / "log.txt").read_text()
    assert all(math.isfinite(v) for v in result.last_losses.values())
    state = load_training_state(exp / "training_states" / "5.state")
    assert "scaler" not in state
    first = train(parse_options(merge(opts, {"train": {"total_iter": 1}, "path": {"experiments_root": str(tmp_path / "one")}})), device=device)  # fmt: skip
    assert first.iteration == 1
    a, b = _weights(tmp_path / "one", 1), _weights(exp, 5)
    assert any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("device", DEVICES)
def test_validation_runs_on_the_training_device_and_matches_upres_test(
    tmp_path, hr_folder, device, monkeypatch, capsys
):
    import upres.train.watch as watch_mod

    seen: list[torch.device] = []
    real_upscaler = watch_mod.Upscaler

    def spy(module, scale, dev, *args, **kwargs):
        seen.append(torch.device(dev))
        return real_upscaler(module, scale, dev, *args, **kwargs)

    monkeypatch.setattr(watch_mod, "Upscaler", spy)
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
            "val": {"val_freq": 5, "save_img": False, "metrics": {"psnr": {"type": "calculate_psnr"}}},
            "train": {"total_iter": 5, "ema_decay": 0},
        },
    )
    result = train(parse_options(opts), device=device)
    assert [d.type for d in seen] == [device]
    psnr, at = result.best["psnr"]
    assert at == 5 and math.isfinite(psnr)
    capsys.readouterr()
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["test", "-c", str(cfg), "-o", str(tmp_path / "results"), "--json", "--device", "cpu"]) == 0
    import json

    on_cpu = json.loads(capsys.readouterr().out)["results"]["val"]["psnr"]
    # On the CPU both are the same computation; a GPU's convolutions (TF32 by default in cuDNN) move PSNR by a few
    # hundredths of a dB at most on these 64 px images.
    assert psnr == pytest.approx(on_cpu, abs=1e-6 if device == "cpu" else 0.05)


@needs_cuda
@pytest.mark.slow
def test_torchrun_with_one_process_trains_on_the_gpu(tmp_path, hr_folder):
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
           "-m", "upres", "train", "-c", str(cfg), "--device", "cuda"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("finished at iteration") == 1, out.stdout
    assert "device cuda:0" in (tmp_path / "exp" / "log.txt").read_text()
    assert (tmp_path / "exp" / "models" / "net_g_10.safetensors").exists()


def _gpus(monkeypatch, n: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


@pytest.mark.parametrize(
    ("spec", "gpus", "local_rank", "world", "expected"),
    [
        ("auto", 0, 0, 1, "cpu"),
        ("auto", 2, 0, 1, "cuda:0"),
        ("cuda", 2, 0, 1, "cuda:0"),
        ("cuda:1", 2, 0, 1, "cuda:1"),  # was cuda:0 whatever the index
        ("cpu", 2, 0, 1, "cpu"),
        ("auto", 2, 1, 2, "cuda:1"),  # torchrun: the local GPU
        ("cuda", 2, 1, 2, "cuda:1"),
        ("auto", 0, 1, 2, "cpu"),  # torchrun over gloo on CPUs
        ("cpu", 2, 1, 2, "cpu"),
    ],
)
def test_the_training_device_is_the_one_asked_for(monkeypatch, spec, gpus, local_rank, world, expected):
    from upres.devices import training_device

    _gpus(monkeypatch, gpus)
    assert training_device(spec, local_rank, world) == torch.device(expected)


@pytest.mark.parametrize(
    ("spec", "gpus", "local_rank", "world", "message"),
    [
        ("cuda", 0, 0, 1, "--device cuda: no CUDA GPU is visible; use --device cpu"),
        ("cuda:0", 0, 0, 1, "--device cuda:0: no CUDA GPU is visible; use --device cpu"),
        ("cuda:2", 2, 0, 1, "--device cuda:2: only 2 GPU(s) visible (cuda:0 to cuda:1)"),
        ("gpu", 2, 0, 1, "--device 'gpu' is not a device; use auto, cpu, cuda or cuda:N"),
        (
            "cuda:0,cuda:1",
            2,
            0,
            1,
            "a training process runs on one device; for several GPUs start it with torchrun",
        ),
        ("cuda:1", 2, 0, 2, "under torchrun each process takes its local GPU; give auto, cuda or cpu"),
        ("cuda", 0, 0, 2, "--device cuda: no CUDA GPU is visible; use --device cpu"),
        ("auto", 2, 2, 3, "LOCAL_RANK 2 but only 2 GPU(s) visible: start at most 2 processes per machine"),
    ],
)
def test_a_device_that_is_not_there_is_an_error_never_the_cpu(
    monkeypatch, spec, gpus, local_rank, world, message
):
    from upres.devices import training_device
    from upres.errors import UpresError

    _gpus(monkeypatch, gpus)
    with pytest.raises(UpresError) as info:
        training_device(spec, local_rank, world)
    assert message in str(info.value)


def test_train_on_a_missing_gpu_stops_before_writing_anything(tmp_path, hr_folder, monkeypatch, capsys):
    """It used to train on the CPU, silently, when `--device cuda` found no GPU."""
    _gpus(monkeypatch, 0)
    exp = tmp_path / "exp"
    cfg = write(tmp_path / "train.yml", base_options(hr_folder, exp))
    assert main(["train", "-c", str(cfg), "--device", "cuda"]) == 2
    assert capsys.readouterr().err.strip() == "error: --device cuda: no CUDA GPU is visible; use --device cpu"
    assert not exp.exists()


@pytest.mark.parametrize(
    ("gpus", "spec", "rank", "said"),
    [
        (0, "cuda", "0", "error: --device cuda: no CUDA GPU is visible; use --device cpu\n"),
        (0, "cuda", "1", ""),  # every process printed the same line
        (2, "cuda:1", "1", ""),
        (
            2,
            "auto",
            "2",
            "error: LOCAL_RANK 2 but only 2 GPU(s) visible: start at most 2 processes per machine",
        ),
    ],
)
def test_under_torchrun_a_device_error_every_process_meets_is_said_once(
    tmp_path, hr_folder, monkeypatch, capsys, gpus, spec, rank, said
):
    _gpus(monkeypatch, gpus)
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("LOCAL_RANK", rank)
    cfg = write(tmp_path / "train.yml", base_options(hr_folder, tmp_path / "exp"))
    assert main(["train", "-c", str(cfg), "--device", spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) if said else err == ""


def _run_out_of_memory(monkeypatch, at_call: int, error: Exception) -> None:
    def on_call(n, forward, x):
        if n == at_call:
            raise error
        return forward(x)

    patch_forward(monkeypatch, on_call)


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: 1 bytes"
        ),
        RuntimeError(  # Windows' wording (_aligned_malloc): a traceback there before
            "[enforce fail at alloc_cpu.cpp:116] data. DefaultCPUAllocator: not enough memory: you tried to allocate "
            "1 bytes."
        ),
    ],
    ids=["gpu", "cpu", "cpu-windows"],
)
def test_running_out_of_memory_is_one_line_with_the_sizes_and_keeps_the_saved_states(
    tmp_path, hr_folder, monkeypatch, capsys, error
):
    _run_out_of_memory(monkeypatch, 7, error)
    line, log = train_stops_at_iteration_7(hr_folder, tmp_path, capsys)
    message = (
        "out of memory in iteration 7 on cpu with datasets.train.batch_size_per_gpu 2, lq_size 16: lower "
        "batch_size_per_gpu (raise accum_iter to keep the effective batch) or lq_size; the newest saved state is "
        "5.state"
    )
    assert line == f"error: {message}" and message in log


def test_an_error_that_is_not_about_memory_still_shows_where_it_came_from(tmp_path, hr_folder, monkeypatch):
    _run_out_of_memory(monkeypatch, 2, RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        train(parse_options(base_options(hr_folder, tmp_path / "exp")), device="cpu")


def test_running_out_of_memory_in_validation_names_validation_and_its_fix(
    tmp_path, hr_folder, monkeypatch, capsys
):
    import upres.train.watch as watch_mod

    def full(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 MiB")

    monkeypatch.setattr(
        watch_mod, "run_validation", full
    )  # past retry_halving: even the smallest tiles failed
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
            "val": {"val_freq": 5, "metrics": {"psnr": {"type": "calculate_psnr"}}},
        },
    )
    assert main(["train", "-c", str(write(tmp_path / "train.yml", opts)), "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: out of memory validating after iteration 5 on cpu, even in the smallest tiles: give val.tile_size a "
        "small value (e.g. 128) or validate on smaller images; the newest saved state is 5.state"
    )


@pytest.mark.parametrize("supported", [True, False])
def test_amp_bf16_on_a_gpu_without_bf16_goes_fp16_with_a_note(monkeypatch, hr_folder, tmp_path, supported):
    """Pre-Ampere GPUs (GTX 10xx, RTX 20xx, T4, V100) would emulate bf16 far slower than fp16; redux falls back too."""
    from upres.train.watch import bf16_where_supported, precision_text

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: supported)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    opts = parse_options(merge(base_options(hr_folder, tmp_path), {"use_amp": True, "amp_bf16": True}))
    notes: list[str] = []
    cuda = torch.device("cuda", 0)
    after = bf16_where_supported(opts, cuda, notes.append)
    if supported:
        assert after is opts and notes == [] and precision_text(after, cuda) == "AMP bf16"
    else:
        assert after.amp_bf16 is False and precision_text(after, cuda) == "AMP fp16"
        assert notes == [
            "amp_bf16: Tesla T4 has no bf16, which PyTorch would emulate slowly; AMP uses fp16 with a gradient scaler "
            "instead (set amp_bf16: false to silence this)"
        ]
    assert bf16_where_supported(opts, torch.device("cpu"), notes.append) is opts  # the CPU has its own rule
