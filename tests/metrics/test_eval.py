"""`upres eval`: literature bicubic numbers, model scores equal to a hand computation, side-by-side tables."""

from __future__ import annotations

import json
from pathlib import Path

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


def _models(*paths: Path) -> list[Path]:
    """A small random x4 Compact at each path, each with its own weights (seeds 1, 2, ...)."""
    files = []
    for seed, path in enumerate(paths, 1):
        torch.manual_seed(seed)
        net, info = build_network("compact", scale=4, num_feat=8, num_conv=2)
        path.parent.mkdir(parents=True, exist_ok=True)
        files.append(save_model(path, net, info))
    return files


def test_models_side_by_side_match_hand_computation(tmp_path, capsys):
    gt_dir = _folder(tmp_path)
    files = _models(tmp_path / "a.safetensors", tmp_path / "b.pth")
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


@pytest.mark.parametrize("channels", [1, 4])
def test_gray_and_rgba_models_score_what_upscale_writes(tmp_path, capsys, channels):
    """A 1-channel or RGBA model got the 3-channel LR as it was: a traceback from its first convolution. It is scored
    on the image `upres upscale` writes from the same LR (a gray model takes each colour plane, RGBA an opaque alpha)."""
    from upres.io.images import read_image
    from upres.metrics.evaluate import bicubic_lr, ground_truth

    gt_dir = _folder(tmp_path)
    torch.manual_seed(0)
    net, info = build_network(
        "compact", scale=4, num_feat=8, num_conv=1, num_in_ch=channels, num_out_ch=channels
    )
    model = save_model(tmp_path / "m.safetensors", net, info)
    assert main(["eval", "-m", str(model), str(gt_dir), "-s", "4", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    lr_dir, out_dir = tmp_path / "lr", tmp_path / "out"
    gts = {}
    for path in sorted(gt_dir.iterdir()):
        gt = ground_truth(path, 4)
        gts[path.stem] = gt[0].permute(1, 2, 0).numpy()
        lr = bicubic_lr(gt, 4)[0].permute(1, 2, 0).numpy()
        write_image(lr_dir / path.name, np.round(lr * 255).astype(np.uint8))
    assert main(["upscale", "-m", str(model), str(lr_dir), "-o", str(out_dir), "--device", "cpu"]) == 0
    scores = [
        psnr(read_image(out_dir / f"{stem}.png")[..., :3], gt, 4, y_channel=True) for stem, gt in gts.items()
    ]
    assert result["images"] == 2
    assert result["psnr"] == pytest.approx(np.mean(scores), abs=1e-6)


def test_scale_1_says_the_lr_is_the_ground_truth(tmp_path, capsys):
    """At 1x the bicubic LR is the ground truth itself: a 1x model was scored on clean inputs without a word (only the
    bicubic row's inf PSNR hinted at it)."""
    gt_dir = _folder(tmp_path)
    assert main(["eval", "--bicubic", str(gt_dir), "-s", "1", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["results"][0]["ssim"] == 1.0  # identical images
    assert captured.err == (
        "note: at --scale 1 the LR is the ground truth itself (bicubic changes nothing at 1x): the scores say how much "
        "each model changes clean images, not how well it restores degraded ones\n"
    )
    assert main(["eval", "--bicubic", str(gt_dir), "-s", "2", "--json"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_two_models_with_the_same_file_name_get_a_row_each(tmp_path, capsys):
    """Two runs' net_g_best.safetensors side by side: the second's scores replaced the first's under one name."""
    gt_dir = _folder(tmp_path)
    files = _models(*(tmp_path / run / "net_g_best.safetensors" for run in ("run_a", "run_b")))
    alone = []
    for f in files:
        assert main(["eval", "-m", str(f), str(gt_dir), "-s", "4", "--json", "--device", "cpu"]) == 0
        alone.append(json.loads(capsys.readouterr().out)["results"][0]["psnr"])
    argv = ["eval", "-m", str(files[0]), "-m", str(files[1]), "-m", str(files[1]), str(gt_dir), "-s", "4"]
    assert main([*argv, "--json", "--device", "cpu"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["method"] for r in results] == [str(files[0]), f"{files[1]} #1", f"{files[1]} #2"]
    assert [r["psnr"] for r in results] == pytest.approx([alone[0], alone[1], alone[1]])


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


def test_one_bad_image_or_folder_is_reported_and_the_rest_scored(tmp_path, capsys):
    """A too-small image and a corrupt one are named on stderr and left out of the means (which equal those of the
    good images alone); a missing folder among others is an error line; the exit code is 1. The table says how
    many images the means cover."""
    gt_dir = _folder(tmp_path)
    assert main(["eval", "--bicubic", str(gt_dir), "-s", "4", "--json"]) == 0
    clean = json.loads(capsys.readouterr().out)["results"][0]
    write_image(gt_dir / "tiny.png", np.zeros((8, 8, 3), np.uint8))
    (gt_dir / "cut.png").write_bytes((gt_dir / "0.png").read_bytes()[:60])
    missing = tmp_path / "nope"
    assert main(["eval", "--bicubic", str(gt_dir), str(missing), "-s", "4", "--json"]) == 1
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    (res,) = out["results"]
    assert res["images"] == 2 and res["psnr"] == clean["psnr"] and res["ssim"] == clean["ssim"]
    assert sorted(s["name"] for s in res["skipped"]) == ["cut.png", "tiny.png"]
    assert out["errors"] == [f"{missing}: no such file or folder"]
    err = captured.err.splitlines()
    assert (
        f"error: {gt_dir / 'tiny.png'}: 8x8 is too small to score at x4: SSIM's 11-pixel window after a border "
        "of 4 needs at least 19 pixels per side; not scored" in err
    )
    assert any(
        line.startswith(f"error: {gt_dir / 'cut.png'}: ") and line.endswith("; not scored") for line in err
    )
    assert f"error: {missing}: no such file or folder" in err
    assert main(["eval", "--bicubic", str(gt_dir), "-s", "4"]) == 1
    assert "2 of 4" in capsys.readouterr().out


def test_a_folder_with_nothing_scorable_is_an_error_naming_the_first_reason(tmp_path, capsys):
    d = tmp_path / "gt"
    for name in ("a.png", "b.png"):
        write_image(d / name, np.zeros((8, 8, 3), np.uint8))
    assert main(["eval", "--bicubic", str(d), "-s", "4"]) == 1  # files failed, as in upscale
    assert capsys.readouterr().err.strip() == (
        f"error: {d}: no image could be scored: a.png: 8x8 is too small to score at x4: SSIM's 11-pixel window "
        "after a border of 4 needs at least 19 pixels per side (and 1 more)"
    )


def test_json_is_valid_when_an_image_scores_infinite_psnr(tmp_path, capsys):
    """A flat image upscales exactly: PSNR inf, which Python wrote as `Infinity` (not JSON; JSON.parse refused it)."""
    folder = tmp_path / "flat"
    folder.mkdir()
    write_image(folder / "flat.png", np.full((64, 64, 3), (120, 30, 200), np.uint8))
    assert main(["eval", "--bicubic", str(folder), "--scale", "4", "--json"]) == 0
    text = capsys.readouterr().out
    assert "Infinity" not in text and "NaN" not in text
    result = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))["results"][0]
    assert result["psnr"] is None and result["per_image"][0]["psnr"] is None and result["ssim"] == 1.0


def test_a_16_bit_ground_truth_scores_as_upres_test_and_validation_score_it(tmp_path, capsys):
    """The LR of a 16-bit ground truth was rounded to 8 bits, where training's validation (and `upres prepare lr`) keep
    16: the same model on the same folder scored lower in eval than in its training log. Both now agree to the bit."""
    import yaml

    rng = np.random.default_rng(3)
    gt_dir = tmp_path / "gt"
    deep = np.clip(imresize(rng.random((12, 13, 3)), 4) * 65535, 0, 65535).round().astype(np.uint16)
    write_image(gt_dir / "deep.png", deep[:46, :51])
    write_image(gt_dir / "flat.png", (deep[:45, :50] // 257).astype(np.uint8))
    (model,) = _models(tmp_path / "m.safetensors")
    argv = ["eval", "-m", str(model), "--bicubic", str(gt_dir), "-s", "4", "--json", "--device", "cpu"]
    assert main(argv) == 0
    bicubic, evaluated = json.loads(capsys.readouterr().out)["results"]
    metrics = {n: {"type": n, "crop_border": 4, "test_y_channel": True} for n in ("psnr", "ssim")}
    options = {
        "name": "t",
        "scale": 4,
        "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(gt_dir)}},
        "network_g": {"type": "compact"},
        "val": {"metrics": metrics},
    }
    (tmp_path / "t.yml").write_text(yaml.safe_dump(options))
    test_argv = ["test", "-c", str(tmp_path / "t.yml"), "--model", str(model), "--no-images", "--json"]
    assert main([*test_argv, "--device", "cpu"]) == 0
    tested = json.loads(capsys.readouterr().out)["results"]["val"]
    assert (evaluated["psnr"], evaluated["ssim"]) == pytest.approx((tested["psnr"], tested["ssim"]), abs=1e-9)
    lr16 = np.round(imresize(deep[:44, :48] / 65535, 0.25) * 65535) / 65535
    by_hand = psnr(np.clip(imresize(lr16, 4), 0, 1), deep[:44, :48], 4, y_channel=True)
    assert bicubic["per_image"][0]["psnr"] == pytest.approx(by_hand, abs=1e-6)
