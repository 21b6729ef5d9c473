"""traiNNer-redux's own ESRGAN/Compact option files run after a migrating user's edits (paths, scale, lq_size,
workers, pretrain paths): train files pass the dry run, test files `upres test`, onnx files `upres convert -c`.

redux's files are theirs, so they are read from a local checkout: set UPRES_REDUX_DIR to it (the folder holding
`options/`, as for tests/train/test_redux_keys.py; from a bare git dir: `git archive HEAD options | tar -x -C DIR`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from upres.archs import build_network_for
from upres.cli import main
from upres.io.model_files import save_model
from upres.train.config import parse_options
from upres.train.loop import train

_DIR = os.environ.get("UPRES_REDUX_DIR")
ROOT = str(Path(_DIR) / "options") if _DIR and (Path(_DIR) / "options").is_dir() else None
FAMILIES = ("ESRGAN", "Compact")


def _files(kind: str) -> list[Path]:
    if not ROOT:
        return []
    root = Path(ROOT)
    found = [p for fam in FAMILIES for p in sorted((root / "_templates" / kind / fam).glob("*.yml"))]
    found += [p for fam in FAMILIES for p in sorted((root / kind / fam).glob("*.yml"))]
    return found


needs_redux = pytest.mark.skipif(
    not ROOT,
    reason="set UPRES_REDUX_DIR to a traiNNer-redux checkout (with its options/ folder) to run its files",
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("redux-data")
    rng = np.random.default_rng(0)
    out = {}
    for name, size, n in (("hr", 64, 16), ("lr", 32, 16), ("lrs", 12, 8), ("lr2", 10, 1)):
        folder = root / name
        folder.mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        out[name] = folder
    torchvision = pytest.importorskip("torchvision")
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    out["vgg"] = root / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, out["vgg"])
    out["root"] = root
    return out


def _same_shape(value: str | list, folder: Path) -> str | list[str]:
    return [str(folder)] * len(value) if isinstance(value, list) else str(folder)


def _edit(path: Path, data: dict[str, Path], model: Path | None = None) -> dict:
    """What a migrating user changes: paths, scale, lq_size, workers and pretrain paths (and the local VGG19)."""
    options = yaml.safe_load(path.read_text())
    options["scale"] = 2
    for block in (options.get("datasets") or {}).values():
        paired = "dataroot_gt" in block
        if paired:
            block["dataroot_gt"] = _same_shape(block["dataroot_gt"], data["hr"])
        if "dataroot_lq" in block:
            lq = block["dataroot_lq"]
            if paired:
                block["dataroot_lq"] = _same_shape(lq, data["lr"])
            else:  # LR-only test sets: redux's templates list two folders
                block["dataroot_lq"] = (
                    [str(data["lrs"]), str(data["lr2"])] if isinstance(lq, list) else str(data["lrs"])
                )
        if "lq_size" in block:
            block["lq_size"] = 16
        if "num_worker_per_gpu" in block:
            block["num_worker_per_gpu"] = 0
    paths = options.setdefault("path", {})
    for key in [k for k in paths if k.startswith("pretrain_network")]:
        paths[key] = None
    if model is not None:
        paths["pretrain_network_g"] = str(model)
    paths["experiments_root"] = str(data["root"] / "experiments" / path.stem)
    for loss in (options.get("train") or {}).get("losses") or []:
        if str(loss.get("type")).lower() == "perceptualloss":
            loss["vgg_weights_path"] = str(data["vgg"])  # no download here; users have torchvision's file
    return options


def _model(options: dict, where: Path) -> Path:
    net = options["network_g"]
    module, info = build_network_for(
        net["type"], {k: v for k, v in net.items() if k != "type"}, options["scale"]
    )
    return save_model(where / f"{net['type']}_x{options['scale']}.safetensors", module, info)


@needs_redux
@pytest.mark.parametrize("path", _files("train"), ids=lambda p: p.stem)
def test_train_file_parses_and_builds(path, data):
    opts = parse_options(_edit(path, data), str(path))
    assert opts.scale == 2


@needs_redux
@pytest.mark.slow
@pytest.mark.parametrize("path", _files("train"), ids=lambda p: p.stem)
def test_train_file_passes_the_dry_run(path, data):
    result = train(parse_options(_edit(path, data), str(path)), dry_run=True, device="cpu")
    assert result is not None


@needs_redux
@pytest.mark.slow
@pytest.mark.parametrize("path", _files("test"), ids=lambda p: p.stem)
def test_test_file_runs_with_upres_test(path, data, tmp_path):
    options = _edit(path, data)
    options = _edit(path, data, _model(options, tmp_path))
    cfg = tmp_path / path.name
    cfg.write_text(yaml.safe_dump(options))
    assert main(["test", "-c", str(cfg), "-o", str(tmp_path / "results")]) == 0
    assert len(list((tmp_path / "results").rglob("*.png"))) == 9


@needs_redux
@pytest.mark.slow
@pytest.mark.parametrize("path", _files("onnx"), ids=lambda p: p.stem)
def test_onnx_file_runs_with_upres_convert(path, data, tmp_path):
    pytest.importorskip("onnx")
    options = _edit(path, data)
    options = _edit(path, data, _model(options, tmp_path))
    cfg = tmp_path / path.name
    cfg.write_text(yaml.safe_dump(options))
    out = tmp_path / "model.onnx"
    assert main(["convert", "-c", str(cfg), options["path"]["pretrain_network_g"], str(out)]) == 0
    assert out.stat().st_size > 0
