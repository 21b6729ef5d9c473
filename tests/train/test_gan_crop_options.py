"""A GT crop smaller than the discriminator can judge is a one-line config error before training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import base_options, merge, write

from upres.cli import main


def _gan_options(hr: Path, exp: Path, network_d: dict, lq_size: int) -> dict:
    return merge(
        base_options(hr, exp),
        {
            "datasets": {"train": {"lq_size": lq_size}},
            "network_d": network_d,
            "train": {
                "losses": [{"type": "l1loss"}, {"type": "ganloss", "gan_type": "vanilla", "loss_weight": 0.1}]
            },
        },
    )


@pytest.mark.parametrize(
    "network_d, lq_size, message",
    [
        (
            {"type": "multiscalepatchgandiscriminatorsn", "num_feat": 8},
            32,
            "network_d (multiscalepatchgandiscriminatorsn) needs GT crops of at least 93 px, but "
            "datasets.train.lq_size 32 x scale 2 gives 64 px; the smallest lq_size it accepts is 47 (GT 94 px)",
        ),
        (
            {"type": "vggstylediscriminator", "num_feat": 8},
            20,
            "network_d (vggstylediscriminator) needs GT crops of at least 32 px, in multiples of 32, but "
            "datasets.train.lq_size 20 x scale 2 gives 40 px; the nearest lq_size values it accepts are 16 (GT 32 px) "
            "and 32 (GT 64 px)",
        ),
        (
            {"type": "dunet", "num_feat": 8},
            2,
            "network_d (dunet) needs GT crops of at least 8 px, in multiples of 8, but datasets.train.lq_size 2 x "
            "scale 2 gives 4 px; the smallest lq_size it accepts is 4 (GT 8 px)",
        ),
    ],
)
def test_a_crop_the_discriminator_cannot_see_is_a_config_error_before_training(
    tmp_path, hr_folder, capsys, network_d, lq_size, message
):
    cfg = write(tmp_path / "o.yml", _gan_options(hr_folder, tmp_path / "exp", network_d, lq_size))
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_the_crop_the_error_names_trains(tmp_path, hr_folder, capsys):
    d = {"type": "multiscalepatchgandiscriminatorsn", "num_feat": 8, "num_layers": 1, "num_d": 2}
    # num_layers 1, num_d 2 needs 11 px: lq_size 6 at scale 2 gives 12.
    cfg = write(tmp_path / "o.yml", _gan_options(hr_folder, tmp_path / "exp", d, 6))
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 0, capsys.readouterr().err
    cfg = write(tmp_path / "o.yml", _gan_options(hr_folder, tmp_path / "exp", d, 5))
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    assert "the smallest lq_size it accepts is 6 (GT 12 px)" in capsys.readouterr().err


def test_a_discriminator_no_loss_trains_is_a_note_and_its_crop_is_not_checked(tmp_path, hr_folder, capsys):
    """A fidelity stage run from the GAN stage's file (ganloss at weight 0, network_d kept): D never runs, so a crop
    it could not judge is no reason to refuse the run; a note says D is not trained."""
    opts = _gan_options(hr_folder, tmp_path / "exp", {"type": "vggstylediscriminator", "num_feat": 8}, 20)
    opts["train"]["losses"][1]["loss_weight"] = 0
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 0
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert (
        "network_d (vggstylediscriminator) is not trained in this run: train.losses has no ganloss with a weight "
        "above 0; its files are saved as it was loaded or initialised"
    ) in err
    assert "needs GT crops" not in err
