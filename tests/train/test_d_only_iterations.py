"""On iterations where only the discriminator steps (net_d_init_iters, net_d_iters), the generator's losses were still
computed, a perceptual loss's VGG forward included, and nothing used them: pure waste. They are now left out, and so
out of the logged means (which average each loss over the iterations that computed it), while G's own iterations
compute exactly what they did."""

from __future__ import annotations

from train_helpers import base_options, merge

from upres.losses.perceptual import PerceptualLoss
from upres.train.config import parse_options
from upres.train.loop import train
from upres.train.step import TrainStep

G_ITERATIONS = [4, 6, 8]  # D alone for 3 iterations, then G every 2nd


def _options(hr, exp, vgg) -> dict:
    return merge(
        base_options(hr, exp, total_iter=8),
        {
            "network_d": {"type": "patchgandiscriminatorsn", "num_feat": 8, "num_layers": 2},
            "train": {
                "net_d_init_iters": 3,
                "net_d_iters": 2,
                "optim_d": {"type": "AdamW", "lr": 1e-3},
                "losses": [
                    {"type": "l1loss", "loss_weight": 0.01},
                    {
                        "type": "perceptualloss",
                        "layer_weights": {"conv2_2": 1.0},
                        "vgg_weights_path": str(vgg),
                    },
                    {"type": "ganloss", "gan_type": "vanilla", "loss_weight": 0.1},
                ],
            },
            "logger": {"print_freq": 1, "save_checkpoint_freq": 8},
        },
    )


def test_d_only_iterations_compute_no_generator_loss(tmp_path, hr_folder, random_vgg, monkeypatch):
    at, percep_at, logged = [0], [], {}
    real_call, real_forward = TrainStep.__call__, PerceptualLoss.forward

    def call(self, it, next_batch):
        at[0] = it
        return real_call(self, it, next_batch)

    def forward(self, sr, gt):
        percep_at.append(at[0])
        return real_forward(self, sr, gt)

    monkeypatch.setattr(TrainStep, "__call__", call)
    monkeypatch.setattr(PerceptualLoss, "forward", forward)
    exp = tmp_path / "exp"
    train(parse_options(_options(hr_folder, exp, random_vgg)))
    assert percep_at == G_ITERATIONS
    for line in (exp / "log.txt").read_text().splitlines():
        if " iter " in line:
            it = int(line.split(" iter ")[1].split("/")[0])
            logged[it] = line
    for it, line in logged.items():
        # A line over a D-only iteration shows D's losses and no generator loss (not a 0 or the last one).
        assert ("l_g_percep" in line) == (it in G_ITERATIONS) and "l_d_real" in line, line
