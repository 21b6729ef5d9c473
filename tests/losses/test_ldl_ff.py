import pytest
import torch
import torch.nn.functional as F

from upres.losses.frequency import FocalFrequencyLoss
from upres.losses.ldl import LDLLoss, artifact_map, local_variance


def test_local_variance_matches_unfold():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 12, 12)
    xp = F.pad(x, (3, 3, 3, 3), mode="reflect")
    windows = xp.unfold(2, 7, 1).unfold(3, 7, 1)
    ref = windows.reshape(*windows.shape[:4], -1).var(dim=-1, unbiased=True)
    assert torch.allclose(local_variance(x, 7), ref, atol=1e-6)


def test_artifact_map_zero_where_ema_is_worse():
    torch.manual_seed(1)
    gt = torch.rand(1, 3, 16, 16)
    sr = gt + 0.1 * torch.randn_like(gt)
    ema_worse = sr + 0.05 * torch.sign(sr - gt)  # further from gt than sr at every pixel
    assert artifact_map(sr, ema_worse, gt).abs().sum() == 0
    mixed = torch.where(torch.arange(16).view(1, 1, 1, 16) < 8, ema_worse, gt)  # worse on the left half only
    w = artifact_map(sr, mixed, gt)
    assert w[..., :8].abs().sum() == 0 and w[..., 8:].sum() > 0
    ema_better = gt.clone()
    w = artifact_map(sr, ema_better, gt)
    assert (w >= 0).all() and w.sum() > 0


def _reference_artifact_map(gt, sr, ema, ksize=7):
    """The paper's map as BasicSR writes it (unfolded windows), with the gradient flowing through it."""
    residual_ema = (gt - ema).abs().sum(1, keepdim=True)
    residual = (gt - sr).abs().sum(1, keepdim=True)
    patch = residual.var(dim=(-1, -2, -3), keepdim=True) ** (1 / 5)
    pad = (ksize - 1) // 2
    windows = F.pad(residual, [pad] * 4, mode="reflect").unfold(2, ksize, 1).unfold(3, ksize, 1)
    pixel = windows.var(dim=(-1, -2), unbiased=True)
    return torch.where(residual < residual_ema, 0.0, patch * pixel)


def test_ldl_loss_and_its_gradient_match_the_papers_code():
    """The map carried no gradient here (detached), where the paper's code and traiNNer-redux let it flow: the same
    loss, but a gradient of 0.18x the size at a cosine of 0.41 to theirs."""
    gt = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    assert LDLLoss()(gt.clone(), gt, gt.clone()).item() == 0.0
    ema = gt + 0.05 * torch.randn_like(gt)
    start = gt + 0.1 * torch.randn_like(gt)
    ours, theirs = start.clone().requires_grad_(True), start.clone().requires_grad_(True)
    loss = LDLLoss()(ours, gt, ema)
    w = _reference_artifact_map(gt, theirs, ema)
    reference = (w * theirs - w * gt).abs().mean()
    loss.backward()
    reference.backward()
    assert loss.item() == pytest.approx(reference.item(), rel=1e-9)
    assert torch.allclose(ours.grad, theirs.grad, rtol=1e-7, atol=1e-12)
    # An output equal to the target has a finite gradient (var ** 0.2 has an infinite slope at 0).
    exact = gt.clone().requires_grad_(True)
    LDLLoss()(exact, gt, ema).backward()
    assert torch.isfinite(exact.grad).all()


def test_ffl_alpha0_is_mse_by_parseval():
    torch.manual_seed(2)
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    ffl = FocalFrequencyLoss(alpha=0.0, ave_spectrum=False)
    # x50: traiNNer-redux's scale (focal_frequency_loss.py), which its recommended weight (0.2) is set for.
    assert ffl(x, y).item() == pytest.approx(50 * F.mse_loss(x, y).item(), rel=1e-5)


def test_ffl_ave_spectrum_default_compares_batch_means():
    # traiNNer-redux's default: spectra averaged over the batch, which by linearity of the FFT is the spectrum of
    # the batch-mean image, so with alpha 0 (no focal weights) the loss is the MSE of the batch means.
    torch.manual_seed(5)
    x, y = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16)
    assert FocalFrequencyLoss(alpha=0.0)(x, y).item() == pytest.approx(
        50 * F.mse_loss(x.mean(0), y.mean(0)).item(), rel=1e-5
    )


def test_ffl_zero_for_identical_and_patches():
    x = torch.rand(1, 3, 16, 16)
    assert FocalFrequencyLoss()(x, x).item() == 0.0
    y = torch.rand(1, 3, 16, 16)
    assert FocalFrequencyLoss(alpha=0.0, patch_factor=2)(x, y).item() == pytest.approx(
        50 * F.mse_loss(x, y).item(), rel=1e-5
    )


@pytest.mark.parametrize("ksize", [6, 1, 0, 7.5, True])
def test_ldl_window_must_be_odd_and_at_least_3(ksize):
    """An even ksize crashed with a shape error at the loss's first step (its start_iter may be hours in), 1 with a
    division by zero: both are option errors, said when the loss is built."""
    from upres.errors import ConfigError
    from upres.losses import build_loss

    with pytest.raises(ConfigError) as exc:
        build_loss({"type": "ldlloss", "ksize": ksize}, "train.losses[2]")
    assert str(exc.value) == (
        f"train.losses[2] (ldlloss): ksize must be an odd integer >= 3 (the paper's is 7), not {ksize!r}"
    )
    assert build_loss({"type": "ldlloss", "ksize": 5}).ksize == 5
