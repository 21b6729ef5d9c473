"""DIV2K's layout (HR/0001.png, LR_bicubic/X2/0001x2.png) with dataroot_lq one folder too high: the hint said
"named as filename_tmpl '{}x2' gives, not '{}x2': set filename_tmpl: '{}x2'", the template already set. It now names
the folder below that holds the LR files; a guess equal to the template set is not given."""

from __future__ import annotations

import numpy as np
import pytest

from upres.data.doctor import check_folders
from upres.data.options import parse_dataset_options
from upres.data.paired import find_pairs
from upres.errors import ConfigError
from upres.io.images import write_image


def _div2k(tmp_path, gt_sub: str = "") -> None:
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(
            tmp_path / "HR" / gt_sub / f"000{i}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        )
        write_image(tmp_path / "LR" / "X2" / f"000{i}x2.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))


@pytest.mark.parametrize("tmpl", ["{}x2", "{}"])
def test_lr_files_a_folder_lower_are_named_with_that_folder(tmp_path, tmpl):
    _div2k(tmp_path)
    hr, lr, x2 = tmp_path / "HR", tmp_path / "LR", tmp_path / "LR" / "X2"
    fix_tmpl = tmpl != "{}x2"
    report = check_folders([hr], [lr], scale=2, filename_tmpl=tmpl, use_cache=False)
    assert report.fixes == [
        f"the LR files of {lr} are in its folder {x2}: set dataroot_lq: {x2}"
        + (" and filename_tmpl: '{}x2'" if fix_tmpl else "")
        + f" in the dataset's options (upres doctor: --lq {x2}"
        + (" --filename-tmpl '{}x2'" if fix_tmpl else "")
        + ")"
    ]
    opts = {
        "type": "pairedimagedataset",
        "dataroot_gt": str(hr),
        "dataroot_lq": str(lr),
        "filename_tmpl": tmpl,
    }
    with pytest.raises(ConfigError) as caught:
        find_pairs(parse_dataset_options(opts))
    also = " and filename_tmpl: '{}x2'" if fix_tmpl else ""
    assert str(caught.value) == (
        f"dataroot_lq {lr}: no LR partner for 3 GT images of {hr} (0000.png, 0001.png, 0002.png); the LR files are "
        f"in {x2}, a folder lower (set dataroot_lq: {x2}{also}); `upres doctor` lists them all"
    )


def test_no_hint_repeats_the_template_already_set(tmp_path):
    _div2k(tmp_path, gt_sub="deeper")
    report = check_folders(
        [tmp_path / "HR"], [tmp_path / "LR"], scale=2, filename_tmpl="{}x2", use_cache=False
    )
    assert report.fixes == [] and len(report.errors) == 3


def test_the_gt_folder_given_as_its_own_lr_folder_is_named(tmp_path):
    """Each GT paired with itself: "ratio is not the scale 2" for every pair, the cause unsaid."""
    _div2k(tmp_path)
    opts = {
        "type": "pairedimagedataset",
        "dataroot_gt": str(tmp_path / "HR"),
        "dataroot_lq": f"{tmp_path}/HR/",
    }
    with pytest.raises(ConfigError) as caught:
        find_pairs(parse_dataset_options(opts))
    assert str(caught.value) == (
        f"dataroot_lq: {tmp_path / 'HR'} is the dataroot_gt folder itself; give the folder of the LR images, or "
        "remove dataroot_lq to make each LR from its GT (bicubic)"
    )


def test_doctor_given_the_gt_folder_as_lr_says_so(tmp_path):
    _div2k(tmp_path)
    hr = tmp_path / "HR"
    report = check_folders([hr], [hr], scale=2, use_cache=False)
    assert report.fixes == [
        f"the LR folder {hr} is the GT folder itself: give the folder of the LR images to --lq, or leave --lq out "
        "(the LR is then made from each GT)"
    ]
