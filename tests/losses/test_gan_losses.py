"""Each GAN type against values computed by hand (math module, not torch) on fixed logits."""

import math

import pytest
import torch

from upres.errors import ConfigError
from upres.losses.gan import GANLoss

X = [-1.0, 0.5, 2.0, 0.0]
LOGITS = torch.tensor(X).view(1, 1, 2, 2)  # a patch-D logit map


def sp(v: float) -> float:  # softplus
    return math.log1p(math.exp(v))


def mean(vals):
    vals = list(vals)
    return sum(vals) / len(vals)


def sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


@pytest.mark.parametrize("is_disc", [True, False])
def test_vanilla(is_disc):
    g = GANLoss("vanilla")
    assert g(LOGITS, True, is_disc).item() == pytest.approx(mean(sp(-v) for v in X), rel=1e-6)
    assert g(LOGITS, False, is_disc).item() == pytest.approx(mean(sp(v) for v in X), rel=1e-6)


def test_vanilla_label_smoothing():
    g = GANLoss("vanilla", real_label_val=0.9, fake_label_val=0.1)
    exp_real = mean(-(0.9 * math.log(sig(v)) + 0.1 * math.log(1 - sig(v))) for v in X)
    exp_fake = mean(-(0.1 * math.log(sig(v)) + 0.9 * math.log(1 - sig(v))) for v in X)
    assert g(LOGITS, True).item() == pytest.approx(exp_real, rel=1e-6)
    assert g(LOGITS, False).item() == pytest.approx(exp_fake, rel=1e-6)


def test_lsgan():
    g = GANLoss("lsgan")
    assert g(LOGITS, True).item() == pytest.approx(mean((v - 1) ** 2 for v in X))
    assert g(LOGITS, False).item() == pytest.approx(mean(v**2 for v in X))


def test_hinge_disc_and_gen():
    g = GANLoss("hinge")
    assert g(LOGITS, True, is_disc=True).item() == pytest.approx(mean(max(0, 1 - v) for v in X))
    assert g(LOGITS, False, is_disc=True).item() == pytest.approx(mean(max(0, 1 + v) for v in X))
    assert g(LOGITS, True, is_disc=False).item() == pytest.approx(-mean(X))


def test_wgan_and_softplus():
    w = GANLoss("wgan")
    assert w(LOGITS, True).item() == pytest.approx(-mean(X))
    assert w(LOGITS, False).item() == pytest.approx(mean(X))
    s = GANLoss("wgan_softplus")
    assert s(LOGITS, True).item() == pytest.approx(mean(sp(-v) for v in X), rel=1e-6)
    assert s(LOGITS, False).item() == pytest.approx(mean(sp(v) for v in X), rel=1e-6)


REAL = [1.0, 2.0, -0.5]
FAKE = [0.0, -1.0, 0.25]


def test_ragan_generator_hand_value():
    g = GANLoss("ragan")
    mr, mf = mean(REAL), mean(FAKE)
    # ESRGAN eq. 2: -E[log(1 - D_Ra(xr, xf))] - E[log D_Ra(xf, xr)], halved as BasicSR does
    expected = (mean(sp(r - mf) for r in REAL) + mean(sp(-(f - mr)) for f in FAKE)) / 2
    got = g.ragan_g(torch.tensor(REAL), torch.tensor(FAKE))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_ragan_discriminator_hand_value_and_detached_means():
    g = GANLoss("ragan")
    mr, mf = mean(REAL), mean(FAKE)
    real = torch.tensor(REAL, requires_grad=True)
    fake = torch.tensor(FAKE, requires_grad=True)
    l_real, l_fake = g.ragan_d(real, fake)
    assert l_real.item() == pytest.approx(mean(sp(-(r - mf)) for r in REAL) / 2, rel=1e-6)
    assert l_fake.item() == pytest.approx(mean(sp(f - mr) for f in FAKE) / 2, rel=1e-6)
    # each term's gradient flows only through its own branch (the other side's mean is detached)
    l_real.backward()
    assert fake.grad is None and real.grad is not None


def test_list_of_maps_is_averaged():
    g = GANLoss("lsgan")
    a, b = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 2, 2), 3.0)
    assert g([a, b], True).item() == pytest.approx((1.0 + 4.0) / 2)


def test_unknown_type():
    with pytest.raises(ConfigError, match="unknown gan_type 'rgan'"):
        GANLoss("rgan")


@pytest.mark.parametrize(
    ("gan_type", "labels", "message"),
    [
        (
            "vanilla",
            {"real_label_val": 2.0},
            r"ganloss.real_label_val: vanilla is binary cross-entropy, .* got 2.0",
        ),
        (
            "ragan",
            {"fake_label_val": -0.1},
            r"ganloss.fake_label_val: ragan is binary cross-entropy, .* got -0.1",
        ),
        (
            "lsgan",
            {"real_label_val": float("nan")},
            r"ganloss.real_label_val: must be a finite number, got nan",
        ),
    ],
)
def test_labels_the_loss_cannot_use_are_config_errors(gan_type, labels, message):
    """BCE accepts a target of 2 without complaint, but its loss then falls without end as the logit grows."""
    logits = torch.tensor([1.0, 10.0, 100.0])
    unbounded = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.full_like(logits, 2.0), reduction="none"
    )
    assert unbounded[2] < unbounded[1] < unbounded[0] and unbounded[2] < -90
    with pytest.raises(ConfigError, match=message):
        GANLoss(gan_type, **labels)


def test_label_smoothing_and_lsgan_targets_stay_accepted():
    assert GANLoss("vanilla", real_label_val=0.9).real_label_val == 0.9
    assert GANLoss("lsgan", real_label_val=1.0, fake_label_val=-1.0).fake_label_val == -1.0
