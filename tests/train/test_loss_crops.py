"""A loss that cannot work on the training crops stops the run before it starts, not at its start_iter."""

from __future__ import annotations

import pytest
from train_helpers import base_options, write

from upres.cli import main
from upres.losses import build_losses


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (
            {"type": "ffloss", "patch_factor": 3},
            "train.losses[1] (ffloss): patch_factor 3 does not divide the GT crop of 32 px (datasets.train.lq_size "
            "16 x scale 2); use one that does (1, 2, 4, 8, 16, ...)",
        ),
        (
            {"type": "translationalloss", "border": 6},
            "train.losses[1] (translationalloss): crop_fraction 0.75 of datasets.train.lq_size 16 keeps 12 px, "
            "nothing inside a border of 6 px on each side; lower border or raise lq_size or crop_fraction",
        ),
        (
            {"type": "mssimloss", "padding": "valid"},
            "train.losses[1] (mssimloss): GT crops of 32 px (datasets.train.lq_size 16 x scale 2) are too small for "
            "5-scale MS-SSIM with padding 'valid' (need >= 161); use a larger lq_size or padding: same",
        ),
        (
            {"type": "msssiml1loss", "padding": "valid"},
            "train.losses[1] (msssiml1loss): GT crops of 32 px (datasets.train.lq_size 16 x scale 2) are too small "
            "for 5-scale MS-SSIM with padding 'valid' (need >= 161); use a larger lq_size or padding: same",
        ),
    ],
)
def test_a_later_loss_that_cannot_work_on_the_crops_stops_the_run_before_it_starts(
    tmp_path, hr_folder, capsys, loss, message
):
    """DLAS starts its translational loss at 80k iterations: the fault showed up there, hours into the run."""
    exp = tmp_path / "exp"
    opts = base_options(hr_folder, exp, losses=[{"type": "l1loss"}, {**loss, "start_iter": 8}])
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not exp.exists()


@pytest.mark.parametrize(
    "loss",
    [
        {"type": "ffloss", "patch_factor": 4},
        {"type": "translationalloss", "border": 5},
        {"type": "mssimloss"},
        {"type": "msssiml1loss"},
    ],
)
def test_crops_the_losses_can_work_on_pass(loss):
    entries, _ = build_losses([loss], crop=(16, 2))
    assert len(entries) == 1
