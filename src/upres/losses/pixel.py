"""Pixel losses (fidelity stage) and the element-wise criteria other losses reuse.

Every loss module in `upres.losses` returns an *unweighted* scalar; the caller multiplies by `loss_weight` and
skips it before `start_iter` (see `upres.losses.LossEntry`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from upres.errors import ConfigError

# traiNNer-redux and BasicSR use 1e-12: Charbonnier then behaves like L1 except within ~1e-6 of zero.
CHARBONNIER_EPS = 1e-12

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    return torch.sqrt((pred - target) ** 2 + eps).mean()


# The same criteria per element (no reduction), for losses that weight them first.
ELEMENTWISE: dict[str, Criterion] = {
    "l1": lambda a, b: (a - b).abs(),
    "l2": lambda a, b: (a - b) ** 2,
    "mse": lambda a, b: (a - b) ** 2,
    "charbonnier": lambda a, b: torch.sqrt((a - b) ** 2 + CHARBONNIER_EPS),
}

CRITERIA: dict[str, Criterion] = {
    "l1": F.l1_loss,
    "l2": F.mse_loss,
    "mse": F.mse_loss,
    "charbonnier": charbonnier,
}


def criterion(name: str, where: str = "criterion") -> Criterion:
    """The element-wise criterion called `name` (l1 | l2 | mse | charbonnier), mean-reduced."""
    key = str(name).lower()
    if key not in CRITERIA:
        raise ConfigError(f"{where}: unknown criterion {name!r}; available: {', '.join(CRITERIA)}")
    return CRITERIA[key]


def check_reduction(reduction: str) -> str:
    """traiNNer-redux's `reduction`: mean or sum. "none" would hand the loop a per-pixel map it cannot step on."""
    if reduction not in ("mean", "sum"):
        # ValueError: build_loss names the entry ("train.losses[0] (l1loss): reduction ...").
        raise ValueError(f"reduction {reduction!r} is not supported; use mean (the default) or sum")
    return reduction


class L1Loss(nn.Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(pred, target, reduction=self.reduction)


class MSELoss(nn.Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred, target, reduction=self.reduction)


class CharbonnierLoss(nn.Module):
    def __init__(self, eps: float = CHARBONNIER_EPS, reduction: str = "mean") -> None:
        super().__init__()
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < float("inf"):
            # A negative eps made the loss NaN; 0 its gradient NaN wherever output and target are equal.
            raise ValueError(
                f"eps must be a positive number (1e-12 is traiNNer-redux's; for L1 use l1loss), not {eps!r}"
            )
        self.eps = float(eps)
        self.reduction = check_reduction(reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.reduction == "sum":
            return torch.sqrt((pred - target) ** 2 + self.eps).sum()
        return charbonnier(pred, target, self.eps)
