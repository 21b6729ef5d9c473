"""A `dataroot_gt` list with one folder that holds no image (a failed copy, a path one level off): training read the
others without a word. Doctor now warns, and the training log says it."""

from __future__ import annotations

import pytest
from train_helpers import base_options, write

from upres.cli import main
from upres.data.doctor_block import check_dataset
from upres.data.options import parse_dataset_options


@pytest.mark.parametrize("kind", ["pairedimagedataset", "realesrgandataset"])
def test_an_empty_folder_of_several_is_warned_about(tmp_path, hr_folder, kind):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    opts = {"type": kind, "dataroot_gt": [str(hr_folder), str(tmp_path / "empty")], "lq_size": 16}
    report = check_dataset(parse_dataset_options(opts), scale=2, name="train", use_cache=False)
    assert [(f.kind, f.path) for f in report.warnings] == [("empty_folder", str(tmp_path / "empty"))]
    assert report.warnings[0].detail.startswith(
        "no images in this dataroot_gt folder (training reads the others) (there are other files: 1 .txt; "
    )


def test_a_meta_info_list_may_leave_a_folder_out(tmp_path, hr_folder):
    (tmp_path / "other").mkdir()
    (tmp_path / "meta.txt").write_text("0.png\n")
    opts = {
        "type": "pairedimagedataset",
        "dataroot_gt": [str(hr_folder), str(tmp_path / "other")],
        "meta_info": str(tmp_path / "meta.txt"),
    }
    assert check_dataset(parse_dataset_options(opts), scale=2, name="train", use_cache=False).warnings == []


def test_the_training_log_says_which_folder_is_empty(tmp_path, hr_folder):
    (tmp_path / "empty").mkdir()
    exp = tmp_path / "exp"
    options = base_options(hr_folder, exp, total_iter=1)
    options["datasets"]["train"]["dataroot_gt"] = [str(hr_folder), str(tmp_path / "empty")]
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    assert (
        f"datasets.train.dataroot_gt: {tmp_path / 'empty'}: no images in this dataroot_gt folder (training reads the "
        "others)\n"
    ) in (exp / "log.txt").read_text()
