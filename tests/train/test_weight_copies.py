"""G's convolution weights copied to the autocast dtype once an iteration (train/weight_copies.py) train exactly what
autocast's per-use casts train: the same weights, bit for bit, in both stages, with gradient accumulation."""

from __future__ import annotations

import contextlib

import pytest
import torch
from train_helpers import base_options, merge, small_gan

import upres.train.step as step_mod
from devices import DEVICES
from upres.io.model_files import read_tensors
from upres.train.config import parse_options
from upres.train.loop import train
from upres.train.weight_copies import LowPrecisionWeights

AMP = {"use_amp": True, "use_amp_on_cpu": True, "amp_bf16": True}


def _final(hr_folder, exp, patch: dict, device: str) -> dict[str, torch.Tensor]:
    opts = merge(merge(base_options(hr_folder, exp), AMP), patch)
    if "network_g" in patch:
        opts["network_g"] = patch["network_g"]
    train(parse_options(opts), device=device)
    return read_tensors(exp / "models" / "net_g_10.safetensors")[0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"network_g": {"type": "esrgan", "num_feat": 8, "num_grow_ch": 4, "num_block": 1}},
        {"datasets": {"train": {"accum_iter": 2}}, "train": {"grad_clip": True}},
        small_gan("ragan", net_d_iters=2),
        # G runs a second time inside the losses, on a shifted crop: the copies serve both forwards
        {
            "train": {
                "losses": [
                    {"type": "l1loss", "loss_weight": 1.0},
                    {"type": "translationalloss", "loss_weight": 0.5},
                ]
            }
        },
    ],
    ids=["compact", "esrgan", "accumulation_and_clipping", "gan", "second_forward"],
)
def test_copies_made_once_an_iteration_train_what_autocast_casts_train(
    hr_folder, tmp_path, monkeypatch, patch, device
):
    made = []
    real = step_mod.LowPrecisionWeights

    def counted(*a, **k):
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(step_mod, "LowPrecisionWeights", counted)
    copied = _final(hr_folder, tmp_path / "copies", patch, device)
    assert len(made) == 1 and made[0].copies, "the run did not use the copies"
    assert all(c.dtype == torch.bfloat16 for c in made[0].copies)
    monkeypatch.setattr(step_mod, "LowPrecisionWeights", lambda net, dtype: None)  # autocast's casts
    cast = _final(hr_folder, tmp_path / "casts", patch, device)
    assert copied.keys() == cast.keys()
    assert all(torch.equal(copied[k], cast[k]) for k in cast)
    # and training moved the weights between the two checkpoints: not the equality of two untouched models
    earlier = read_tensors(tmp_path / "copies" / "models" / "net_g_5.safetensors")[0]
    assert any(not torch.equal(earlier[k], copied[k]) for k in copied)


def test_only_plain_convolutions_are_copied_and_the_modules_get_their_parameters_back():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.PReLU(4), torch.nn.Linear(4, 2, bias=False))
    hooked = torch.nn.Conv2d(4, 4, 1)
    hooked.register_forward_pre_hook(lambda m, a: None)
    net.append(hooked)
    weights = LowPrecisionWeights(net, torch.float16)
    assert [(type(m).__name__, n) for m, n in weights.slots] == [("Conv2d", "weight"), ("Conv2d", "bias"),
                                                                  ("Linear", "weight")]  # fmt: skip
    assert {id(p) for p in weights.others} == {id(net[1].weight), id(hooked.weight), id(hooked.bias)}
    weights.refresh()
    with weights.in_use():
        assert net[0].weight is weights.copies[0] and net[0].weight.dtype == torch.float16
    assert net[0].weight is weights.masters[0] and isinstance(net[0].weight, torch.nn.Parameter)
    with pytest.raises(RuntimeError), weights.in_use():
        raise RuntimeError("a failed forward")
    assert all(m._parameters[n] is p for (m, n), p in zip(weights.slots, weights.masters, strict=True))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gradients_through_the_copies_are_autocasts_for_either_dtype(dtype):
    """fp16 is what a GPU without bf16 trains in (with a gradient scaler); CPU autocast runs it too. Two backwards
    accumulate, as micro-batches do; the scaled loss stands for the gradient scaler's."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.PReLU(8), torch.nn.Conv2d(8, 3, 3)
    )
    x = [torch.rand(2, 3, 12, 12) for _ in range(2)]

    def grads(copies: LowPrecisionWeights | None) -> list[torch.Tensor]:
        net.zero_grad(set_to_none=True)
        for xi in x:
            if copies is not None:
                copies.refresh()
            in_use = copies.in_use() if copies is not None else contextlib.nullcontext()
            with in_use, torch.autocast("cpu", dtype=dtype):
                loss = net(xi).float().square().mean() * 1024
            loss.backward(inputs=copies.inputs if copies is not None else list(net.parameters()))
            if copies is not None:
                copies.gather_grads()
        return [p.grad.clone() for p in net.parameters()]

    cast = grads(None)
    copied = grads(LowPrecisionWeights(net, dtype))
    assert all(g.dtype == torch.float32 for g in copied)
    assert all(torch.equal(a, b) for a, b in zip(cast, copied, strict=True))
