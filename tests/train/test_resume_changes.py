"""A resume with other losses, with a GAN switched on or off, without the EMA or from another folder of images goes on
as the options say, and the log says what changed (it went on without a word: nothing in log.txt said when the run's objective changed)."""

from __future__ import annotations

import copy
import shutil

from train_helpers import base_options, merge, small_gan

from upres.train import loop
from upres.train.config import parse_options

LOSSES = "train.losses differ from the training state's"
NO_D = "the training state holds no discriminator"
D_LEFT = "the training state's discriminator is left out"
EMA_LEFT = "the training state's EMA generator is left out"
FOLDERS = "datasets.train's folders differ from the training state's"


def _notes(exp, options: dict, since: int) -> list[str]:
    loop.train(parse_options(copy.deepcopy(options)), resume="auto")
    lines = (exp / "log.txt").read_text().splitlines()[since:]
    return [line[20:] for line in lines if any(k in line for k in (FOLDERS, LOSSES, NO_D, D_LEFT, EMA_LEFT))]


def test_a_resume_says_each_change_of_losses_discriminator_and_ema(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    gan = merge(base_options(hr_folder, exp, total_iter=5), small_gan())
    loop.train(parse_options(copy.deepcopy(gan)))
    state = exp / "training_states"

    fidelity = copy.deepcopy(gan)
    del fidelity["network_d"], fidelity["train"]["optim_d"]
    shutil.copytree(hr_folder, tmp_path / "hr2")  # the same count of images: only the folder tells
    fidelity["datasets"]["train"]["dataroot_gt"] = str(tmp_path / "hr2")
    fidelity["train"].update(
        total_iter=10, ema_decay=0, losses=[{"type": "l1loss"}, {"type": "mseloss", "loss_weight": 0.5}]
    )
    seen = len((exp / "log.txt").read_text().splitlines())
    assert _notes(exp, fidelity, seen) == [
        f"{FOLDERS} ({hr_folder.resolve()} -> {(tmp_path / 'hr2').resolve()}): from iteration 5 the run trains on "
        "the options' images",
        f"{LOSSES} (removed ganloss x0.1; added mseloss x0.5): from iteration 5 the run trains with the options' "
        "losses",
        f"{D_LEFT} (the options have no network_d): the states saved from here hold none; to train it on, resume "
        f"from {state / '5.state'} with its network_d and losses",
        f"{EMA_LEFT} (train.ema_decay is 0): validation and the saved models are the generator's own from "
        "iteration 5; to keep the EMA, resume with its ema_decay",
    ]

    gan["train"].update(total_iter=15, ema_decay=0)
    seen = len((exp / "log.txt").read_text().splitlines())
    assert _notes(exp, gan, seen) == [
        f"{FOLDERS} ({(tmp_path / 'hr2').resolve()} -> {hr_folder.resolve()}): from iteration 10 the run trains on "
        "the options' images",
        f"{LOSSES} (removed mseloss x0.5; added ganloss x0.1): from iteration 10 the run trains with the options' "
        "losses",
        f"{NO_D} (its run had no network_d): network_d starts at iteration 10 as in a new run (from "
        "path.pretrain_network_d when given, else from new weights)",
    ]

    gan["train"]["total_iter"] = 20  # the same losses, D and EMA: nothing to say
    seen = len((exp / "log.txt").read_text().splitlines())
    assert _notes(exp, gan, seen) == []


def test_a_validation_a_new_val_freq_puts_at_the_resumed_iteration_is_not_called_cut_off(tmp_path, hr_folder):
    """State 6 of a run validating every 4, resumed with val_freq 3: the log said "the validation at iteration 6 did
    not finish before the run stopped", of a validation that run never had due. A cut-off one is still said so."""
    exp = tmp_path / "exp"
    options = merge(
        base_options(hr_folder, exp, total_iter=6),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
            "val": {"val_freq": 4, "save_img": False, "metrics": {"psnr": {"type": "calculate_psnr"}}},
            "logger": {"print_freq": 3, "save_checkpoint_freq": 3},
        },
    )
    loop.train(parse_options(copy.deepcopy(options)))
    (exp / "training_states" / "6.state").unlink()  # as if killed before its save at 6
    faster = merge(options, {"train": {"total_iter": 9}, "val": {"val_freq": 3}})
    seen = len((exp / "log.txt").read_text().splitlines())
    loop.train(parse_options(copy.deepcopy(faster)), resume="auto")
    log = "\n".join((exp / "log.txt").read_text().splitlines()[seen:])
    assert (
        "val.val_freq 3 puts a validation at iteration 3, where the training state's run had none: running it now"
        in log
    )
    assert "did not finish" not in log
    assert log.count("validation val @ 3:") == 1
