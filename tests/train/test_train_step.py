"""The training step (train/step.py) on its own: it never reads a tensor back to the host, and its device-side
bookkeeping (loss sums, skipped steps) is what the loop prints."""

from __future__ import annotations

import pytest
import torch
from train_helpers import base_options, merge

from devices import DEVICES
from host_waits import HostCopies, host_reads
from upres.train.config import parse_options
from upres.train.distributed import DistContext
from upres.train.setup import build_run
from upres.train.step import TrainStep


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

    with host_reads(monkeypatch) as reads:
        for it in range(1, 5):  # across the GAN stage's start (iteration 2)
            step(it, feed)
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
        one=torch.ones(()), g_params=list(net.parameters()),
    )  # fmt: skip
    flagged = TrainStep._nonfinite_grads(fake, fake.g_params)
    assert flagged.shape == () and bool(flagged) == (poison is not None)
    for b, p in zip(
        before, net.parameters(), strict=True
    ):  # x * 1.0: every value as it was, NaN where it was
        assert torch.equal(b.isnan(), p.grad.isnan()) and torch.equal(
            b.nan_to_num(0.0), p.grad.nan_to_num(0.0)
        )


HOST_READS = ("aten::item", "aten::_local_scalar_dense", "aten::nonzero", "aten::is_nonzero")


def _host_reads_in_backward(prof) -> list[str]:
    """Reads of a tensor's value by the host made inside autograd's backward, where no Python spy sees them: each
    one waits for the GPU (torch.prod's backward did, checking for zero factors). On the CPU they cost nothing, so
    the profiler's op tree, not the clock, tells them."""
    found = []
    for event in prof.events():
        if event.name not in HOST_READS:
            continue
        parents, parent = [], event.cpu_parent
        while parent is not None:
            parents.append(parent.name)
            parent = parent.cpu_parent
        backward = [p for p in parents if p.startswith("autograd::engine::evaluate_function: ")]
        if backward:
            found.append(f"{event.name} in {backward[0].split(': ')[1]}")
    return sorted(set(found))


@pytest.mark.parametrize("penalty", [None, "real", "wgan_gp", "r1"])
@pytest.mark.parametrize("device", DEVICES)
def test_a_gan_step_with_every_device_constant_copies_nothing_from_the_host(
    hr_folder, tmp_path, device, penalty
):
    """Every loss but the perceptual one (its constants are buffers), each gradient penalty and input noise, DUNet
    and the OTF feed (pair pool, USM): the
    constants (MS-SSIM window and weights, HSLuv matrix, USM kernel, DUNet's sizes) are made once per device and the
    pool's shuffle goes up pinned: after the first iterations a step makes no waiting copy. On CUDA the
    driver's own sync check (set_sync_debug_mode "error") stands behind the spy."""
    from upres.data.degradations.pair_pool import PairPool
    from upres.data.degradations.sharpen import usm_sharpen

    opts = merge(
        base_options(hr_folder, tmp_path),
        {
            "network_d": {"type": "dunet", "num_feat": 8},
            "train": {
                "optim_d": {"type": "AdamW", "lr": 1e-3},
                "d_input_noise": 0.01,
                "gradient_penalty": {"kind": penalty} if penalty else None,
                "losses": [
                    {"type": "l1loss", "loss_weight": 1.0},
                    {"type": "mssimloss", "loss_weight": 0.1},
                    {"type": "hsluvloss", "loss_weight": 0.1},
                    {"type": "msssiml1loss", "loss_weight": 0.1},
                    {"type": "ldlloss", "loss_weight": 0.1},
                    {"type": "ffloss", "loss_weight": 0.1},
                    {"type": "translationalloss", "loss_weight": 0.1},
                    {"type": "charbonnierloss", "loss_weight": 0.1},
                    {"type": "ganloss", "gan_type": "ragan", "loss_weight": 0.1},
                ],
            },
        },
    )
    parsed = parse_options(opts)
    ctx = DistContext(device=torch.device(device))
    run = build_run(parsed, ctx.device, seed=0, world_size=1, check_data=False)
    step = TrainStep(run, parsed, ctx, run.g.net, run.d.net, None, torch.bfloat16)
    pool = PairPool(4, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.rand(2, 3, 16, 16, generator=g).to(device), torch.rand(2, 3, 32, 32, generator=g).to(device))
        for _ in range(6)
    ]

    def feed(it: int, micro: int):
        lq, gt = pool(*batches[it - 1])
        return lq, gt, usm_sharpen(gt, 0.5, 7, 10)

    for it in (1, 2, 3):  # the pool fills (2 batches), the constants are made
        step(it, feed)
    spy = HostCopies()
    sync_check = torch.cuda.set_sync_debug_mode if device == "cuda" else lambda mode: None
    sync_check("error")
    try:
        with spy, torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for it in (4, 5, 6):
                step(it, feed)
    finally:
        sync_check("default")
    assert spy.copies == [], f"host-to-device copies in a step: {sorted(set(spy.copies))}"
    assert _host_reads_in_backward(prof) == []
    assert all(torch.isfinite(v) for v in step.loss_sums.values())
    names = ("mssim", "hsluv", "msssim_l1", "ldl", "ff", "trans", "charbonnier", "gan")
    assert {f"l_g_{n}" for n in names} <= set(step.loss_sums)
