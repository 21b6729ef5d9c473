"""A D warm-up (net_d_init_iters) or G period (net_d_iters) longer than the rest of the run: the generator stops at
the GAN's start without a word (its losses still in the progress lines); a note says so when the file is read."""

from __future__ import annotations

import itertools

from upres.train.config import parse_options
from upres.train.gan_step import gan_schedule


def _notes(total: int, gan_start: int, init: int, every: int) -> list[str]:
    data = {
        "name": "x",
        "scale": 2,
        "datasets": {"train": {"type": "pairedimagedataset", "dataroot_gt": "hr", "lq_size": 16}},
        "network_g": {"type": "compact"},
        "network_d": {"type": "dunet"},
        "train": {
            "total_iter": total,
            "net_d_init_iters": init,
            "net_d_iters": every,
            "losses": [
                {"type": "l1loss", "loss_weight": 1.0},
                {"type": "ganloss", "loss_weight": 0.1, "start_iter": gan_start},
            ],
        },
    }
    return [n for n in parse_options(data, "o.yml").compat_notes if "the generator does not step" in n]


def test_the_note_comes_exactly_when_the_schedule_never_steps_g_in_the_gan_stage():
    for total, gan_start, init, every in itertools.product((1, 4, 9), (0, 3), (0, 2, 8), (1, 3, 10)):
        if gan_start > total:
            continue
        g_steps = [
            it for it in range(max(gan_start, 1), total + 1) if gan_schedule(it, gan_start, every, init)[0]
        ]
        assert bool(_notes(total, gan_start, init, every)) == (not g_steps), (total, gan_start, init, every)


def test_the_note_names_the_keys_and_the_first_step_g_would_take():
    assert _notes(4, 0, 100, 1) == [
        "train.net_d_init_iters 100, net_d_iters 1: the generator does not step from iteration 1 (the GAN's start) "
        "to train.total_iter 4, only the discriminator trains; its first step would be iteration 101"
    ]
    assert _notes(400_000, 0, 0, 1) == []
