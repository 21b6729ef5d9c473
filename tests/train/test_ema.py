"""The EMA generator: a lerp of every parameter towards the model's, buffers copied, with the tensor lists kept
between steps (they must keep following the model's weights)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from upres.train.ema import EMA, starting_share, window_note


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 3, 1))


def _expected(ema: nn.Module, model: nn.Module, weight: float) -> list[torch.Tensor]:
    return [torch.lerp(e, p, weight) for e, p in zip(ema.parameters(), model.parameters(), strict=True)]


def test_an_update_lerps_every_parameter_and_copies_the_buffers():
    model = _net(0)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model.train()(torch.rand(2, 3, 8, 8))  # moves BatchNorm's running statistics
    want = _expected(ema.module, model, 1.0 - 0.9)
    ema.update(model, step=1)
    assert all(torch.equal(a, b) for a, b in zip(ema.module.parameters(), want, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(ema.module.buffers(), model.buffers(), strict=True))


def test_updates_follow_weights_loaded_into_the_model_and_a_new_model():
    model = _net(0)
    ema = EMA(model, decay=0.5)
    ema.update(model, step=1)
    model.load_state_dict(
        _net(1).state_dict()
    )  # as a resume or a roll-back does: copied into the same tensors
    want = _expected(ema.module, model, 0.5)
    ema.update(model, step=2)
    assert all(torch.equal(a, b) for a, b in zip(ema.module.parameters(), want, strict=True))
    other = _net(2)
    want = _expected(ema.module, other, 0.5)
    ema.update(other, step=3)
    assert all(torch.equal(a, b) for a, b in zip(ema.module.parameters(), want, strict=True))


def _share_by_updates(decay: float, power: float, iterations: int) -> float:
    """The first iteration's weights at 1, every later one at 0: what the EMA ends at is their share."""
    model = nn.Linear(1, 1, bias=False).requires_grad_(False)
    model.weight.fill_(1.0)
    ema = EMA(model, decay, power)
    ema.update(model, step=0)
    model.weight.fill_(0.0)
    for step in range(1, iterations):
        ema.update(model, step)
    return ema.module.weight.item()


def test_starting_share_is_what_the_updates_leave():
    for decay, power, iterations in ((0.9, 10.0, 10), (0.99, 0.0, 50), (0.999, 0.5, 300), (0.995, 10.0, 400)):
        got = starting_share(decay, power, iterations)
        assert got == pytest.approx(_share_by_updates(decay, power, iterations), rel=1e-4, abs=1e-7)


def test_an_ema_too_slow_for_the_run_gets_a_note_and_a_usual_one_none():
    """ema_decay 0.99999 over 10,000 iterations: the saved params_ema was 90% the first iteration's generator (random
    weights in a run from scratch), with nothing said."""
    assert window_note(0.99999, 10.0, 10_000) == (
        "train.ema_decay 0.99999 averages over about 100,000 iterations, too slow for train.total_iter 10000: at "
        "the end the EMA model (validated, and saved as params_ema) is still 90% the generator of the first "
        "iteration; lower ema_decay (0.999 for runs of 10,000 iterations or more)"
    )
    assert window_note(0.999, 10.0, 10_000) is None
    assert window_note(0.999, 10.0, 400_000) is None
    assert window_note(0.999, 0.5, 1_000) is None  # the warm-up averages a short run over fewer iterations


def test_the_advice_names_a_decay_that_fits_the_run():
    """A 20-iteration run at 0.999 was told to "lower ema_decay (0.999 for runs of 10,000 iterations or more)"."""
    note = window_note(0.999, 10.0, 20)
    assert note is not None and note.endswith(
        "; lower ema_decay to 0.9 for a run this short, or 0 to turn the EMA off (0.999 for runs of 10,000 "
        "iterations or more)"
    )
    assert starting_share(0.9, 10.0, 20) < 0.2 <= starting_share(0.99, 10.0, 20)
    assert window_note(0.999, 10.0, 3).endswith(
        "; set ema_decay: 0 (no EMA) for a run this short (0.999 for runs of 10,000 iterations or more)"
    )
