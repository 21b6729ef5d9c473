"""Resuming across the GAN switch (a GAN state with a file without network_d, or the other way) says what happens
to the discriminator: it was dropped from every later state, or started fresh, without a word."""

from __future__ import annotations

from train_helpers import base_options, merge, small_gan, write

from upres.cli import main


def _run(tmp_path, hr, opts: dict, *extra: str) -> None:
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--device", "cpu", *extra]) == 0


def _discriminator_notes(exp) -> list[str]:
    """The log's notes about D, once each: persist.py and resume_changes.py both said it, in other words."""
    return [line[20:] for line in (exp / "log.txt").read_text().splitlines() if "discriminator" in line]


def test_a_gan_state_resumed_without_network_d_says_d_is_left_behind(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    fidelity = merge(
        base_options(hr_folder, exp), {"train": {"total_iter": 4}, "logger": {"save_checkpoint_freq": 2}}
    )
    gan = merge(fidelity, small_gan())
    gan["train"]["total_iter"] = 2
    _run(tmp_path, hr_folder, gan)
    _run(tmp_path, hr_folder, fidelity, "--resume", str(exp / "training_states" / "2.state"))
    assert _discriminator_notes(exp) == [
        "the training state's discriminator is left out (the options have no network_d): the states saved from here "
        f"hold none; to train it on, resume from {exp / 'training_states' / '2.state'} with its network_d and losses"
    ]


def test_a_fidelity_state_resumed_with_network_d_says_d_starts_fresh(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    fidelity = merge(
        base_options(hr_folder, exp), {"train": {"total_iter": 2}, "logger": {"save_checkpoint_freq": 2}}
    )
    _run(tmp_path, hr_folder, fidelity)
    gan = merge(fidelity, small_gan())
    gan["train"]["total_iter"] = 4
    _run(tmp_path, hr_folder, gan, "--resume", str(exp / "training_states" / "2.state"))
    assert _discriminator_notes(exp) == [
        "the training state holds no discriminator (its run had no network_d): network_d starts at iteration 2 as in "
        "a new run (from path.pretrain_network_d when given, else from new weights)"
    ]
