"""A ground-truth-only validation image smaller than the scale (no LR pixel to make) stopped training with a metric's
advice: "0 pixels on its short side, 0 after val.metrics.psnr.crop_border 0 ... lower crop_border". The dataset leaves
such an image out; the check now says so, and sizes the metrics by the images that are scored."""

from __future__ import annotations

import shutil

import numpy as np
from train_helpers import base_options, write

from upres.cli import main
from upres.io.images import write_image


def test_a_val_image_smaller_than_the_scale_is_left_out_and_said(tmp_path, hr_folder):
    val = tmp_path / "val"
    shutil.copytree(hr_folder, val)
    write_image(val / "strip.png", np.zeros((1, 9, 3), np.uint8))
    exp = tmp_path / "exp"
    options = base_options(hr_folder, exp, total_iter=2)
    options["datasets"]["val"] = {"type": "pairedimagedataset", "dataroot_gt": str(val)}
    options["val"] = {"val_freq": 2, "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 0}}}
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    assert (
        f"datasets.val: 1 bad sample(s) will be left out of validation: {val / 'strip.png'}: GT 9x1 is smaller than "
        "the scale 2: no LR pixel to make from it\n"
    ) in (exp / "log.txt").read_text()
