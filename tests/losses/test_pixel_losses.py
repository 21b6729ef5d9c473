import math

import pytest
import torch

from upres.errors import ConfigError
from upres.losses.pixel import CharbonnierLoss, L1Loss, MSELoss, criterion

PRED = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])
TARGET = torch.tensor([[[[0.5, 0.5], [0.0, 1.0]]]])
DIFFS = [0.5, 0.0, 1.0, 0.75]


def test_l1_hand_value():
    assert L1Loss()(PRED, TARGET).item() == pytest.approx(sum(DIFFS) / 4)


def test_mse_hand_value():
    assert MSELoss()(PRED, TARGET).item() == pytest.approx(sum(d * d for d in DIFFS) / 4)


def test_charbonnier_hand_value_and_eps():
    expected = sum(math.sqrt(d * d + 1e-12) for d in DIFFS) / 4
    assert CharbonnierLoss()(PRED, TARGET).item() == pytest.approx(expected, rel=1e-6)
    # eps keeps the gradient finite where pred == target (the 0.0 entry)
    x = PRED.clone().requires_grad_(True)
    CharbonnierLoss()(x, TARGET).backward()
    assert torch.isfinite(x.grad).all()
    big = CharbonnierLoss(eps=1.0)(PRED, TARGET).item()
    assert big == pytest.approx(sum(math.sqrt(d * d + 1) for d in DIFFS) / 4, rel=1e-6)


def test_unknown_criterion_lists_choices():
    with pytest.raises(ConfigError, match=r"unknown criterion 'l3'; available: l1, l2, mse, charbonnier"):
        criterion("l3")


@pytest.mark.parametrize(
    ("cls", "elementwise"),
    [
        (L1Loss, lambda p, t: (p - t).abs()),
        (MSELoss, lambda p, t: (p - t) ** 2),
        (CharbonnierLoss, lambda p, t: torch.sqrt((p - t) ** 2 + 1e-12)),
    ],
)
def test_reduction_sum_and_mean(cls, elementwise):
    want = elementwise(PRED, TARGET)
    assert cls(reduction="sum")(PRED, TARGET).item() == pytest.approx(want.sum().item(), rel=1e-6)
    assert cls(reduction="mean")(PRED, TARGET).item() == pytest.approx(want.mean().item(), rel=1e-6)


def test_reduction_none_is_refused_naming_the_entry():
    from upres.losses import build_losses

    with pytest.raises(ConfigError) as exc:
        build_losses([{"type": "l1loss", "loss_weight": 1, "reduction": "none"}])
    assert str(exc.value) == (
        "train.losses[0] (l1loss): reduction 'none' is not supported; use mean (the default) or sum"
    )


@pytest.mark.parametrize("eps", [-1.0, 0, float("nan")])
def test_charbonnier_eps_must_be_positive(eps):
    """A negative eps made the loss NaN, 0 its gradient NaN where output equals target: trained on without a word."""
    from upres.losses import build_loss

    with pytest.raises(ConfigError) as exc:
        build_loss({"type": "charbonnierloss", "eps": eps}, "train.losses[0]")
    assert str(exc.value) == (
        f"train.losses[0] (charbonnierloss): eps must be a positive number (1e-12 is traiNNer-redux's; for L1 use "
        f"l1loss), not {eps!r}"
    )
