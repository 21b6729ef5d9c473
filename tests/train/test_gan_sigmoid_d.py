"""A discriminator that outputs probabilities (PatchGAN's use_sigmoid) cannot train with losses that take logits."""

from __future__ import annotations

import pytest
import torch
from train_helpers import base_options, merge, write

from upres.archs.discriminators import build_discriminator
from upres.cli import main
from upres.losses.gan import GANLoss


@pytest.mark.parametrize("d_type", ["patchgandiscriminatorsn", "multiscalepatchgandiscriminatorsn"])
def test_use_sigmoid_is_refused_before_training(tmp_path, hr_folder, capsys, d_type):
    network_d = {"type": d_type, "num_feat": 8, "num_layers": 2, "use_sigmoid": True}
    opts = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {
            "datasets": {"train": {"lq_size": 32}},
            "network_d": {**network_d, **({"num_d": 2} if d_type.startswith("multi") else {})},
            "train": {"losses": [{"type": "l1loss"}, {"type": "ganloss", "loss_weight": 0.1}]},
        },
    )
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    assert capsys.readouterr().err == (
        f"error: network_d ({d_type}).use_sigmoid: true makes D output probabilities, but every ganloss takes logits, "
        "so the sigmoid would be applied twice (vanilla's D loss could not fall below 1.0); remove use_sigmoid: "
        "vanilla on logits already is pix2pix's sigmoid + BCE\n"
    )
    opts["network_d"]["use_sigmoid"] = False
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 0


def test_the_floor_the_message_states():
    """Even a D that is certain (logits of +-1000 before its sigmoid) keeps a vanilla loss of 1.0 + log terms."""
    d = build_discriminator("patchgandiscriminatorsn", num_feat=8, num_layers=2, use_sigmoid=True)
    probs_real, probs_fake = torch.sigmoid(torch.tensor([1000.0])), torch.sigmoid(torch.tensor([-1000.0]))
    gan = GANLoss("vanilla")
    floor = gan(probs_real, True, is_disc=True) + gan(probs_fake, False, is_disc=True)
    assert floor.item() == pytest.approx(1.0, abs=0.01)
    assert isinstance(d.body[-1], torch.nn.Sigmoid)
