"""A template copied with several things left to fix (both dataset folders, the pretrain, a key's typo): `upres train
-c` (and --dry-run, and `upres doctor -c`) said the first and stopped, so the user ran it again once per mistake. Now
every independent problem is said in one run: a first line with their count, then one line each, in file order,
exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from upres.cli import main

# A copied template: folders and pretrain not yet made, `total_iters` for total_iter.
TEMPLATE = """\
name: mine
scale: 2
datasets:
  train:
    type: pairedimagedataset
    dataroot_gt: datasets/train/hr
    dataroot_lq: datasets/train/lr_x2
    lq_size: 16
    batch_size_per_gpu: 2
network_g:
  type: compact
  num_feat: 8
  num_conv: 2
path:
  pretrain_network_g: models/pretrain.pth
train:
  total_iters: 10
"""

# On-the-fly data with a refused degradation key, its folder not yet made, `total_iters` for total_iter.
OTF_TEMPLATE = """\
name: mine
scale: 2
high_order_degradation: true
resize_range: [0.5]
datasets:
  train:
    type: realesrgandataset
    dataroot_gt: datasets/train/hr
    lq_size: 16
network_g:
  type: compact
train:
  total_iters: 10
"""

GT = "datasets.train.dataroot_gt: no such folder datasets/train/hr"
LQ = "datasets.train.dataroot_lq: no such folder datasets/train/lr_x2"
PRETRAIN = (
    "path.pretrain_network_g models/pretrain.pth: no such file; correct the path or remove the key to start from "
    "scratch"
)
TYPO = "unknown key 'train.total_iters' (did you mean 'total_iter'?)"


def _error_lines(capsys) -> list[str]:
    """The error's lines, without where relative folders start (the current folder: tests/data/test_missing_folder.py
    checks that part)."""
    err = capsys.readouterr().err.replace(f" (relative paths start in the current folder, {Path.cwd()})", "")
    return err.strip().splitlines()


@pytest.mark.parametrize("dry_run", [False, True])
def test_train_says_every_problem_of_the_file_at_once_and_writes_nothing(
    tmp_path, monkeypatch, capsys, dry_run
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.yml").write_text(TEMPLATE)
    assert main(["train", "-c", "o.yml", "--device", "cpu", *(["--dry-run"] if dry_run else [])]) == 2
    assert _error_lines(capsys) == [
        "error: o.yml: 4 problems; fix them all, then run again:",
        f"  {GT}",
        f"  {LQ}",
        f"  {PRETRAIN}",
        f"  {TYPO}",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.yml"]  # no experiments/mine


def test_the_problems_follow_the_order_of_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # the train and path blocks first, the LR folder before the GT folder
    text = """\
name: mine
train:
  total_iters: 10
path:
  pretrain_network_g: models/pretrain.pth
scale: 2
datasets:
  train:
    type: pairedimagedataset
    dataroot_lq: datasets/train/lr_x2
    dataroot_gt: datasets/train/hr
    lq_size: 16
network_g:
  type: compact
"""
    (tmp_path / "o.yml").write_text(text)
    assert main(["train", "-c", "o.yml", "--device", "cpu", "--dry-run"]) == 2
    assert _error_lines(capsys)[1:] == [f"  {TYPO}", f"  {PRETRAIN}", f"  {LQ}", f"  {GT}"]


def test_doctor_says_every_problem_of_the_datasets_at_once(tmp_path, monkeypatch, capsys):
    """The doctor checks the datasets: the pretrain is training's business (as before)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.yml").write_text(TEMPLATE)
    assert main(["doctor", "-c", "o.yml"]) == 2
    assert _error_lines(capsys) == [
        "error: o.yml: 3 problems; fix them all, then run again:",
        f"  {GT}",
        f"  {LQ}",
        f"  {TYPO}",
    ]


def test_network_loss_value_and_validation_folder_problems_are_gathered_too(tmp_path, monkeypatch, capsys):
    """A refused value (its default stands in while the rest is checked), a typo in network_g and in a loss entry,
    and a validation folder: each its own line, with the message the run stops with when it is the only one."""
    monkeypatch.chdir(tmp_path)
    for folder in ("datasets/train/hr", "datasets/train/lr_x2", "models"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "models/pretrain.pth").touch()
    text = """\
name: mine
scale: 2
datasets:
  train:
    type: pairedimagedataset
    dataroot_gt: datasets/train/hr
    dataroot_lq: datasets/train/lr_x2
    lq_size: 16
    batch_size_per_gpu: 2
  val:
    type: pairedimagedataset
    dataroot_gt: datasets/val/hr
network_g:
  type: compact
  num_feat: 8
  num_feats: 8
path:
  pretrain_network_g: models/pretrain.pth
train:
  total_iter: -3
  losses:
    - {type: l1loss, loss_wieght: 1.0}
val:
  val_freq: 5
"""
    (tmp_path / "o.yml").write_text(text)
    assert main(["train", "-c", "o.yml", "--device", "cpu", "--dry-run"]) == 2
    lines = _error_lines(capsys)
    assert lines[0] == "error: o.yml: 4 problems; fix them all, then run again:"
    assert lines[1] == "  datasets.val.dataroot_gt: no such folder datasets/val/hr"
    assert lines[2].startswith("  network_g (compact): unknown key 'num_feats'")
    assert lines[3] == "  train.total_iter: Input should be greater than 0 (got -3)"
    assert lines[4].startswith(
        "  train.losses[0] (l1loss): unknown key 'loss_wieght' (did you mean 'loss_weight'?)"
    )
    assert not (tmp_path / "experiments").exists()


@pytest.mark.parametrize(
    ("made", "fixed", "said"),
    [
        (["datasets/train/lr_x2"], "total_iter", GT),  # the run's own line, as before
        (["datasets/train/hr", "datasets/train/lr_x2"], "total_iters", f"o.yml: {TYPO}"),
    ],
)
def test_one_problem_is_still_one_line(tmp_path, monkeypatch, capsys, made, fixed, said):
    monkeypatch.chdir(tmp_path)
    for folder in made:
        (tmp_path / folder).mkdir(parents=True)
    text = TEMPLATE.replace("total_iters", fixed).replace(
        "path:\n  pretrain_network_g: models/pretrain.pth\n", ""
    )
    (tmp_path / "o.yml").write_text(text)
    assert main(["train", "-c", "o.yml", "--device", "cpu", "--dry-run"]) == 2
    assert _error_lines(capsys) == [f"error: {said}"]


def test_a_resumed_run_is_not_told_about_its_pretrain(tmp_path, monkeypatch, capsys):
    """Resuming, the training state's weights replace the pretrain's: a pretrain moved since is a note, not a
    problem (the run says so when it finds the state)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.yml").write_text(TEMPLATE)
    assert main(["train", "-c", "o.yml", "--device", "cpu", "--resume", "auto"]) == 2
    assert _error_lines(capsys) == [
        "error: o.yml: 3 problems; fix them all, then run again:",
        f"  {GT}",
        f"  {LQ}",
        f"  {TYPO}",
    ]


def test_a_degradation_key_is_said_with_the_others(tmp_path, monkeypatch, capsys):
    """On-the-fly data: the degradation keys are read after the rest of the file; a refused one was said alone,
    after the folder and the typo had been fixed one run each."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.yml").write_text(OTF_TEMPLATE)
    assert main(["train", "-c", "o.yml", "--device", "cpu", "--dry-run"]) == 2
    assert _error_lines(capsys) == [
        "error: o.yml: 3 problems; fix them all, then run again:",
        "  resize_range: give a range as two numbers [min, max] (the same twice for one value), got [0.5]",
        f"  {GT}",
        f"  {TYPO}",
    ]


def test_every_refused_degradation_key_is_said(tmp_path, monkeypatch, capsys):
    """Two refused degradation keys, one at the top level and one in the dataset block: only the first was said, the
    second after it was fixed, in another run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datasets" / "train" / "hr").mkdir(parents=True)
    text = OTF_TEMPLATE.replace("total_iters", "total_iter").replace(
        "    lq_size: 16\n", "    lq_size: 16\n    jpeg_range: [5]\n"
    )
    (tmp_path / "o.yml").write_text(text)
    assert main(["train", "-c", "o.yml", "--device", "cpu", "--dry-run"]) == 2
    assert _error_lines(capsys) == [
        "error: o.yml: 2 problems; fix them all, then run again:",
        "  resize_range: give a range as two numbers [min, max] (the same twice for one value), got [0.5]",
        "  datasets.train.jpeg_range: give a range as two numbers [min, max] (the same twice for one value), got [5]",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets", "o.yml"]


def test_a_refused_scale_is_not_followed_by_a_network_line_about_the_default_scale(
    tmp_path, monkeypatch, capsys
):
    """The other keys are checked with a refused key's default in its place: network_g's scale 2 against the
    default 4 would be a problem the file does not have."""
    monkeypatch.chdir(tmp_path)
    text = TEMPLATE.replace("scale: 2\n", "scale: 9\n", 1).replace(
        "  type: compact\n", "  type: compact\n  scale: 2\n"
    )
    (tmp_path / "o.yml").write_text(text)
    assert main(["train", "-c", "o.yml", "--device", "cpu", "--dry-run"]) == 2
    assert _error_lines(capsys) == [
        "error: o.yml: 5 problems; fix them all, then run again:",
        "  scale: Input should be less than or equal to 8 (got 9)",
        f"  {GT}",
        f"  {LQ}",
        f"  {PRETRAIN}",
        f"  {TYPO}",
    ]


def test_what_the_losses_need_is_said_with_the_rest(tmp_path, monkeypatch, capsys):
    """A ganloss without network_d, an ldlloss without the EMA: said with the folders, not after them."""
    monkeypatch.chdir(tmp_path)
    losses = "  losses:\n    - {type: ganloss, loss_weight: 0.1}\n    - {type: ldlloss, loss_weight: 1.0}\n"
    (tmp_path / "o.yml").write_text(TEMPLATE.replace("  total_iters: 10\n", losses))
    assert main(["train", "-c", "o.yml", "--device", "cpu", "--dry-run"]) == 2
    assert _error_lines(capsys)[1:] == [
        f"  {GT}",
        f"  {LQ}",
        f"  {PRETRAIN}",
        "  train.losses has a ganloss but network_d is missing; add a network_d block",
        "  train.losses has an ldlloss, which compares with the EMA model's output; set train.ema_decay (0.999 is "
        "usual)",
    ]
