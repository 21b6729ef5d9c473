"""The EMA generator: a lerp of every parameter towards the model's, buffers copied, with the tensor lists kept
between steps (they must keep following the model's weights)."""

from __future__ import annotations

import torch
from torch import nn

from upres.train.ema import EMA


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
