"""Validation asked for without a set it can read: a datasets entry under another name is refused (it was never read,
as traiNNer-redux refuses such a phase), and a val block with no validation set says validation is off."""

from __future__ import annotations

import pytest
from train_helpers import base_options, write

from upres.cli import main
from upres.errors import ConfigError
from upres.train.config import parse_options


def test_a_datasets_entry_that_is_neither_train_nor_validation_is_refused(tmp_path, hr_folder):
    options = base_options(hr_folder, tmp_path / "exp")
    options["datasets"]["eval"] = {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}
    with pytest.raises(ConfigError) as exc:
        parse_options(options, "o.yml")
    assert str(exc.value) == (
        "o.yml: (top level): datasets.eval: not read; name it train, or val*/test* for validation"
    )
    options["datasets"]["val_eval"] = options["datasets"].pop("eval")
    assert list(parse_options(options, "o.yml").val_datasets) == ["val_eval"]


def test_a_val_block_without_a_validation_set_says_validation_is_off(tmp_path, hr_folder, capsys):
    options = base_options(hr_folder, tmp_path / "exp")
    options["val"] = {"val_freq": 5, "metrics": {"psnr": {"type": "calculate_psnr"}}}
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--dry-run", "--device", "cpu"]) == 0
    assert (
        "val is set but datasets has no validation set (datasets.val, or any val*/test*): validation is off"
        in capsys.readouterr().out
    )


def test_a_val_set_with_dataset_enlarge_ratio_scores_each_image_once(tmp_path, hr_folder, capsys):
    """A val block with dataset_enlarge_ratio (copied from the train block) ended the run at its first validation,
    after the training, with an IndexError from past the last image (and `upres test` likewise). BasicSR's validation
    ignores the ratio; upres's now too: the logged score is the one `upres test` gives, as without the ratio."""
    import json

    options = base_options(hr_folder, tmp_path / "exp")
    val_set = {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder), "dataset_enlarge_ratio": 3}
    options["datasets"]["val"] = val_set
    options["val"] = {
        "val_freq": 5,
        "save_img": False,
        "metrics": {"psnr": {"type": "psnr", "crop_border": 2}},
    }
    config = write(tmp_path / "o.yml", options)
    assert main(["train", "-c", str(config), "--device", "cpu"]) == 0
    history = json.loads((tmp_path / "exp" / "report_history.json").read_text())
    model = tmp_path / "exp" / "models" / "net_g_ema_10.safetensors"
    scores = []
    for ratio in (3, 1):
        val_set["dataset_enlarge_ratio"] = ratio
        write(config, options)
        capsys.readouterr()
        argv = ["test", "-c", str(config), "--model", str(model), "--no-images", "--json", "--device", "cpu"]
        assert main(argv) == 0
        scores.append(json.loads(capsys.readouterr().out)["results"]["val"]["psnr"])
    assert scores[0] == scores[1] == pytest.approx(history["val/val/psnr"][-1][1], abs=1e-9)
