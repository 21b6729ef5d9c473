"""A dataset folder that is not there: "no such folder datasets/train/hr" left the user to find where a relative path
starts, and that the folder is `HR` (a case-sensitive file system) or that `trian` is a typo."""

from __future__ import annotations

import pytest

from upres.cli import main
from upres.io.missing_folder import no_such_folder


def test_a_relative_path_says_where_it_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert no_such_folder("datasets/hr") == (
        f"no such folder datasets/hr (relative paths start in the current folder, {tmp_path})"
    )


@pytest.mark.parametrize(
    ("made", "asked", "meant"),
    [
        ("data/train/HR", "data/train/hr", "data/train/HR"),  # the letter's case
        ("data/train/HR", "data/trian/HR", "data/train/HR"),  # a typo in a folder above
        ("data/DIV2K_train_HR", "data/DIV2K_trian_HR", "data/DIV2K_train_HR"),
    ],
)
def test_the_folder_probably_meant_is_named(tmp_path, made, asked, meant):
    (tmp_path / made).mkdir(parents=True)
    assert (
        no_such_folder(tmp_path / asked)
        == f"no such folder {tmp_path / asked}; did you mean {tmp_path / meant}?"
    )


@pytest.mark.parametrize(
    "asked",
    [
        "data/train/lr",  # nothing close beside it
        "data/trian/LR",  # close above, but the rest is not there either
        "elsewhere/hr",  # the first missing part has nothing beside it
    ],
)
def test_no_guess_when_nothing_close_exists(tmp_path, asked):
    (tmp_path / "data" / "train" / "HR").mkdir(parents=True)
    assert no_such_folder(tmp_path / asked) == f"no such folder {tmp_path / asked}"


def test_a_training_run_names_the_key_where_relative_paths_start_and_the_folder_meant(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datasets" / "train" / "HR").mkdir(parents=True)
    (tmp_path / "o.yml").write_text(
        "name: x\nscale: 2\ndatasets:\n  train:\n    type: pairedimagedataset\n    dataroot_gt: datasets/train/hr\n"
        "    lq_size: 16\n    batch_size_per_gpu: 2\nnetwork_g: {type: compact, num_feat: 8, num_conv: 2}\n"
        "train: {total_iter: 2}\n"
    )
    assert main(["train", "-c", "o.yml", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: datasets.train.dataroot_gt: no such folder datasets/train/hr (relative paths start in the "
        f"current folder, {tmp_path}); did you mean datasets/train/HR?"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets", "o.yml"]


def test_doctor_says_the_same(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "HR").mkdir()
    assert main(["doctor", "hr"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: no such folder hr (relative paths start in the current folder, {tmp_path}); did you mean HR?"
    )
