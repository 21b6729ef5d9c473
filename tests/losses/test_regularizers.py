"""Gradient penalties against closed forms on a linear discriminator D(x) = <w, x> + b."""

import pytest
import torch
from torch import nn

from upres.errors import ConfigError
from upres.losses.regularizers import (
    PenaltyOptions,
    add_input_noise,
    gradient_penalty,
    interpolates,
    r1_penalty,
)


class LinearD(nn.Module):
    def __init__(self, shape):
        super().__init__()
        torch.manual_seed(1)
        self.w = nn.Parameter(torch.randn(shape) * 0.1)
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1, keepdim=True) + self.b


def test_one_centred_penalty_closed_form():
    d = LinearD((3, 8, 8))
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    gp = gradient_penalty(d(x), x, center=1.0)
    norm = d.w.detach().norm()
    assert gp.item() == pytest.approx(((norm - 1) ** 2).item(), rel=1e-5)
    # the penalty trains D: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    (grad_w,) = torch.autograd.grad(gp, d.w)
    assert torch.allclose(grad_w, 2 * (norm - 1) * d.w.detach() / norm, atol=1e-6)


def test_r1_closed_form():
    d = LinearD((3, 8, 8))
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    assert r1_penalty(d(x), x).item() == pytest.approx(0.5 * d.w.detach().norm().item() ** 2, rel=1e-5)


def test_wgan_gp_on_interpolates_closed_form():
    d = LinearD((3, 8, 8))
    real, fake = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    mixed = interpolates(real, fake)
    assert mixed.requires_grad
    # every interpolate lies on its own real-fake segment
    d_rf, d_mf = (real - fake).flatten(1), (mixed - fake).detach().flatten(1)
    t = (d_mf * d_rf).sum(1, keepdim=True) / (d_rf * d_rf).sum(1, keepdim=True)
    assert ((t >= 0) & (t <= 1)).all()
    assert torch.allclose(d_mf, t * d_rf, atol=1e-6)
    gp = gradient_penalty(d(mixed), mixed)
    assert gp.item() == pytest.approx(((d.w.detach().norm() - 1) ** 2).item(), rel=1e-5)


def test_input_noise_range():
    x = torch.zeros(1000)
    y = add_input_noise(x, 1 / 255)
    assert (y >= 0).all() and (y < 1 / 255).all() and y.std() > 0
    assert add_input_noise(x, 0.0) is x


def test_penalty_kind_checked():
    with pytest.raises(ConfigError, match="unknown 'r2'"):
        PenaltyOptions(kind="r2")
