"""Exponential moving average of the generator's weights, used for validation and the saved model."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float, power: float = 0.0) -> None:
        self.decay, self.power = decay, power
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        if self.power <= 0:
            return self.decay
        # Warm-up: early weights are mostly noise, so average over a window that grows with the step count.
        return min(self.decay, 1.0 - (1.0 + step) ** -self.power)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = self.decay_at(step)
        # No per-parameter .detach(): under no_grad the foreach op records nothing, and ~700 detaches (RRDBNet) were
        # 700 dispatches a step on the host, which an eager GPU step is bound by.
        torch._foreach_lerp_(list(self.module.parameters()), list(model.parameters()), 1.0 - d)
        buffers = list(self.module.buffers())
        if buffers and hasattr(torch, "_foreach_copy_"):  # torch >= 2.2
            torch._foreach_copy_(buffers, list(model.buffers()))
        else:
            for b_ema, b in zip(buffers, model.buffers()):
                b_ema.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
