"""Real-ESRGAN's training pair pool: batches mixing pairs degraded in different batches."""

from __future__ import annotations

import torch

from upres.host_to_device import upload


class PairPool:
    """Real-ESRGAN's training pair pool: keeps `size` (lq, gt) pairs and hands out a shuffled mix, so one batch
    holds samples degraded in different batches (different resize scales, final-stage orders...).

    The first `size / batch` calls fill the pool and return their input unchanged.
    """

    def __init__(self, size: int, generator: torch.Generator | None = None) -> None:
        self.size = size
        self.generator = generator
        self.lq: torch.Tensor | None = None
        self.gt: torch.Tensor | None = None
        self.filled = 0

    def __call__(self, lq: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.size == 0:
            return lq, gt
        b = lq.shape[0]
        if self.lq is None:
            if self.size % b:
                from upres.errors import ConfigError

                raise ConfigError(f"queue_size: {self.size} is not a multiple of the batch size {b}")
            self.lq = lq.new_zeros((self.size, *lq.shape[1:]))
            self.gt = gt.new_zeros((self.size, *gt.shape[1:]))
        assert self.gt is not None
        if self.filled < self.size:
            self.lq[self.filled : self.filled + b] = lq
            self.gt[self.filled : self.filled + b] = gt
            self.filled += b
            return lq, gt
        perm = upload(torch.randperm(self.size, generator=self.generator, device="cpu"), lq.device)
        self.lq, self.gt = self.lq[perm], self.gt[perm]
        out_lq, out_gt = self.lq[:b].clone(), self.gt[:b].clone()
        self.lq[:b], self.gt[:b] = lq, gt
        return out_lq, out_gt

    def state_dict(self) -> dict:
        """Contents and shuffle generator, for exact resume. Tensors holding only 8-bit levels (what JPEG and the
        final rounding leave, and 8-bit sources) are stored as uint8, 4x smaller; the rest as float32."""
        state: dict = {"size": self.size, "filled": self.filled}
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        if self.lq is not None and self.gt is not None:
            state["lq"], state["gt"] = _pack(self.lq[: self.filled]), _pack(self.gt[: self.filled])
        return state

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        if int(state["size"]) != self.size:
            raise ValueError(
                f"the saved pair pool holds {state['size']} pairs, this run's queue_size is {self.size}"
            )
        self.filled = int(state["filled"])
        if self.generator is not None and "generator" in state:
            self.generator.set_state(state["generator"])
        self.lq = self.gt = None
        if "lq" in state:
            lq, gt = _unpack(state["lq"], device), _unpack(state["gt"], device)
            self.lq = lq.new_zeros((self.size, *lq.shape[1:]))
            self.gt = gt.new_zeros((self.size, *gt.shape[1:]))
            self.lq[: self.filled], self.gt[: self.filled] = lq, gt


def _pack(t: torch.Tensor) -> torch.Tensor:
    # Checked and restored on the CPU: CUDA divides by a scalar as a multiplication by its reciprocal, one ulp off
    # IEEE division for some levels, so a check made on the GPU could pass for values the CPU restores differently
    # (and miss CPU-made ones). On the CPU, uint8 is stored only when dividing by 255 there gives back every bit.
    cpu = t.detach().cpu()
    levels = cpu.float().mul(255).round()
    if torch.equal(levels.div(255).to(cpu.dtype), cpu):
        return levels.to(torch.uint8)
    return cpu


def _unpack(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    return (t.float().div(255) if t.dtype == torch.uint8 else t).to(device)
