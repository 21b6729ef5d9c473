import copy

import pytest
import torch
from torch import nn

from upres.losses import build_losses
from upres.losses.gan import GANLoss
from upres.losses.regularizers import PenaltyOptions
from upres.train.gan_step import (
    d_forward,
    discriminator_step,
    gan_schedule,
    generator_adversarial_loss,
    generator_backward,
    generator_loss_terms,
)


class TinyG(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, 1, 1)

    def forward(self, x):
        return nn.functional.pixel_shuffle(self.conv(x), 2)


class TinyD(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 4, 2, 1), nn.GroupNorm(8, 8), nn.LeakyReLU(0.2, True), nn.Conv2d(8, 1, 3, 1, 1)
        )

    def forward(self, x):
        return self.body(x)


def _basicsr_style_iteration(g, d, opt_g, opt_d, lq, gt, gan: GANLoss, pix_w: float, gan_w: float):
    """ESRGANModel.optimize_parameters (BasicSR 1.4.2), written out: D frozen for the G step, five D passes."""
    for p in d.parameters():
        p.requires_grad = False
    opt_g.zero_grad()
    out = g(lq)
    real_d = d(gt).detach()
    fake_g = d(out)
    if gan.relativistic:
        l_gan = (gan(real_d - fake_g.mean(), False) + gan(fake_g - real_d.mean(), True)) / 2
    else:
        l_gan = gan(fake_g, True)
    (pix_w * nn.functional.l1_loss(out, gt) + gan_w * l_gan).backward()
    opt_g.step()
    for p in d.parameters():
        p.requires_grad = True
    opt_d.zero_grad()
    if gan.relativistic:
        fake_d = d(out).detach()
        real_d = d(gt)
        (gan(real_d - fake_d.mean(), True, is_disc=True) * 0.5).backward()
        fake_d = d(out.detach())
        (gan(fake_d - real_d.detach().mean(), False, is_disc=True) * 0.5).backward()
    else:
        gan(d(gt), True, is_disc=True).backward()
        gan(d(out.detach()), False, is_disc=True).backward()
    opt_d.step()


@pytest.mark.parametrize("gan_type", ["ragan", "vanilla", "hinge"])
def test_shared_d_passes_give_basicsr_updates(gan_type):
    torch.manual_seed(0)
    g, d = TinyG(), TinyD()
    g2, d2 = copy.deepcopy(g), copy.deepcopy(d)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-2), torch.optim.Adam(d.parameters(), 1e-2)
    opt_g2, opt_d2 = torch.optim.Adam(g2.parameters(), 1e-2), torch.optim.Adam(d2.parameters(), 1e-2)
    gan = GANLoss(gan_type)
    for _ in range(2):
        lq, gt = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
        sr = g(lq)
        outs = d_forward(d, sr, gt)
        loss = 0.01 * nn.functional.l1_loss(sr, gt) + 0.005 * generator_adversarial_loss(gan, outs)
        opt_g.zero_grad()
        generator_backward(loss, g)
        opt_g.step()  # G changes in place while D's graph is still held: must not matter
        discriminator_step(d, opt_d, gan, outs)
        _basicsr_style_iteration(g2, d2, opt_g2, opt_d2, lq, gt, gan, 0.01, 0.005)
    for a, b in zip([*g.parameters(), *d.parameters()], [*g2.parameters(), *d2.parameters()], strict=True):
        assert torch.allclose(a, b, atol=1e-6)


class RecordingD(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Conv2d(3, 1, 1)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.lin(x)


def test_input_noise_on_both_branches_and_shared():
    torch.manual_seed(0)
    d = RecordingD()
    sr, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    outs = d_forward(d, sr, gt, noise=1 / 255)
    real_seen, fake_seen = d.seen
    for seen, clean in ((real_seen, gt), (fake_seen, sr)):
        delta = seen - clean
        assert (delta >= 0).all() and (delta < 1 / 255).all() and delta.std() > 0
    # the D step reuses those exact noisy passes: no extra forward
    discriminator_step(d, torch.optim.SGD(d.parameters(), 0.1), GANLoss("vanilla"), outs)
    assert len(d.seen) == 2
    d.seen.clear()
    d_forward(d, sr, gt)
    assert torch.equal(d.seen[0], gt) and torch.equal(d.seen[1], sr)


class LinearD(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.w = nn.Parameter(torch.randn(3, 8, 8) * 0.2)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("kind", ["real", "wgan_gp", "r1"])
def test_penalty_in_d_step_matches_closed_form(kind):
    d = LinearD()
    sr, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    norm = d.w.detach().norm()
    expected = 0.5 * norm**2 if kind == "r1" else (norm - 1) ** 2
    opt = torch.optim.SGD(d.parameters(), lr=0.0)
    pen = PenaltyOptions(kind=kind, weight=10.0)
    logs = discriminator_step(d, opt, GANLoss("wgan"), sr=sr, gt=gt, penalty=pen)
    assert logs["l_d_gp"].item() == pytest.approx(expected.item(), rel=1e-5)
    # D's gradient = WGAN part (mean fake - mean real inputs) + 10 x the penalty's closed-form gradient
    wgan_grad = sr.mean(0) - gt.mean(0)
    pen_grad = d.w.detach() if kind == "r1" else 2 * (norm - 1) * d.w.detach() / norm
    assert torch.allclose(d.w.grad, wgan_grad + 10.0 * pen_grad, atol=1e-5)


def test_logs_are_tensors_without_host_sync():
    d = TinyD()
    logs = discriminator_step(
        d,
        torch.optim.SGD(d.parameters(), 0.1),
        GANLoss("ragan"),
        sr=torch.rand(2, 3, 16, 16),
        gt=torch.rand(2, 3, 16, 16),
    )
    assert set(logs) == {"l_d_real", "l_d_fake", "out_d_real", "out_d_fake"}
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad for v in logs.values())


def test_gan_schedule():
    # before the GAN starts: G only
    assert gan_schedule(5, gan_start_iter=10) == (True, False)
    # D warm-up of 3 iterations from the start, then G every 2nd iteration
    got = [gan_schedule(i, 10, net_d_iters=2, net_d_init_iters=3) for i in range(10, 18)]
    assert got == [(False, True)] * 3 + [
        (False, True),
        (True, True),
        (False, True),
        (True, True),
        (False, True),
    ]
    # A GAN on from the start first trains at iteration 1 (iterations count from 1): net_d_init_iters 1 is one
    # D-only iteration, as in BasicSR (`current_iter > net_d_init_iters`), not none.
    assert [gan_schedule(i, 0, net_d_init_iters=1)[0] for i in range(1, 4)] == [False, True, True]
    assert [gan_schedule(i, 0, net_d_init_iters=3)[0] for i in range(1, 6)] == [
        False,
        False,
        False,
        True,
        True,
    ]
    assert gan_schedule(1, 0) == (True, True)


def test_generator_loss_terms_weights_and_start_iter():
    entries, _ = build_losses(
        [
            {"type": "l1loss", "loss_weight": 0.5},
            {"type": "mseloss", "loss_weight": 2.0, "start_iter": 10},
            {"type": "ganloss", "gan_type": "vanilla", "loss_weight": 0.1},
        ]
    )
    sr, gt = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    early = generator_loss_terms(entries, 5, sr, gt)
    assert set(early) == {"l_g_l1", "l_g_total"}  # mse not started, GAN without D outputs
    assert early["l_g_l1"].item() == pytest.approx(0.5 * nn.functional.l1_loss(sr, gt).item())
    d = TinyD()
    outs = d_forward(d, sr, gt)
    late = generator_loss_terms(entries, 10, sr, gt, d_outs=outs)
    expected_gan = 0.1 * GANLoss("vanilla")(outs.fake, True).item()
    assert late["l_g_gan"].item() == pytest.approx(expected_gan, rel=1e-6)
    total = late["l_g_l1"] + late["l_g_mse"] + late["l_g_gan"]
    assert late["l_g_total"].item() == pytest.approx(total.item(), rel=1e-6)


@pytest.mark.parametrize("kind", ["real", "wgan_gp", "r1"])
def test_every_loss_and_penalty_under_bf16_autocast(kind):
    from upres.archs.discriminators import build_discriminator
    from upres.train.gan_step import gan_entry

    torch.manual_seed(0)

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    g, d = TinyG(), build_discriminator("dunet", num_feat=8)
    entries, _ = build_losses(
        [
            {"type": "l1loss"},
            {"type": "mssimloss"},
            {"type": "hsluvloss"},
            {"type": "ffloss"},
            {"type": "ldlloss"},
            {"type": "translationalloss", "border": 1},
            {"type": "ganloss", "gan_type": "ragan", "loss_weight": 0.1},
        ]
    )
    opt_g, opt_d = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    lq, gt = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
    pen = PenaltyOptions(kind=kind)
    with autocast():
        sr = g(lq)
        outs = d_forward(d, sr, gt, noise=1 / 255, penalty=pen)
        terms = generator_loss_terms(
            entries, 1, sr, gt, lq=lq, net_g=g, sr_ema=sr.detach() * 0.9, d_outs=outs
        )
    generator_backward(terms["l_g_total"], g)
    opt_g.step()
    logs = discriminator_step(d, opt_d, gan_entry(entries).module, outs, penalty=pen, autocast=autocast)
    assert set(terms) == {f"l_g_{n}" for n in ("l1", "mssim", "hsluv", "ff", "ldl", "trans", "gan", "total")}
    assert "l_d_gp" in logs
    assert all(torch.isfinite(v) for v in [*terms.values(), *logs.values()])
    assert all(torch.isfinite(p).all() for p in [*g.parameters(), *d.parameters()])
