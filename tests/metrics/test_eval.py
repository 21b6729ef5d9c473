"""`upres eval`: literature bicubic numbers, model scores equal to a hand computation, side-by-side tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from upres.archs import build_network
from upres.cli import main
from upres.data.resize import imresize
from upres.infer.tiling import Upscaler
from upres.io.images import write_image
from upres.io.model_files import save_model
from upres.metrics.psnr_ssim import psnr


def _folder(tmp_path, n=2):
    rng = np.random.default_rng(0)
    d = tmp_path / "gt"
    for i in range(n):
        base = rng.integers(0, 256, (9, 11, 3)).astype(np.float64)
        smooth = imresize(base, 4)  # smooth content, sizes not multiples of 4 after the odd crop below
        write_image(d / f"{i}.png", np.clip(smooth[: 35 - i, :43], 0, 255).astype(np.uint8))
    return d


def test_bicubic_set5_json(shared_data, capsys):
    assert main(["eval", "--bicubic", str(shared_data / "benchmark" / "Set5"), "--scale", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (res,) = out["results"]
    assert res["method"] == "bicubic" and res["images"] == 5 and out["channel"] == "y"
    assert abs(res["psnr"] - 28.42) <= 0.03 and abs(res["ssim"] - 0.8104) <= 0.002


def test_models_side_by_side_match_hand_computation(tmp_path, capsys):
    gt_dir = _folder(tmp_path)
    files = []
    for seed, name in ((1, "a.safetensors"), (2, "b.pth")):
        torch.manual_seed(seed)
        net, info = build_network("compact", scale=4, num_feat=8, num_conv=2)
        files.append(save_model(tmp_path / name, net, info))
    argv = [
        "eval",
        "-m",
        str(files[0]),
        "-m",
        str(files[1]),
        "--bicubic",
        str(gt_dir),
        "-s",
        "4",
        "--json",
        "--rgb",
        "--device",
        "cpu",  # the hand computation below runs on the CPU; TF32 convolutions on a GPU move PSNR by more
    ]
    assert main(argv) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["method"] for r in results] == ["bicubic", "a.safetensors", "b.pth"]
    from upres.io.model_files import load_model

    loaded = load_model(files[1])
    up = Upscaler(loaded.module, 4)
    scores = []
    for i in range(2):
        from upres.io.images import read_image

        gt = read_image(gt_dir / f"{i}.png")
        gt = gt[: gt.shape[0] // 4 * 4, : gt.shape[1] // 4 * 4]
        lr = np.clip(np.round(imresize(gt.astype(np.float64) / 255, 0.25) * 255), 0, 255) / 255
        sr = up(torch.from_numpy(lr.transpose(2, 0, 1)).float()[None])[0].permute(1, 2, 0).numpy()
        scores.append(psnr(sr, gt, 4, y_channel=False))
    assert results[2]["psnr"] == pytest.approx(np.mean(scores), abs=1e-4)
    assert results[1]["psnr"] != results[2]["psnr"]
    # 4 px tiles on 8x10 LR images: the overlap is capped at the tile size, so seams move the score a little.
    tiled_argv = ["eval", "-m", str(files[1]), str(gt_dir), "-s", "4", "--json", "--rgb", "--tile", "4"]
    assert main([*tiled_argv, "--device", "cpu"]) == 0
    tiled = json.loads(capsys.readouterr().out)["results"][0]
    assert tiled["psnr"] == pytest.approx(results[2]["psnr"], abs=0.01)


def test_table_output_and_errors(tmp_path, capsys):
    gt_dir = _folder(tmp_path, 1)
    assert main(["eval", "--bicubic", str(gt_dir), "-s", "2"]) == 0
    out = capsys.readouterr().out
    assert "bicubic" in out and "PSNR" in out and "SSIM" in out
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    save_model(tmp_path / "x2.safetensors", net, info)
    assert main(["eval", "-m", str(tmp_path / "x2.safetensors"), str(gt_dir), "-s", "4"]) == 2
    assert "model is 2x but --scale is 4" in capsys.readouterr().err
    assert main(["eval", str(gt_dir), "-s", "4"]) == 2
    assert "give -m MODEL" in capsys.readouterr().err
