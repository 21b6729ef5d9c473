"""The discriminator's keys in a file without network_d: a note says they do nothing (they were ignored silently)."""

from __future__ import annotations

from train_helpers import MINIMAL_OPTIONS

from upres.train.config import parse_options

BASE = MINIMAL_OPTIONS
NOTE_END = ": no effect, there is no network_d (a GAN stage needs a network_d block and a ganloss)"


def _notes(train: dict, path: dict | None = None) -> list[str]:
    return parse_options({**BASE, "train": train, "path": path or {}}, "o.yml").compat_notes


def test_discriminator_keys_without_network_d_are_noted():
    notes = _notes(
        {"optim_d": {"type": "Adam", "lr": 1e-4}, "net_d_iters": 2, "gradient_penalty": {"kind": "r1"}},
        {"pretrain_network_d": "d.pth"},
    )
    assert notes == [
        "train.optim_d, train.net_d_iters, train.gradient_penalty, path.pretrain_network_d" + NOTE_END
    ]


def test_no_note_at_their_defaults_or_with_a_network_d():
    assert _notes({"net_d_iters": 1, "optim_d": None, "d_input_noise": 0}) == []
    with_d = {**BASE, "network_d": {"type": "dunet"}, "train": {"optim_d": {"type": "Adam"}}}
    assert parse_options(with_d, "o.yml").compat_notes == []
