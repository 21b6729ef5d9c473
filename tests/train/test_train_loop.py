"""The training loop: learning, exact resume, crash safety, NaN guard, accumulation and DDP equivalence."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from spandrel import ModelLoader
from train_helpers import base_options, merge, patch_forward, small_gan, write

from devices import DEVICES
from upres.io.model_files import read_tensors, save_model
from upres.train import checkpoint
from upres.train.checkpoint import find_resume_state, list_states, load_training_state
from upres.train.config import parse_options
from upres.train.loop import train

REPO = Path(__file__).resolve().parents[2]


def _run(opts: dict, **kw):
    # The CPU unless a test names a device: these compare runs bit for bit or with CPU-made references (the
    # CUDA behaviour has its own tests, e.g. tests/train/test_device_training.py).
    kw.setdefault("device", "cpu")
    return train(parse_options(opts), **kw)


def _final_weights(exp: Path, it: int, kind: str = "net_g") -> dict[str, torch.Tensor]:
    return read_tensors(exp / "models" / f"{kind}_{it}.safetensors")[0]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}


def test_short_run_lowers_loss_and_raises_psnr(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
            "network_g": {"type": "compact", "num_feat": 16, "num_conv": 2},
            "train": {"total_iter": 60, "optim_g": {"lr": 2e-3}, "ema_decay": 0},
            "val": {
                "val_freq": 30,
                "save_img": True,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2}},
            },
            "logger": {"print_freq": 10, "save_checkpoint_freq": 30},
        },
    )
    # Validation PSNR before any training, from the same initial weights.
    first = _run(
        merge(
            opts,
            {
                "train": {"total_iter": 1, "optim_g": {"lr": 1e-12}},
                "path": {"experiments_root": str(tmp_path / "e0")},
            },
        )
    )
    result = _run(opts)
    log = (exp / "log.txt").read_text()
    losses = [float(line.split("l_g_l1 ")[1].split()[0]) for line in log.splitlines() if "l_g_l1" in line]
    assert losses[-1] < losses[0]
    assert result.best["psnr"][0] > first.best["psnr"][0] + 0.5
    assert (exp / "report.html").read_text().count("<svg") >= 2
    assert list((exp / "visualization" / "val").glob("60_*.png"))
    # Saved models load in chaiNNer's loader with the right architecture.
    desc = ModelLoader().load_from_file(exp / "models" / "net_g_60.safetensors")
    assert desc.scale == 2 and desc.architecture.id == "Compact"


def test_accumulation_equals_bigger_batch(tmp_path, hr_folder):
    big = merge(base_options(hr_folder, tmp_path / "big"), {"datasets": {"train": {"batch_size_per_gpu": 4}}})
    acc = merge(
        base_options(hr_folder, tmp_path / "acc"),
        {"datasets": {"train": {"batch_size_per_gpu": 2, "accum_iter": 2}}},
    )
    _run(big)
    _run(acc)
    a, b = _final_weights(tmp_path / "big", 10), _final_weights(tmp_path / "acc", 10)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_sigkill_then_resume_is_bit_identical(tmp_path, hr_folder, device):
    # On CUDA too: `deterministic: true` (base_options) picks deterministic kernels and cuBLAS workspace.
    total = 200
    opts = merge(
        base_options(hr_folder, tmp_path / "x"),
        {
            "train": {"total_iter": total},
            "logger": {"print_freq": 50, "save_checkpoint_freq": 5, "keep_checkpoints": 2},
        },
    )
    straight = merge(opts, {"path": {"experiments_root": str(tmp_path / "straight")}})
    killed = merge(opts, {"path": {"experiments_root": str(tmp_path / "killed")}})
    cfg = write(tmp_path / "killed.yml", killed)
    proc = subprocess.Popen([sys.executable, "-m", "upres", "train", "-c", str(cfg), "--device", device], env=_env(),
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    states = tmp_path / "killed" / "training_states"
    deadline = time.time() + 120
    while time.time() < deadline and not list(states.glob("10.state")) and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    resumed_from = find_resume_state(states)
    assert resumed_from is not None and int(resumed_from.stem) < total
    out = subprocess.run([sys.executable, "-m", "upres", "train", "-c", str(cfg), "--resume", "auto", "--device", device],
                         env=_env(), cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"resumed from {resumed_from}" in out.stdout
    write(tmp_path / "straight.yml", straight)
    out = subprocess.run([sys.executable, "-m", "upres", "train", "-c", str(tmp_path / "straight.yml"), "--device",
                          device], env=_env(), cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    for kind in ("net_g", "net_g_ema"):
        a, b = (
            _final_weights(tmp_path / "straight", total, kind),
            _final_weights(tmp_path / "killed", total, kind),
        )
        for k in a:
            assert torch.equal(a[k], b[k]), (kind, k)


def test_failed_checkpoint_write_keeps_previous_state(tmp_path, hr_folder, monkeypatch):
    exp = tmp_path / "exp"
    _run(base_options(hr_folder, exp))
    states = exp / "training_states"
    assert [p.name for p in list_states(states)] == ["5.state", "10.state"]

    def torn_write(obj, path, *a, **k):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", torn_write)
    with pytest.raises(
        checkpoint.CheckpointError, match="No space left on device.*previous state .*10.state is intact"
    ):
        checkpoint.save_training_state(states, 15, {"x": 1}, keep=3)
    assert sorted(p.name for p in states.iterdir()) == ["10.state", "5.state"]  # nothing added, nothing lost
    assert not (states / "15.state").exists()
    assert not [p for p in states.iterdir() if p.suffix == ".part"]
    assert load_training_state(states / "10.state")["iteration"] == 10
    # A state torn by something outside our control (not our atomic write) is skipped by --resume auto.
    (states / "20.state").write_bytes(b"PK\x03\x04 torn")
    assert find_resume_state(states) == states / "10.state"


def test_nan_steps_are_skipped_then_rolled_back_and_never_saved(tmp_path, hr_folder, monkeypatch):
    # Iterations 7..12 produce NaN (the first 6 calls are iterations 1..6).
    patch_forward(
        monkeypatch, lambda n, forward, x: forward(x) * float("nan") if 7 <= n <= 12 else forward(x)
    )
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "train": {"total_iter": 14, "nan_rollback_after": 3, "ema_decay": 0},
            "logger": {"print_freq": 1, "save_checkpoint_freq": 5},
        },
    )
    _run(opts)
    log = (exp / "log.txt").read_text()
    assert (
        "non-finite steps in a row; rolled back to 5.state (iteration 5) and halved the learning rate" in log
    )
    for path in (exp / "models").glob("*.safetensors"):
        state = read_tensors(path)[0]
        assert all(torch.isfinite(v).all() for v in state.values()), path
    # Skipped steps left the weights untouched: the model saved at 10 (after rolling back) is finite and training finished.
    assert (exp / "models" / "net_g_14.safetensors").exists()


def test_non_strict_pretrain_reports_matches(tmp_path, hr_folder, capsys):
    from upres.archs import build_network

    net2, info2 = build_network("esrgan", scale=2, num_feat=8, num_block=1)
    pre = save_model(tmp_path / "x2.safetensors", net2, info2)
    opts = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {
            "scale": 4,
            "datasets": {"train": {"lq_size": 8}},
            "path": {"pretrain_network_g": str(pre), "strict_load_g": False},
            "train": {"total_iter": 1},
        },
    )
    opts["network_g"] = {"type": "esrgan", "num_feat": 8, "num_block": 1}
    _run(opts, dry_run=True)
    out = capsys.readouterr().out
    # x2 RRDBNet pixel-unshuffles (12 input channels) and has 2 up-convs like x4: only conv_first differs.
    assert (
        "tensors loaded; 1 shape-mismatched and left initialised (conv_first.weight (8, 12, 3, 3)->(8, 3, 3, 3))"
        in out
    )
    strict = merge(opts, {"path": {"strict_load_g": True}})
    from upres.errors import ConfigError

    with pytest.raises(ConfigError, match="does not fit network_g.*strict_load_g: false") as refused:
        _run(strict, dry_run=True)
    # a refusal loads nothing: it says what would fit, not what was "loaded ... and left initialised"
    assert "tensors fit; 1 of another shape (conv_first.weight" in str(refused.value)
    assert "loaded" not in str(refused.value) and "left initialised" not in str(refused.value)


def _torchrun_train(cfg: Path, cwd: Path, *extra: str) -> None:
    """`torchrun --nproc_per_node 2 -m upres train` on the CPU; it must end cleanly with one report."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "upres", "train", "-c", str(cfg), "--device", "cpu", *extra]  # fmt: skip
    out = subprocess.run(cmd, env=_env(), cwd=cwd, capture_output=True, text=True, timeout=300)
    # The head holds a crashing rank's own message; the tail holds torchrun's summary.
    assert out.returncode == 0, out.stderr[:3000] + "\n...\n" + out.stderr[-1500:]
    assert out.stdout.count("finished at iteration") == 1, out.stdout  # rank 0 reports, not every process


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process_with_double_batch(tmp_path, hr_folder):
    single = merge(
        base_options(hr_folder, tmp_path / "single"), {"datasets": {"train": {"batch_size_per_gpu": 4}}}
    )
    _run(single, device="cpu")
    _torchrun_train(write(tmp_path / "ddp.yml", base_options(hr_folder, tmp_path / "ddp")), tmp_path)
    a, b = _final_weights(tmp_path / "single", 10), _final_weights(tmp_path / "ddp", 10)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=0)
    # The logged losses are those of the whole batch too (they were the main process's half).
    logged = [
        [
            float(v)
            for v in re.findall(r"iter \d+/10 .* l_g_l1 ([\d.e-]+)", (tmp_path / run / "log.txt").read_text())
        ]
        for run in ("single", "ddp")
    ]
    assert len(logged[0]) == 2 and logged[0] == pytest.approx(logged[1], rel=2e-3)


@pytest.mark.slow
def test_ddp_otf_run_saves_every_ranks_pair_pool_and_resumes_exactly(tmp_path, hr_folder):
    def options(root: str) -> Path:
        opts = merge(base_options(hr_folder, tmp_path / root), {"queue_size": 4, "jpeg_range": [70, 95]})
        opts["datasets"]["train"].update(type="realesrgandataset", lq_size=16)
        return write(tmp_path / f"{root}.yml", opts)

    _torchrun_train(options("straight"), tmp_path)
    state = tmp_path / "straight" / "training_states" / "5.state"
    pools = load_training_state(state)["pair_pool"]
    assert len(pools) == 2 and all(p["filled"] == 4 for p in pools)
    assert not torch.equal(pools[0]["gt"], pools[1]["gt"])  # each rank mixes its own samples
    _torchrun_train(options("resumed"), tmp_path, "--resume", str(state))
    a, b = _final_weights(tmp_path / "straight", 10), _final_weights(tmp_path / "resumed", 10)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_ctrl_c_saves_a_resumable_state(tmp_path, hr_folder):
    opts = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {"train": {"total_iter": 100000}, "logger": {"print_freq": 1, "save_checkpoint_freq": 100000}},
    )
    cfg = write(tmp_path / "o.yml", opts)
    proc = subprocess.Popen([sys.executable, "-m", "upres", "train", "-c", str(cfg)], env=_env(), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    log = tmp_path / "exp" / "log.txt"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "iter 3/" in log.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    states = list_states(tmp_path / "exp" / "training_states")
    assert states and int(states[-1].stem) >= 3
    assert "saving the training state before exiting" in log.read_text()
    assert load_training_state(states[-1])["iteration"] == int(states[-1].stem)


def test_early_stop_and_upres_test_command(tmp_path, hr_folder, capsys):
    from upres.cli import main

    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
            # A learning rate this small cannot move PSNR, so the tracked metric never improves after the first check.
            "train": {"total_iter": 50, "optim_g": {"lr": 1e-12}, "ema_decay": 0, "early_stop_patience": 2},
            "val": {
                "val_freq": 5,
                "save_img": False,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2}},
            },
        },
    )
    result = _run(opts)
    assert result.iteration == 15  # best at 5, no improvement at 10 and 15
    assert "early stop at iteration 15" in (exp / "log.txt").read_text()
    assert (exp / "models" / "net_g_best.safetensors").exists()
    capsys.readouterr()
    cfg = write(tmp_path / "o.yml", opts)
    # Same device as the training run above: the PSNR must match to 1e-6.
    assert main(["test", "-c", str(cfg), "-o", str(tmp_path / "results"), "--json", "--device", "cpu"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["model"].endswith("net_g_best.safetensors")
    assert report["results"]["val"]["psnr"] == pytest.approx(result.best["psnr"][0], abs=1e-6)
    assert len(list((tmp_path / "results" / "val").glob("*.png"))) == 6


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_torch_compile_trains_like_eager(tmp_path, hr_folder, device):
    eager = merge(
        base_options(hr_folder, tmp_path / "eager"),
        {"train": {"total_iter": 3}, "logger": {"save_checkpoint_freq": 3}},
    )
    compiled = merge(eager, {"use_compile": True, "path": {"experiments_root": str(tmp_path / "compiled")}})
    losses = _run(eager, device=device).last_losses
    compiled_losses = _run(compiled, device=device).last_losses
    # Inductor fuses and reorders float32 arithmetic: equal to rounding, not bit for bit.
    assert compiled_losses == pytest.approx(losses, rel=1e-4)
    a, b = _final_weights(tmp_path / "eager", 3), _final_weights(tmp_path / "compiled", 3)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-4, rtol=1e-3)


def test_resume_with_changed_options_is_an_error_or_a_note(tmp_path, hr_folder, capsys):
    from upres.cli import main

    _run(base_options(hr_folder, tmp_path / "exp"))
    state = tmp_path / "exp" / "training_states" / "5.state"
    wider = merge(base_options(hr_folder, tmp_path / "wide"), {"network_g": {"num_feat": 12}})
    assert main(["train", "-c", str(write(tmp_path / "wide.yml", wider)), "--resume", str(state)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"--resume {state}: its generator does not fit this run's network_g (" in err
    assert "is [8, 3, 3, 3] in the state, [12, 3, 3, 3] in network_g)" in err
    bigger = merge(
        base_options(hr_folder, tmp_path / "big"), {"datasets": {"train": {"batch_size_per_gpu": 3}}}
    )
    _run(bigger, resume=str(state))
    log = (tmp_path / "big" / "log.txt").read_text()
    assert "data settings differ from the state's (batch_size_per_gpu 2 -> 3)" in log
    assert "data settings differ" not in (tmp_path / "exp" / "log.txt").read_text()


def test_a_bad_validation_image_is_left_out_not_fatal(tmp_path, hr_folder):
    import shutil

    val = tmp_path / "val"
    val.mkdir()
    for name in ("0.png", "1.png"):
        shutil.copy(hr_folder / name, val / name)
    opts = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(val)}},
            "val": {"val_freq": 5, "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2}}},
        },
    )
    reference = _run(merge(opts, {"path": {"experiments_root": str(tmp_path / "ref")}}))
    (val / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = _run(opts)
    log = (tmp_path / "exp" / "log.txt").read_text()
    assert (
        f"datasets.val: 1 bad sample(s) will be left out of validation: {val / '2.png'}: cannot read image"
        in log
    )
    assert (
        result.best["psnr"] == reference.best["psnr"]
    )  # scored on the two good images, as without the bad one


def test_a_failed_periodic_save_is_a_note_a_failed_last_save_stops(tmp_path, hr_folder, monkeypatch):
    from upres.train import persist

    real = persist.save_training_state
    fail_at = {5}

    def flaky(root, iteration, state, keep):
        if iteration in fail_at:
            raise checkpoint.CheckpointError(
                f"could not write training state {root}/{iteration}.state (No space left on device)"
            )
        return real(root, iteration, state, keep)

    monkeypatch.setattr(persist, "save_training_state", flaky)
    result = _run(base_options(hr_folder, tmp_path / "exp"))
    assert result.iteration == 10
    log = (tmp_path / "exp" / "log.txt").read_text()
    assert "saving at iteration 5 failed (could not write training state" in log
    assert (
        "training goes on and no state is saved yet; free space before the next save at iteration 10" in log
    )
    assert [p.name for p in list_states(tmp_path / "exp" / "training_states")] == ["10.state"]
    fail_at.add(10)
    from upres.train.loop import TrainingError

    with pytest.raises(TrainingError, match="saving at iteration 10 failed"):
        _run(base_options(hr_folder, tmp_path / "exp2"))


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["pairedimagedataset", "realesrgandataset"])
def test_loader_worker_count_never_changes_what_is_trained(tmp_path, hr_folder, dataset, monkeypatch):
    def weights(workers: int) -> dict:
        opts = merge(base_options(hr_folder, tmp_path / str(workers)), {"queue_size": 4})
        opts["datasets"]["train"].update(type=dataset, num_worker_per_gpu=workers)
        _run(opts, device="cpu")
        return _final_weights(tmp_path / str(workers), 10)

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    a, b = weights(0), weights(2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_more_loader_workers_than_cores_are_capped_with_a_note(monkeypatch):
    from upres.train.setup import loader_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    notes: list[str] = []
    assert loader_workers(3, notes) == 3 and loader_workers(None, notes) == 2 and not notes
    assert loader_workers(8, notes) == 4
    assert notes == [
        "datasets.train.num_worker_per_gpu 8 is more than the 4 CPU core(s) this process has: using 4 "
        "(more would only add memory and contention)"
    ]
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun: four training processes share the cores
    assert loader_workers(8, []) == 1


def test_otf_debug_saves_the_first_batches_as_trained(tmp_path, hr_folder):
    from upres.io.images import read_image
    from upres.train.otf_debug import otf_debug_sheet

    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {"high_order_degradation": True, "high_order_degradations_debug": True, "queue_size": 0},
    )
    opts["high_order_degradations_debug_limit"] = 2
    opts["datasets"]["train"]["accum_iter"] = 2
    _run(opts, device="cpu")
    saved = sorted(p.name for p in (exp / "debug" / "otf").iterdir())
    assert saved == sorted(["000001_otf.png", "000001_1_otf.png", "000002_otf.png", "000002_1_otf.png"])
    sheet = read_image(exp / "debug" / "otf" / "000001_otf.png")
    assert sheet.shape == (2 * 32, 2 * 32, 3)  # batch 2, rows of [LR enlarged | 32x32 target]
    assert "the first training batches are saved to" in (exp / "log.txt").read_text()

    lq = torch.rand(2, 3, 4, 4)
    target = torch.rand(2, 3, 8, 8)
    arr = otf_debug_sheet(lq, target)
    expected_lr = torch.nn.functional.interpolate(lq, scale_factor=2, mode="nearest")[1]
    torch.testing.assert_close(
        torch.from_numpy(arr[8:, :8]).permute(2, 0, 1).float() / 255, expected_lr, atol=0.5 / 255, rtol=0
    )
    torch.testing.assert_close(
        torch.from_numpy(arr[:8, 8:]).permute(2, 0, 1).float() / 255, target[0], atol=0.5 / 255, rtol=0
    )


def test_otf_debug_that_cannot_write_is_a_note_not_a_failed_run(tmp_path, hr_folder, monkeypatch):
    from upres.train import feed

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feed, "save_otf_debug", full_disk)
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {"high_order_degradation": True, "high_order_degradations_debug": True, "queue_size": 0},
    )
    assert _run(opts, device="cpu").iteration == 10
    log = (exp / "log.txt").read_text()
    assert log.count("high_order_degradations_debug stopped: cannot write to") == 1


def _window_losses(exp: Path, name: str) -> list[float]:
    return [
        float(v) for v in re.findall(rf" iter \d+/\d+ .*?{name} ([\d.e+-]+)", (exp / "log.txt").read_text())
    ]


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["fidelity", "gan"])
@pytest.mark.parametrize("device", DEVICES)
def test_use_compile_follows_eager_over_50_bf16_steps(tmp_path, hr_folder, device, stage, monkeypatch):
    """Issue 12: the compiled generator trains like the eager one under bf16 autocast, fidelity and GAN stage, over
    50 steps: every logged window's losses within bf16 rounding (8 significant bits: compiled kernels fuse and reorder
    bf16 arithmetic, so steps differ in the last bits and the runs drift apart by that much, not more)."""
    opts = merge(
        base_options(hr_folder, tmp_path / "eager"),
        {
            "use_amp": True, "amp_bf16": True, "use_amp_on_cpu": True,
            "train": {"total_iter": 50, "optim_g": {"type": "AdamW", "lr": 2e-4}},
            "logger": {"print_freq": 10, "save_checkpoint_freq": 50},
        },
    )  # fmt: skip
    opts["network_g"] = {"type": "esrgan", "num_feat": 8, "num_block": 1, "num_grow_ch": 4}
    if stage == "gan":
        opts = merge(
            opts,
            {
                "network_d": {"type": "patchgandiscriminatorsn", "num_feat": 8, "num_layers": 2},
                "train": {
                    "optim_d": {"type": "AdamW", "lr": 2e-4},
                    "losses": [
                        {"type": "l1loss", "loss_weight": 1.0},
                        {"type": "ganloss", "gan_type": "ragan", "loss_weight": 0.1},
                    ],
                },
            },
        )
    compiled = merge(opts, {"use_compile": True, "path": {"experiments_root": str(tmp_path / "compiled")}})
    if device == "cuda":
        compiled["compile_mode"] = (
            "reduce-overhead"  # CUDA graphs, as the GPU check trains (and fast to compile)
        )
    compiles = []
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda *a, **k: compiles.append(k) or real_compile(*a, **k))
    _run(opts, device=device)
    assert compiles == []
    _run(compiled, device=device)
    assert (
        len(compiles) == 1
    )  # the generator really was compiled: equal losses from two eager runs prove nothing
    names = ["l_g_l1"] + (["l_g_gan", "l_d_real", "l_d_fake"] if stage == "gan" else [])
    for name in names:
        eager_windows = _window_losses(tmp_path / "eager", name)
        compiled_windows = _window_losses(tmp_path / "compiled", name)
        assert len(eager_windows) == len(compiled_windows) == 5, name
        assert compiled_windows == pytest.approx(eager_windows, rel=2**-7, abs=1e-3), name


@pytest.mark.slow
def test_ddp_gan_run_with_d_input_noise_resumes_exactly(tmp_path, hr_folder):
    """D's input noise is drawn from each process's own random stream: a resumed rank must go on with its own
    stream, not rank 0's."""

    def options(root: str) -> Path:
        opts = merge(base_options(hr_folder, tmp_path / root), small_gan(d_input_noise=0.05))
        return write(tmp_path / f"{root}.yml", opts)

    _ddp_resume_from_5_equals_straight(tmp_path, options)


@pytest.mark.slow
def test_ddp_gan_run_with_accumulation_and_d_only_iterations_resumes_exactly(tmp_path, hr_folder):
    """On iterations where only D steps (net_d_iters, net_d_init_iters), G's forward under DDP prepared a gradient
    sync that no backward used, and the next iteration's no_sync micro-batch was all-reduced after all: an
    uninterrupted run rounded differently from a resumed one (up to 2e-5 after 12 iterations)."""

    def options(root: str) -> Path:
        opts = merge(
            base_options(hr_folder, tmp_path / root, total_iter=10),
            small_gan("hinge", net_d_iters=2, net_d_init_iters=2),
        )
        opts["datasets"]["train"].update(accum_iter=2, batch_size_per_gpu=1)  # 1 x 2 x 2 ranks: 4 of 6 images
        opts["logger"] = {"print_freq": 1, "save_checkpoint_freq": 5, "use_tb_logger": False}
        return write(tmp_path / f"{root}.yml", opts)

    # 5 is a D-only iteration (odd, net_d_iters 2): the straight run's 6th iteration is the one it touched.
    _ddp_resume_from_5_equals_straight(tmp_path, options)


def _ddp_resume_from_5_equals_straight(tmp_path: Path, options) -> None:
    """A 10-iteration GAN run of two processes, and the same resumed from its state 5: the same G and D at 10."""
    _torchrun_train(options("straight"), tmp_path)
    state = tmp_path / "straight" / "training_states" / "5.state"
    _torchrun_train(options("resumed"), tmp_path, "--resume", str(state))
    for name in ("net_g_10.safetensors", "net_d_10.pth"):
        a = read_tensors(tmp_path / "straight" / "models" / name)[0]
        b = read_tensors(tmp_path / "resumed" / "models" / name)[0]
        assert all(torch.equal(a[k], b[k]) for k in a), name
