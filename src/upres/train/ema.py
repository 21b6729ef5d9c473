"""Exponential moving average of the generator's weights, used for validation and the saved model."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float, power: float = 0.0) -> None:
        self.decay, self.power = decay, power
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self._source: nn.Module | None = None  # the model whose tensors `_pairs` lists
        self._pairs: tuple[list[torch.Tensor], ...] = ()

    def decay_at(self, step: int) -> float:
        if self.power <= 0:
            return self.decay
        # Warm-up: early weights are mostly noise, so average over a window that grows with the step count.
        return min(self.decay, 1.0 - (1.0 + step) ** -self.power)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = self.decay_at(step)
        if model is not self._source:
            # Listed once per model: walking the modules for them (twice each, every step) was ~2 ms of host time a
            # step for RRDBNet 64/23, which an eager GPU step is bound by. Loading weights copies into these tensors.
            self._source = model
            self._pairs = (
                list(self.module.parameters()),
                list(model.parameters()),
                list(self.module.buffers()),
                list(model.buffers()),
            )
        ema_params, params, ema_buffers, buffers = self._pairs
        # No per-parameter .detach(): under no_grad the foreach op records nothing, and ~700 detaches (RRDBNet) were
        # 700 dispatches a step on the host, which an eager GPU step is bound by.
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        if ema_buffers and hasattr(torch, "_foreach_copy_"):  # torch >= 2.2
            torch._foreach_copy_(ema_buffers, buffers)
        else:
            for b_ema, b in zip(ema_buffers, buffers):
                b_ema.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


def starting_share(decay: float, power: float, iterations: int) -> float:
    """How much of its first weights the EMA still holds after `iterations` updates (with the warm-up of
    `EMA.decay_at`, whose first update copies the model; past the first million updates, at the full decay)."""
    steps = np.arange(1, min(iterations, 1_000_000), dtype=np.float64)
    factors = np.full_like(steps, decay) if power <= 0 else np.minimum(decay, 1.0 - (1.0 + steps) ** -power)
    if (factors <= 0).any():
        return 0.0
    return math.exp(float(np.log(factors).sum()) + max(iterations - 1 - len(steps), 0) * math.log(decay))


def window_note(decay: float, power: float, total_iter: int) -> str | None:
    """A note when the EMA is too slow for the run: the validated and saved model (params_ema) would still be mostly
    the starting weights (random ones in a run from scratch)."""
    share = starting_share(decay, power, total_iter)
    if share < 0.2:
        return None
    # The usual values, largest first: advice to lower 0.999 "to 0.999" read as a typo.
    fits = next(
        (d for d in (0.999, 0.99, 0.9) if d < decay and starting_share(d, power, total_iter) < 0.2), None
    )
    usual = "0.999 for runs of 10,000 iterations or more"
    if fits == 0.999:
        advice = f"lower ema_decay ({usual})"
    elif fits is not None:
        advice = f"lower ema_decay to {fits} for a run this short, or 0 to turn the EMA off ({usual})"
    else:
        advice = f"set ema_decay: 0 (no EMA) for a run this short ({usual})"
    return (
        f"train.ema_decay {decay} averages over about {round(1 / (1 - decay)):,} iterations, too slow for "
        f"train.total_iter {total_iter}: at the end the EMA model (validated, and saved as params_ema) is still "
        f"{share:.0%} the generator of the first iteration; {advice}"
    )
