"""`upres test` with traiNNer-redux-style test files: LR-only sets, val.suffix, path.pretrain_network_g, metrics off."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from upres.archs import build_network
from upres.cli import main
from upres.io.images import array_to_tensor, read_image, tensor_to_array
from upres.io.model_files import save_model
from upres.metrics.psnr_ssim import psnr


def _images(folder: Path, size: int, n: int = 3, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


@pytest.fixture
def model_x2(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    module, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    return save_model(tmp_path / "m.safetensors", module, info)


def _redux_test_file(tmp_path: Path, model: Path, lr: list[Path], **val) -> Path:
    """The shape of traiNNer-redux's test templates (LR-only set, metrics off, model in path.pretrain_network_g)."""
    options = {
        "name": "2x_test",
        "scale": 2,
        "use_amp": True,
        "num_gpu": "auto",
        "use_channels_last": True,
        "datasets": {
            "val": {
                "name": "Val Dataset",
                "type": "singleimagedataset",
                "dataroot_lq": [str(p) for p in lr],
                "io_backend": {"type": "disk"},
            }
        },
        "network_g": {"type": "compact"},
        "path": {"pretrain_network_g": str(model)},
        "val": {
            "val_enabled": True,
            "save_img": True,
            "tile_size": 0,
            "tile_overlap": 8,
            "suffix": None,
            "metrics_enabled": False,
            "metrics": {
                "psnr": {"type": "calculate_psnr", "crop_border": 4, "test_y_channel": True},
                "lpips": {"type": "calculate_lpips", "better": "lower"},
            },
            **val,
        },
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(options))
    return path


def _expected(model: Path, lr_file: Path) -> np.ndarray:
    from upres.io.model_files import load_model

    module = load_model(model).module
    with torch.no_grad():
        out = module(array_to_tensor(read_image(lr_file))[None]).clamp(0, 1)
    return tensor_to_array(out[0])


def test_redux_test_file_saves_the_upscaled_images_with_the_suffix(tmp_path, model_x2, capsys):
    lr, lr2 = _images(tmp_path / "lr", 12), _images(tmp_path / "lr2" / "sub", 10, n=1, seed=3)
    cfg = _redux_test_file(tmp_path, model_x2, [lr, lr2.parent], suffix="mine")
    out = tmp_path / "results"
    assert main(["test", "-c", str(cfg), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == str(model_x2)  # path.pretrain_network_g, no --model needed
    assert report["results"] == {"val": {}}  # metrics_enabled: false
    saved = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    # Two roots: each keeps its results under its folder name (both hold an im0).
    assert saved == [
        "val/lr/im0_mine.png",
        "val/lr/im1_mine.png",
        "val/lr/im2_mine.png",
        "val/lr2/sub/im0_mine.png",
    ]
    # The saved file is the model's output itself, not a comparison strip.
    got = read_image(out / "val" / "lr" / "im1_mine.png")
    assert got.shape == (24, 32, 3)
    np.testing.assert_allclose(got.astype(int), _expected(model_x2, lr / "im1.png").astype(int), atol=1)


def test_lr_only_set_with_metrics_on_is_upscaled_and_says_metrics_were_skipped(tmp_path, model_x2, capsys):
    cfg = _redux_test_file(tmp_path, model_x2, [_images(tmp_path / "lr", 12)], metrics_enabled=True)
    out = tmp_path / "results"
    assert main(["test", "-c", str(cfg), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "datasets.val: metrics skipped, singleimagedataset has no ground truth" in captured.err
    assert "KeyError" not in captured.err
    assert len(list((out / "val").glob("*.png"))) == 3


def _paired_test_file(tmp_path: Path, psnr: dict) -> Path:
    """An option file with one paired test set of three 24x28 images (tmp_path/gt) and the given PSNR metric."""
    gt = _images(tmp_path / "gt", 24)
    options = {
        "name": "p",
        "scale": 2,
        "datasets": {"test_1": {"type": "pairedimagedataset", "dataroot_gt": str(gt)}},
        "network_g": {"type": "compact"},
        "val": {"metrics": {"psnr": psnr}},
    }
    cfg = tmp_path / "p.yml"
    cfg.write_text(yaml.safe_dump(options))
    return cfg


def test_paired_set_is_scored_and_strips_are_optional(tmp_path, model_x2, capsys):
    cfg = _paired_test_file(tmp_path, {"type": "calculate_psnr", "crop_border": 2})
    gt = tmp_path / "gt"
    out = tmp_path / "results"
    assert main(["test", "-c", str(cfg), "--model", str(model_x2), "-o", str(out), "--json", "--strips"]) == 0
    report = json.loads(capsys.readouterr().out)
    from upres.data.resize import imresize

    psnrs = []
    for i in range(3):
        sr = read_image(out / "test_1" / f"im{i}.png")
        hr = read_image(gt / f"im{i}.png")
        lq = tensor_to_array(imresize(array_to_tensor(hr)[None], 0.5).clamp(0, 1)[0])
        assert np.abs(sr.astype(int) - _expected_from_array(model_x2, lq).astype(int)).max() <= 1
        psnrs.append(psnr(sr, hr, 2))
    assert report["results"]["test_1"]["psnr"] == pytest.approx(np.mean(psnrs), abs=0.05)
    strips = sorted(p.name for p in (out / "test_1" / "strips").glob("*.png"))
    assert strips == ["im0.png", "im1.png", "im2.png"]
    assert read_image(out / "test_1" / "strips" / "im0.png").shape == (24, 28 * 3, 3)


def _expected_from_array(model: Path, lq: np.ndarray) -> np.ndarray:
    from upres.io.model_files import load_model

    with torch.no_grad():
        out = load_model(model).module(array_to_tensor(lq)[None]).clamp(0, 1)
    return tensor_to_array(out[0])


def test_output_never_overwrites_an_input(tmp_path, model_x2, capsys):
    lr = _images(
        tmp_path / "out" / "val", 12, n=2
    )  # results would go to out/val/im0.png: the inputs themselves
    before = {p.name: p.read_bytes() for p in lr.iterdir()}
    cfg = _redux_test_file(tmp_path, model_x2, [lr])
    # refused before any image is upscaled (it was found per image, after upscaling each)
    assert main(["test", "-c", str(cfg), "-o", str(tmp_path / "out")]) == 2
    assert {p.name: p.read_bytes() for p in lr.iterdir()} == before
    assert "where results are written: they would land among (or over) its images" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["cli", "option file"])
def test_a_suffix_with_a_path_in_it_is_refused_before_anything_is_written(tmp_path, model_x2, capsys, where):
    """`--suffix x/../../../escape` wrote every result over one file outside -o (a user's), and exited 0."""
    lr = _images(tmp_path / "lr", 12)
    precious = tmp_path / "escape.png"
    precious.write_bytes(b"precious")
    suffix = "x/../../../escape"
    if where == "cli":
        cfg = _redux_test_file(tmp_path, model_x2, [lr])
        with pytest.raises(SystemExit) as stop:
            main(["test", "-c", str(cfg), "-o", str(tmp_path / "res" / "out"), "--suffix", suffix])
        assert stop.value.code == 2
    else:
        cfg = _redux_test_file(tmp_path, model_x2, [lr], suffix=suffix)
        assert main(["test", "-c", str(cfg), "-o", str(tmp_path / "res" / "out")]) == 2
    assert "holds a path separator; a suffix is part of a file name" in capsys.readouterr().err
    assert precious.read_bytes() == b"precious" and not (tmp_path / "res").exists()


def test_a_strip_never_replaces_the_result_of_an_image_in_a_strips_subfolder(tmp_path, model_x2, capsys):
    """`--strips` writes <set>/strips/<name>: an image at <dataset>/strips/<name> has the same output path."""
    lr = _images(tmp_path / "lr", 12, n=1)
    _images(lr / "strips", 16, n=1, seed=5)  # lr/strips/im0.png: its output is out/val/strips/im0.png
    cfg = _redux_test_file(tmp_path, model_x2, [lr])
    out = tmp_path / "out"
    # On the CPU, as the reference is computed: on a GPU the test file's use_amp runs in half precision.
    code = main(["test", "-c", str(cfg), "-o", str(out), "--strips", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "(the same name)" in err
    # What was written is whole and its own: the result of lr/im0.png, and one file at the shared path.
    assert np.array_equal(read_image(out / "val" / "im0.png"), _expected(model_x2, lr / "im0.png"))
    assert len(list((out / "val" / "strips").iterdir())) == 1


def test_an_output_that_cannot_be_written_fails_that_image_only(tmp_path, model_x2, capsys):
    lr = _images(tmp_path / "lr", 12, n=3)
    out = tmp_path / "out"
    (out / "val" / "im1.png").mkdir(parents=True)  # a folder where im1's result goes
    cfg = _redux_test_file(tmp_path, model_x2, [lr])
    assert main(["test", "-c", str(cfg), "-o", str(out), "--device", "cpu"]) == 1  # as the reference
    err = capsys.readouterr().err
    assert f"lr/im1.png: not saved, cannot write {out / 'val' / 'im1.png'}" in err
    for name in ("im0.png", "im2.png"):  # the images after it are done too
        assert np.array_equal(read_image(out / "val" / name), _expected(model_x2, lr / name))


def test_missing_pretrain_model_is_one_line(tmp_path, capsys):
    cfg = _redux_test_file(tmp_path, tmp_path / "nope.safetensors", [_images(tmp_path / "lr", 12)])
    assert main(["test", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {cfg}: path.pretrain_network_g {tmp_path / 'nope.safetensors'}: no such file"


def test_every_flag_has_help_text():
    from upres.cli import test as test_cli

    parser = argparse.ArgumentParser()
    test_cli.register(parser.add_subparsers())
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["test"]
    missing = [
        a.option_strings
        for a in sub._actions
        if a.help in (None, "") and a.option_strings != ["-h", "--help"]
    ]
    assert missing == []


def test_singleimagedataset_as_training_set_is_a_one_line_error(tmp_path, capsys):
    options = {
        "name": "st",
        "scale": 2,
        "datasets": {
            "train": {"type": "singleimagedataset", "dataroot_lq": str(_images(tmp_path / "lr", 12))}
        },
        "network_g": {"type": "compact", "num_feat": 8, "num_conv": 1},
        "path": {"experiments_root": str(tmp_path / "exp")},
    }
    cfg = tmp_path / "t.yml"
    cfg.write_text(yaml.safe_dump(options))
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: datasets.train: singleimagedataset holds LR images only")
    assert "\n" not in err


def test_a_network_g_that_does_not_match_the_model_is_a_note(tmp_path, model_x2, capsys):
    cfg = _redux_test_file(tmp_path, model_x2, [_images(tmp_path / "lr", 12, n=1)])
    text = cfg.read_text().replace("type: compact", "type: esrgan")
    cfg.write_text(text)
    assert main(["test", "-c", str(cfg), "-o", str(tmp_path / "out")]) == 0
    assert (
        f"network_g is esrgan but {model_x2} holds a compact model; the model file decides"
        in capsys.readouterr().err
    )


def test_a_crop_border_too_large_for_the_test_images_is_one_line(tmp_path, model_x2, capsys):
    """PSNR scored NaN with exit 0, SSIM raised a traceback; training refused the same file."""
    cfg = _paired_test_file(tmp_path, {"type": "calculate_psnr", "crop_border": 12})
    assert main(["test", "-c", str(cfg), "--model", str(model_x2), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: datasets.test_1: ") and err.endswith(
        ": 24 pixels on its short side, 0 after val.metrics.psnr.crop_border 12, but calculate_psnr needs at "
        "least 1; lower crop_border or leave the image out\n"
    )


def test_translation_notes_of_the_option_file_are_printed(tmp_path, model_x2, capsys):
    """A metric the translation left out (LPIPS without its weights here) was dropped without a word."""
    cfg = _paired_test_file(tmp_path, {"type": "calculate_psnr_pt", "crop_border": 2})
    assert main(["test", "-c", str(cfg), "--model", str(model_x2), "-o", str(tmp_path / "r")]) == 0
    assert "val.metrics.psnr: calculate_psnr_pt" in capsys.readouterr().err


def test_a_results_folder_inside_a_dataset_is_refused_before_any_work(tmp_path, model_x2, capsys):
    """Each rerun read the previous results as images of the set and nested them: lr/res/val/res/val/..."""
    lr = _images(tmp_path / "lr", 12, n=1)
    cfg = _redux_test_file(tmp_path, model_x2, [lr])
    out = lr / "res"
    assert main(["test", "-c", str(cfg), "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: the results folder {out} lies inside datasets.val.dataroot_lq {lr}: the next run would read its "
        "images as inputs; give -o a folder outside the datasets\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "size, message",
    [
        (1, "1x1 is smaller than the scale 2; leave it out"),
        (8, "not scored: 8 pixels on its short side, 4 after val.metrics.ssim.crop_border 2, but calculate_ssim needs at least 11"),
    ],
)  # fmt: skip
def test_one_ground_truth_too_small_fails_that_image_only(tmp_path, model_x2, capsys, size, message):
    """It ended the whole run (exit 2) before any image was written; eval skips such an image and scores the rest."""
    gt = _images(tmp_path / "gt", 32, n=2)
    Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(gt / "tiny.png")
    options = {
        "name": "t",
        "scale": 2,
        "datasets": {"test_1": {"type": "pairedimagedataset", "dataroot_gt": str(gt)}},
        "network_g": {"type": "compact"},
        "path": {"pretrain_network_g": str(model_x2)},
        "val": {"metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2},
                            "ssim": {"type": "calculate_ssim", "crop_border": 2}}},
    }  # fmt: skip
    cfg = tmp_path / "t.yml"
    cfg.write_text(yaml.safe_dump(options))
    out = tmp_path / "res"
    assert main(["test", "-c", str(cfg), "-o", str(out), "--json", "--device", "cpu"]) == 1
    assert f"{gt / 'tiny.png'}: {message}" in capsys.readouterr().err
    assert {p.name for p in (out / "test_1").iterdir()} >= {"im0.png", "im1.png"}


def test_an_image_that_fails_is_reported_once(tmp_path, model_x2):
    """Each failure came twice: a bare log line while running, then the 'error:' line at the end (in a process of
    its own: the log's handler writes to the real stderr)."""
    import subprocess
    import sys

    lr = _images(tmp_path / "lr", 12, n=2)
    (lr / "bad.png").write_text("not an image")
    cfg = _redux_test_file(tmp_path, model_x2, [lr])
    src = Path(__file__).resolve().parents[2] / "src"
    proc = subprocess.run(
        [sys.executable, "-m", "upres", "test", "-c", str(cfg), "-o", str(tmp_path / "r"), "--device", "cpu"],
        capture_output=True, text=True, env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if "bad.png" in line]
    assert len(lines) == 1 and lines[0].startswith(f"error: {lr / 'bad.png'}: cannot read image"), proc.stderr


def test_an_output_that_is_a_file_is_refused_before_any_inference(tmp_path, model_x2, capsys, monkeypatch):
    """It ran the model over every image, then failed each one ('cannot write out/test_1')."""
    import upres.infer.test_sets as test_sets

    cfg = _paired_test_file(tmp_path, {"type": "calculate_psnr", "crop_border": 0})
    (tmp_path / "afile").write_text("a user's file")
    monkeypatch.setattr(test_sets, "run_set", lambda *a, **k: pytest.fail("inference ran"))
    code = main(
        ["test", "-c", str(cfg), "--model", str(model_x2), "-o", str(tmp_path / "afile"), "--device", "cpu"]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'afile'}: output folder is not writable: it is a file, not a folder; choose another -o"
    )
    assert (tmp_path / "afile").read_text() == "a user's file"


def test_one_set_without_images_fails_alone_and_the_others_run(tmp_path, model_x2, capsys):
    """`upres eval` scores the other folders of a missing or empty one; `upres test` stopped every set."""
    cfg = _paired_test_file(tmp_path, {"type": "calculate_psnr", "crop_border": 0})
    options = yaml.safe_load(cfg.read_text())
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images here")
    options["datasets"] = {
        "test_0": {"type": "pairedimagedataset", "dataroot_gt": str(tmp_path / "notes")},
        **options["datasets"],
    }
    cfg.write_text(yaml.safe_dump(options))
    out = tmp_path / "results"
    assert (
        main(["test", "-c", str(cfg), "--model", str(model_x2), "-o", str(out), "--json", "--device", "cpu"])
        == 1
    )
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["images"]["test_1"] == {"written": 3, "failed": 0} and "psnr" in report["results"]["test_1"]
    assert list(report["sets_not_run"]) == ["test_0"]
    assert f"error: datasets.test_0: dataroot_gt {tmp_path / 'notes'}: no images found" in captured.err
    assert "; the other sets ran" in captured.err


def test_a_set_whose_pairs_all_failed_is_not_said_to_have_no_ground_truth(tmp_path, model_x2, capsys):
    cfg = _paired_test_file(tmp_path, {"type": "calculate_psnr", "crop_border": 0})
    options = yaml.safe_load(cfg.read_text())
    # GT and LR swapped: every pair has the wrong ratio
    options["datasets"]["test_1"] |= {
        "dataroot_gt": str(_images(tmp_path / "small", 6)),
        "dataroot_lq": str(tmp_path / "gt"),
    }
    cfg.write_text(yaml.safe_dump(options))
    assert (
        main(["test", "-c", str(cfg), "--model", str(model_x2), "-o", str(tmp_path / "r"), "--device", "cpu"])
        == 1
    )
    captured = capsys.readouterr()
    assert "has no ground truth" not in captured.out + captured.err
    assert "test_1: 0 images saved  (no pair could be scored (3 failed, named above))" in captured.out


def test_a_dataset_inside_a_sets_results_folder_is_refused_before_any_inference(
    tmp_path, model_x2, capsys, monkeypatch
):
    """Its images' results would be written over them: each was upscaled and scored first, then refused one by
    one, and the summary said '0 images' beside the scores."""
    import upres.infer.test_sets as test_sets

    cfg = _paired_test_file(tmp_path, {"type": "calculate_psnr", "crop_border": 0})
    options = yaml.safe_load(cfg.read_text())
    _images(tmp_path / "results" / "test_1", 24)  # the set's GT where its results go
    options["datasets"]["test_1"]["dataroot_gt"] = str(tmp_path / "results" / "test_1")
    cfg.write_text(yaml.safe_dump(options))
    monkeypatch.setattr(test_sets, "run_set", lambda *a, **k: pytest.fail("inference ran"))
    args = [
        "test",
        "-c",
        str(cfg),
        "--model",
        str(model_x2),
        "-o",
        str(tmp_path / "results"),
        "--device",
        "cpu",
    ]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: datasets.test_1.dataroot_gt {tmp_path / 'results' / 'test_1'} lies inside "
        f"{tmp_path / 'results' / 'test_1'}, where results are written: they would land among (or over) its images; "
        "give -o another folder"
    )


@pytest.mark.parametrize(
    ("channels", "color", "fix"),
    [(1, None, "set color: y in it"), (3, "y", "remove its color: y")],
)
def test_a_model_whose_channels_do_not_match_a_set_is_one_line(tmp_path, capsys, channels, color, fix):
    """A gray model on an RGB set ended in a traceback from its first convolution (training refuses the same file)."""
    torch.manual_seed(1)
    module, info = build_network(
        "compact", scale=2, num_feat=8, num_conv=1, num_in_ch=channels, num_out_ch=channels
    )
    model = save_model(tmp_path / "m.safetensors", module, info)
    cfg = _redux_test_file(tmp_path, model, [_images(tmp_path / "lr", 12, n=1)])
    if color:
        data = yaml.safe_load(cfg.read_text())
        data["datasets"]["val"]["color"] = color
        cfg.write_text(yaml.safe_dump(data))
    assert main(["test", "-c", str(cfg), "-o", str(tmp_path / "out")]) == 2
    what = "color: y gives 1-channel (luma) images" if color else "its images are RGB (3 channels)"
    assert capsys.readouterr().err == (
        f"error: datasets.val: {what} but {model} takes {channels} and gives {channels} channels; {fix}\n"
    )
    assert not (tmp_path / "out").exists()
