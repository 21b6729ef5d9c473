import pytest
import torch
from torch import nn

from upres.errors import ConfigError
from upres.losses.consistency import TranslationalLoss


class ConvNearest(nn.Module):
    """Translation-equivariant away from the borders: 3x3 conv (zero padding) then nearest x2."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, 1, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        return self.up(self.conv(x))


class PositionDependent(nn.Module):
    """Adds a ramp over the output columns: its output depends on where the crop starts."""

    def forward(self, x):
        up = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        ramp = torch.linspace(0, 1, up.shape[-1]).view(1, 1, 1, -1)
        return up + ramp


def _run(g, loss, seed=0):
    torch.manual_seed(seed)
    lq = torch.rand(2, 3, 16, 16)
    gen = torch.Generator().manual_seed(seed)
    return loss(g, lq, g(lq), generator=gen).item()


@pytest.mark.parametrize("seed", range(4))
def test_zero_for_translation_equivariant_generator(seed):
    assert _run(nn.Upsample(scale_factor=2, mode="nearest"), TranslationalLoss(), seed) == 0.0
    # a padded conv is equivariant once the crop border it sees as zeros is excluded
    assert _run(ConvNearest(), TranslationalLoss(border=1), seed) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_positive_otherwise(seed):
    assert _run(PositionDependent(), TranslationalLoss(), seed) > 0


def test_gradient_reaches_generator():
    g = ConvNearest()
    lq = torch.rand(1, 3, 16, 16)
    loss = TranslationalLoss()(g, lq, g(lq), generator=torch.Generator().manual_seed(1))
    loss.backward()
    assert g.conv.weight.grad.abs().sum() > 0


def test_bad_options():
    with pytest.raises(ConfigError, match=r"crop_fraction must be in \(0, 1\)"):
        TranslationalLoss(crop_fraction=1.0)
    with pytest.raises(ConfigError, match="leaves nothing"):
        TranslationalLoss(border=8)(nn.Identity(), torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
