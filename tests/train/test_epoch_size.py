"""An epoch's shuffled order is one permutation of every sample: a dataset_enlarge_ratio that makes it tens of GB is
refused when the run is built (it was "out of memory in iteration 1 ... lower batch_size_per_gpu")."""

from __future__ import annotations

import pytest
from train_helpers import base_options, write

from upres.cli import main
from upres.errors import ConfigError
from upres.train.sampler import MAX_EPOCH_SAMPLES, check_epoch_size


def test_an_enlarge_ratio_past_the_permutations_memory_is_refused_with_the_largest_that_fits(
    tmp_path, hr_folder, capsys
):
    options = base_options(hr_folder, tmp_path / "exp")
    options["datasets"]["train"]["dataset_enlarge_ratio"] = 10**9
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--dry-run", "--device", "cpu"]) == 2
    images = 6
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: datasets.train.dataset_enlarge_ratio 1000000000: {images * 10**9:,} samples an epoch, whose "
        f"shuffled order needs 45 GiB; use at most {MAX_EPOCH_SAMPLES // images:,} (1 is enough: upres's sampler "
        "never runs out of data)"
    )


def test_the_limit_itself_is_accepted():
    check_epoch_size(MAX_EPOCH_SAMPLES, 1)
    ratio = MAX_EPOCH_SAMPLES // 3 + 1  # three images
    with pytest.raises(ConfigError, match=f"use at most {MAX_EPOCH_SAMPLES // 3:,} "):
        check_epoch_size(3 * ratio, ratio)


def test_an_enlarge_ratio_past_the_largest_integer_is_the_same_line(tmp_path, hr_folder, capsys):
    """Past 2^63 samples, counting them raised OverflowError (a traceback) before the epoch check could speak."""
    options = base_options(hr_folder, tmp_path / "exp")
    ratio = 10**30
    options["datasets"]["train"]["dataset_enlarge_ratio"] = ratio
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--dry-run", "--device", "cpu"]) == 2
    images = 6
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: datasets.train.dataset_enlarge_ratio {ratio}: {images * ratio:,} samples an epoch, whose "
        f"shuffled order needs {images * ratio * 8 / 2**30:.0f} GiB; use at most {MAX_EPOCH_SAMPLES // images:,} "
        "(1 is enough: upres's sampler never runs out of data)"
    )


def test_the_doctor_refuses_the_epoch_training_refuses(tmp_path, hr_folder, capsys):
    """`upres doctor -c` said OK to a dataset_enlarge_ratio that `upres train` then refused."""
    options = base_options(hr_folder, tmp_path / "exp")
    options["datasets"]["train"]["dataset_enlarge_ratio"] = 10**9
    cfg = write(tmp_path / "o.yml", options)
    assert main(["train", "-c", str(cfg), "--dry-run", "--device", "cpu"]) == 2
    refusal = capsys.readouterr().err.strip().splitlines()[-1].removeprefix("error: ")
    assert main(["doctor", "-c", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert f"{hr_folder}: {refusal}" in out
    assert "error: epoch_too_large x1" in out
    options["datasets"]["train"]["dataset_enlarge_ratio"] = 2
    assert main(["doctor", "-c", str(write(tmp_path / "o.yml", options))]) == 0
    assert "epoch_too_large" not in capsys.readouterr().out
