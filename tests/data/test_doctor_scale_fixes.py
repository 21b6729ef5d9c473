"""Pairs that are all of another scale, or GT and LR folders given the wrong way round: each pair's error says only
"ratio is not the scale"; doctor and training's error now say the fix too. Training's error also lost the
filename_tmpl hint doctor gives (the check that stops the run came before the pairing that said it)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from upres.cli import main
from upres.data.doctor import check_folders
from upres.io.images import write_image


def _pairs(tmp_path, gt_side: int, lq_side: int, lq_name: str = "{}") -> None:
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / "hr" / f"{i}.png", rng.integers(0, 256, (gt_side, gt_side, 3), dtype=np.uint8))
        lq = rng.integers(0, 256, (lq_side, lq_side, 3), dtype=np.uint8)
        write_image(tmp_path / "lr" / f"{lq_name.format(i)}.png", lq)


@pytest.mark.parametrize(
    ("gt_side", "lq_side", "fix"),
    [
        (
            64,
            32,
            "every pair is x2, not x4: set scale: 2 (upres doctor: --scale 2), or give the LR images of x4",
        ),
        (65, 16, None),  # x4 pairs, with mod-crop leftovers: they fit
        (
            16,
            64,
            "every LR is 4 times larger than its GT: the GT and LR folders are given the wrong way round; swap "
            "dataroot_gt and dataroot_lq",
        ),
        (
            64,
            21,
            "every pair is x3, not x4: set scale: 3 (upres doctor: --scale 3), or give the LR images of x4",
        ),
    ],
)
def test_doctor_names_the_scale_or_the_swap_that_fits_every_pair(tmp_path, gt_side, lq_side, fix):
    _pairs(tmp_path, gt_side, lq_side)
    report = check_folders([tmp_path / "hr"], [tmp_path / "lr"], scale=4, use_cache=False)
    assert report.fixes == ([fix] if fix else [])


def test_pairs_of_mixed_ratios_get_no_guess(tmp_path):
    _pairs(tmp_path, 64, 32)
    write_image(tmp_path / "lr" / "0.png", np.zeros((20, 20, 3), np.uint8))
    assert check_folders([tmp_path / "hr"], [tmp_path / "lr"], scale=4, use_cache=False).fixes == []


@pytest.mark.parametrize(
    ("lq_side", "lq_name", "fix"),
    [
        (
            32,
            "{}",
            "every pair is x2, not x4: set scale: 2 (upres doctor: --scale 2), or give the LR images of x4",
        ),
        (
            16,
            "{}x4",
            "the LR files of {lr} are named as filename_tmpl '{{}}x4' gives, not '{{}}': set filename_tmpl: "
            "'{{}}x4' in the dataset's options (upres doctor: --filename-tmpl '{{}}x4')",
        ),
    ],
)
def test_training_stopped_by_the_check_gives_the_fix(tmp_path, capsys, lq_side, lq_name, fix):
    _pairs(tmp_path, 64, lq_side, lq_name)
    options = {
        "name": "t",
        "scale": 4,
        "datasets": {
            "train": {
                "type": "pairedimagedataset",
                "dataroot_gt": str(tmp_path / "hr"),
                "dataroot_lq": str(tmp_path / "lr"),
                "lq_size": 8,
                "batch_size_per_gpu": 1,
            }
        },
        "network_g": {"type": "compact", "num_feat": 8, "num_conv": 1},
        "path": {"experiments_root": str(tmp_path / "exp")},
        "train": {"total_iter": 1, "optim_g": {"type": "AdamW", "lr": 1e-3}},
    }
    (tmp_path / "o.yml").write_text(yaml.safe_dump(options))
    assert main(["train", "-c", str(tmp_path / "o.yml"), "--device", "cpu"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: datasets.train: the dataset check found 3 error(s), e.g. ")
    assert line.endswith(
        f"; hint: {fix.format(lr=tmp_path / 'lr')}; `upres doctor -c OPTIONS` lists them all"
    )
