"""The training step (train/step.py) on its own: it never reads a tensor back to the host, and its device-side
bookkeeping (loss sums, skipped steps) is what the loop prints."""

from __future__ import annotations

import pytest
import torch
from train_helpers import base_options, merge

from devices import DEVICES
from upres.train.config import parse_options
from upres.train.distributed import DistContext
from upres.train.setup import build_run
from upres.train.step import TrainStep

READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


def _step(hr_folder, tmp_path, device: str, gan: bool) -> TrainStep:
    opts = merge(base_options(hr_folder, tmp_path), {"train": {"ema_decay": 0.9}})
    if gan:
        opts = merge(
            opts,
            {
                "network_d": {"type": "patchgandiscriminatorsn", "num_feat": 8, "num_layers": 2},
                "train": {
                    "optim_d": {"type": "AdamW", "lr": 1e-3},
                    "d_input_noise": 0.01,
                    "losses": [
                        {"type": "l1loss", "loss_weight": 1.0},
                        {"type": "ganloss", "gan_type": "ragan", "loss_weight": 0.1, "start_iter": 2},
                    ],
                },
            },
        )
    parsed = parse_options(opts)
    ctx = DistContext(device=torch.device(device))
    run = build_run(parsed, ctx.device, seed=0, world_size=1, check_data=False)
    return TrainStep(run, parsed, ctx, run.g.net, run.d.net if run.d else None, None, torch.bfloat16)


@pytest.mark.parametrize("gan", [False, True], ids=["fidelity", "gan"])
@pytest.mark.parametrize("device", DEVICES)
def test_a_training_step_never_waits_for_the_device(hr_folder, tmp_path, monkeypatch, device, gan):
    step = _step(hr_folder, tmp_path, device, gan)
    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 32, 32, generator=g)) for _ in range(4)
    ]

    def feed(it: int, micro: int):
        lq, gt = (t.to(device) for t in batches[it - 1])
        return lq, gt, gt

    reads: list[str] = []
    for name in READS:
        real = getattr(torch.Tensor, name)

        def spy(self, *a, _name=name, _real=real, **k):
            reads.append(_name)
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, spy)
    for it in range(1, 5):  # across the GAN stage's start (iteration 2)
        step(it, feed)
    monkeypatch.undo()
    assert reads == [], f"the step read tensors back to the host: {sorted(set(reads))}"
    assert float(step.skipped_total) == 0 and float(step.consecutive_bad) == 0
    assert set(step.loss_sums) >= {"l_g_l1", "l_g_total"} | ({"l_d_real", "l_g_gan"} if gan else set())
    assert all(torch.isfinite(v) for v in step.loss_sums.values())


@pytest.mark.parametrize("poison", [None, float("inf"), float("-inf"), float("nan")])
def test_the_gradient_check_flags_any_non_finite_value_and_leaves_every_bit(poison):
    """The finiteness check of G's gradients (GradScaler's kernel at scale 1), over parameters of two dtypes."""
    from types import SimpleNamespace

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2).to(torch.bfloat16))
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    if poison is not None:
        net[1].weight.grad[1, 2] = poison  # one value of the bf16 layer
    before = [p.grad.clone() for p in net.parameters()]
    fake = SimpleNamespace(
        run=SimpleNamespace(g=SimpleNamespace(net=net)), ctx=SimpleNamespace(device=torch.device("cpu")),
        one=torch.ones(()),
    )  # fmt: skip
    flagged = TrainStep._nonfinite_grads(fake)
    assert flagged.shape == () and bool(flagged) == (poison is not None)
    for b, p in zip(
        before, net.parameters(), strict=True
    ):  # x * 1.0: every value as it was, NaN where it was
        assert torch.equal(b.isnan(), p.grad.isnan()) and torch.equal(
            b.nan_to_num(0.0), p.grad.nan_to_num(0.0)
        )
