"""Resuming across the GAN switch (a GAN state with a file without network_d, or the other way) says what happens
to the discriminator: it was dropped from every later state, or started fresh, without a word."""

from __future__ import annotations

from train_helpers import base_options, merge, small_gan, write

from upres.cli import main


def _run(tmp_path, hr, opts: dict, *extra: str) -> None:
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--device", "cpu", *extra]) == 0


def test_a_gan_state_resumed_without_network_d_says_d_is_left_behind(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    fidelity = merge(
        base_options(hr_folder, exp), {"train": {"total_iter": 4}, "logger": {"save_checkpoint_freq": 2}}
    )
    gan = merge(fidelity, small_gan())
    gan["train"]["total_iter"] = 2
    _run(tmp_path, hr_folder, gan)
    _run(tmp_path, hr_folder, fidelity, "--resume", str(exp / "training_states" / "2.state"))
    assert (
        "the state holds a discriminator, but this run has no network_d: it goes on without the GAN and its training "
        "states no longer hold D (models/net_d_2 keeps it); resume with the options the state was written with to go "
        "on with the GAN"
    ) in (exp / "log.txt").read_text()


def test_a_fidelity_state_resumed_with_network_d_says_d_starts_fresh(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    fidelity = merge(
        base_options(hr_folder, exp), {"train": {"total_iter": 2}, "logger": {"save_checkpoint_freq": 2}}
    )
    _run(tmp_path, hr_folder, fidelity)
    gan = merge(fidelity, small_gan())
    gan["train"]["total_iter"] = 4
    _run(tmp_path, hr_folder, gan, "--resume", str(exp / "training_states" / "2.state"))
    log = (exp / "log.txt").read_text()
    assert (
        "the state holds no discriminator (written by a run without network_d): network_d starts as this run builds "
        "it (from path.pretrain_network_d if given, else freshly initialised)"
    ) in log
    assert "the state holds a discriminator" not in log
