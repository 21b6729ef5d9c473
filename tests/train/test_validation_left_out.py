"""A validation image that cannot be read mid-run (replaced, cut off or gone on a network disk) is left out and the
run goes on; the mean over the other images is not compared with the best, the bicubic baseline or the curves, which
had them all: one hard image less raised the mean by dBs, so a later model became net_g_best for it and the log
said it beat bicubic."""

from __future__ import annotations

import json
import shutil

import numpy as np
from PIL import Image
from train_helpers import base_options, merge, write

from upres.cli import main
from upres.train import watch
from upres.train.checkpoint import list_states, load_training_state


def test_an_image_unreadable_mid_run_is_left_out_of_the_comparisons(tmp_path, hr_folder, monkeypatch, capsys):
    val = tmp_path / "val"
    val.mkdir()
    ramp = np.linspace(40, 200, 32 * 32 * 3).reshape(32, 32, 3).astype(np.uint8)
    Image.fromarray(ramp).save(val / "smooth.png")  # easy: a high PSNR
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(val / "noise.png")  # hard: a low PSNR, which pulls the mean down by dBs
    exp = tmp_path / "exp"
    options = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(val)}},
            "train": {"total_iter": 6},
            "val": {"val_freq": 2, "save_img": False, "metrics": {"psnr": {"type": "calculate_psnr"}}},
            "logger": {"print_freq": 2, "save_checkpoint_freq": 2},
        },
    )
    real, calls = watch.run_validation, []

    def validate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # after the first validation, the hard image is cut off
            (val / "noise.png").write_bytes((val / "noise.png").read_bytes()[:60])
        return real(*args, **kwargs)

    monkeypatch.setattr(watch, "run_validation", validate)
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    log = (exp / "log.txt").read_text()
    assert f"validation val @ 4: left out {val / 'noise.png'}: cannot read image (" in log
    assert log.count(": left out ") == 1  # the note once; each validation without the image says so
    assert log.count("1 left out, so not compared") == 2
    lines = [line for line in log.splitlines() if "validation val @ 4: psnr" in line]
    assert len(lines) == 1 and lines[0].endswith(
        "(over 1 of 2 images: 1 left out, so not compared with bicubic or the best, nor in the curves)"
    )
    history = json.loads((exp / "report_history.json").read_text())
    first = history["val/val/psnr"]
    assert [i for i, _ in first] == [2]  # the curve holds the validation over every image only
    state = load_training_state(list_states(exp / "training_states")[-1])
    assert state["best"]["psnr"] == [first[0][1], 2] or state["best"]["psnr"] == (first[0][1], 2)
    assert state["stale"] == 0  # and early stopping counted neither
    assert "best psnr" in capsys.readouterr().out


def test_an_image_the_metric_cannot_score_mid_run_is_left_out_not_fatal(tmp_path, hr_folder, monkeypatch):
    """A validation picture replaced by one too small for SSIM (its 11x11 window) ended the run with a traceback at
    the next validation, hours in, and again at every resume until the file was found."""
    val = tmp_path / "val"
    shutil.copytree(hr_folder, val)
    exp = tmp_path / "exp"
    options = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(val)}},
            "val": {"val_freq": 5, "save_img": False, "metrics": {"ssim": {"type": "calculate_ssim"}}},
        },
    )
    real, calls = watch.run_validation, []

    def validate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            Image.new("RGB", (8, 8)).save(val / "0.png")
        return real(*args, **kwargs)

    monkeypatch.setattr(watch, "run_validation", validate)
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    log = (exp / "log.txt").read_text()
    assert (
        f"validation val @ 10: left out {val / '0.png'}: SSIM needs images of at least 11x11 pixels after cropping, "
        "not 8x8; while an image is left out" in log
    )
    assert "ssim" in load_training_state(exp / "training_states" / "10.state")["best"]


def test_an_image_unreadable_since_the_last_session_is_left_out_of_the_comparisons(tmp_path, hr_folder):
    """Cut off between two sessions, the image was left out of the resumed session's new bicubic baseline as well,
    so its means over the easier rest were compared with the best of the first session and won."""
    val = tmp_path / "val"
    val.mkdir()
    ramp = np.linspace(40, 200, 32 * 32 * 3).reshape(32, 32, 3).astype(np.uint8)
    Image.fromarray(ramp).save(val / "smooth.png")
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(val / "noise.png")
    exp = tmp_path / "exp"
    options = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(val)}},
            "val": {"val_freq": 5, "save_img": False, "metrics": {"psnr": {"type": "calculate_psnr"}}},
        },
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    first = json.loads((exp / "report_history.json").read_text())["val/val/psnr"]
    best = max(first, key=lambda point: point[1])  # (iteration, psnr) of the first session's best validation
    (val / "noise.png").write_bytes((val / "noise.png").read_bytes()[:60])
    options["train"]["total_iter"] = 20
    cfg = write(tmp_path / "o.yml", options)
    assert main(["train", "-c", str(cfg), "--device", "cpu", "--resume", "auto"]) == 0
    log = (exp / "log.txt").read_text()
    assert log.count("1 left out, so not compared with bicubic or the best, nor in the curves") == 2
    assert json.loads((exp / "report_history.json").read_text())["val/val/psnr"] == first
    assert load_training_state(exp / "training_states" / "20.state")["best"]["psnr"] == [best[1], best[0]]
