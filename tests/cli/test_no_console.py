"""upres.cli.main() in a process without a console (pythonw, a windowed app build): sys.stdout and sys.stderr are
None there, and print() drops its output; a command must work the same, its error code included."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import save_model


def _model(path: Path) -> Path:
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    return save_model(path, net, info)


def test_commands_run_without_any_console(tmp_path, monkeypatch):
    model = _model(tmp_path / "m.safetensors")
    src = tmp_path / "in"
    src.mkdir()
    rgb = np.random.default_rng(0).integers(0, 256, (40, 36, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(src / "a.png")
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    assert main(["info", str(model)]) == 0
    assert main(["upscale", "-m", str(model), str(src), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "out" / "a.png").size == (72, 80)
    assert main(["eval", "-m", str(model), str(src), "--scale", "2", "--device", "cpu"]) == 0
    assert main(["convert", str(model), str(tmp_path / "m.pth")]) == 0
    assert (tmp_path / "m.pth").is_file()
    assert main(["info", str(tmp_path / "missing.pth")]) == 2
    assert sys.stdout is None and sys.stderr is None
