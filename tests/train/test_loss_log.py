"""The loss means the training log prints (and the report charts): each loss over the iterations that computed it."""

from __future__ import annotations

from train_helpers import base_options, merge

from upres.train.config import parse_options
from upres.train.loop import train


def _last_losses(hr, exp, print_freq: int) -> dict[str, float]:
    # lr 0: the generator stays as it is, so both runs see the same outputs on the same batches.
    opts = merge(
        base_options(hr, exp),
        {
            "train": {
                "optim_g": {"lr": 0},
                "losses": [
                    {"type": "l1loss", "loss_weight": 1.0},
                    {"type": "l1loss", "loss_weight": 1.0, "start_iter": 6},
                ],
            },
            "logger": {"print_freq": print_freq},
        },
    )
    return train(parse_options(opts), device="cpu").last_losses


def test_a_loss_starting_inside_a_print_window_is_averaged_over_its_own_iterations(tmp_path, hr_folder):
    """The second l1loss runs on iterations 6-10; a print window of 10 logged its sum over 10 iterations: half its
    value. It must be the first entry's mean over the window 6-10 (same loss, same batches, same weights)."""
    straddling = _last_losses(hr_folder, tmp_path / "a", print_freq=10)
    aligned = _last_losses(hr_folder, tmp_path / "b", print_freq=5)
    assert aligned["l_g_l12"] == aligned["l_g_l1"]
    assert abs(straddling["l_g_l12"] - aligned["l_g_l1"]) < 1e-6 * aligned["l_g_l1"]
    assert straddling["l_g_l12"] != straddling["l_g_l1"]  # iterations 6-10 against 1-10


def test_a_loss_starting_after_the_last_iteration_is_said(tmp_path, hr_folder):
    """A ganloss (or any loss) whose start_iter lies past train.total_iter was never applied, without a word."""
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "train": {
                "losses": [
                    {"type": "l1loss", "loss_weight": 1.0},
                    {"type": "mseloss", "loss_weight": 1.0, "start_iter": 10},
                    {"type": "charbonnierloss", "loss_weight": 1.0, "start_iter": 11},
                ],
            },
        },
    )
    result = train(parse_options(opts), device="cpu")
    log = (exp / "log.txt").read_text()
    assert (
        "train.losses[2] (charbonnierloss) starts at iteration 11, after train.total_iter 10: this run never "
        "applies it" in log
    )
    assert "train.losses[1]" not in log  # it runs at the last iteration
    assert "l_g_mse" in result.last_losses and "l_g_charbonnier" not in result.last_losses
