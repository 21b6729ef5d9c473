"""`--device` of every command that runs a model: one rule (upres/devices.py), a one-line error and exit 2 for a
device that does not exist or is not there, before anything is written; never a silent fall back to the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import save_model


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    module, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    model = save_model(tmp_path / "m.safetensors", module, info)
    images = tmp_path / "hr"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(images / f"{i}.png")
    network = {"type": "compact", "num_feat": 8, "num_conv": 2}
    test_file = tmp_path / "test.yml"
    test_file.write_text(yaml.safe_dump({
        "name": "t", "scale": 2, "network_g": network, "path": {"pretrain_network_g": str(model)},
        "datasets": {"test_1": {"type": "pairedimagedataset", "dataroot_gt": str(images)}},
    }))  # fmt: skip
    train_file = tmp_path / "train.yml"
    train_file.write_text(yaml.safe_dump({
        "name": "t", "scale": 2, "network_g": network, "path": {"experiments_root": str(tmp_path / "exp")},
        "datasets": {"train": {"type": "pairedimagedataset", "dataroot_gt": str(images), "lq_size": 8,
                               "batch_size_per_gpu": 1, "num_worker_per_gpu": 0}},
        "train": {"total_iter": 2, "optim_g": {"type": "AdamW", "lr": 1e-4}},
    }))  # fmt: skip
    return {"model": model, "images": images, "test": test_file, "train": train_file, "root": tmp_path}


COMMANDS = {
    "upscale": lambda p: ["upscale", "-m", str(p["model"]), str(p["images"]), "-o", str(p["root"] / "out")],
    "eval": lambda p: ["eval", "--bicubic", "-s", "2", str(p["images"])],
    "test": lambda p: ["test", "-c", str(p["test"]), "-o", str(p["root"] / "out")],
    "train": lambda p: ["train", "-c", str(p["train"])],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("device", "gpus", "message"),
    [
        ("gpu", 1, "--device 'gpu' is not a device; use auto, cpu, cuda or cuda:N"),
        ("cuda", 0, "--device cuda: no CUDA GPU is visible; use --device cpu"),
        ("cuda:1", 0, "--device cuda:1: no CUDA GPU is visible; use --device cpu"),
        ("cuda:1", 1, "--device cuda:1: only 1 GPU(s) visible (cuda:0 to cuda:0)"),
    ],
)
def test_a_device_that_is_not_there_is_one_line_and_nothing_written(
    inputs, monkeypatch, capsys, command, device, gpus, message
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    before = sorted(inputs["root"].rglob("*"))
    assert main([*COMMANDS[command](inputs), "--device", device]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"
    assert sorted(inputs["root"].rglob("*")) == before


def test_a_cpu_index_is_refused_as_a_likely_typo():
    """torch takes cpu:3 and runs on the one CPU device; the user most likely meant a GPU."""
    from upres.devices import resolve_devices
    from upres.errors import UpresError

    assert resolve_devices("cpu:0") == [torch.device("cpu", 0)]
    with pytest.raises(
        UpresError, match=r"^--device cpu:3: the CPU is one device; use cpu \(or cuda:3 for a GPU\)$"
    ):
        resolve_devices("cpu:3")
