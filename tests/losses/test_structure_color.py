import pytest
import torch
from amp_helpers import assert_float32_under_autocast

from upres.errors import ConfigError
from upres.losses.color import HSLuvLoss, rgb_to_hsluv
from upres.losses.structure import MSSIMLoss, ms_ssim


def test_msssim_identical_is_one():
    x = torch.rand(1, 3, 32, 32)
    assert ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert MSSIMLoss()(x, x).item() == pytest.approx(0.0, abs=1e-6)


def test_msssim_falls_with_noise_and_has_gradient():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    small = x + 0.02 * torch.randn_like(x)
    large = (x + 0.2 * torch.randn_like(x)).requires_grad_(True)
    loss = MSSIMLoss()(large, x)
    assert MSSIMLoss()(small, x).item() < loss.item()
    loss.backward()
    assert torch.isfinite(large.grad).all()


def test_msssim_matches_pytorch_msssim():
    pm = pytest.importorskip("pytorch_msssim")
    torch.manual_seed(1)
    x = torch.rand(2, 3, 176, 176)
    y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    ref = pm.ms_ssim(x, y, data_range=1.0, size_average=True).item()
    assert ms_ssim(x, y, padding="valid").item() == pytest.approx(ref, abs=1e-5)


def test_msssim_too_small_is_a_clear_error():
    with pytest.raises(
        ConfigError, match=r"too small for 5-scale MS-SSIM .* larger datasets.train.lq_size or"
    ):
        MSSIMLoss(padding="valid")(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("win_size", 1, "must be an odd integer >= 3 (11 is usual), not 1"),
        ("win_size", 10, "must be an odd integer >= 3 (11 is usual), not 10"),
        ("win_size", 11.0, "must be an odd integer >= 3 (11 is usual), not 11.0"),
        ("sigma", 0, "must be a positive number, not 0"),
        ("data_range", 0.0, "must be a positive number, not 0.0"),
    ],
)
def test_msssim_window_options_that_give_no_ssim_are_refused(key, value, message):
    """win_size 1 made the loss 0 whatever the images (no variance in a 1-pixel window), 10 an off-centre window,
    sigma 0 NaN: each was trained on without a word."""
    from upres.losses import build_loss

    with pytest.raises(ConfigError) as exc:
        build_loss({"type": "mssimloss", key: value}, "train.losses[1]")
    assert str(exc.value) == f"train.losses[1].{key}: {message}"
    assert MSSIMLoss(win_size=7, sigma=1.0)(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)).item() > 0


# Reference values from the HSLuv project's snapshot (hsluv.org): hex -> (H, S, L).
HSLUV_REFERENCE = {
    (1.0, 0.0, 0.0): (12.177, 100.0, 53.237),
    (0.0, 1.0, 0.0): (127.715, 100.0, 87.736),
    (0.0, 0.0, 1.0): (265.874, 100.0, 32.301),
    (1.0, 1.0, 1.0): (0.0, 0.0, 100.0),
    (0.0, 0.0, 0.0): (0.0, 0.0, 0.0),
}


@pytest.mark.parametrize(("rgb", "hsl"), HSLUV_REFERENCE.items())
def test_hsluv_reference_colours(rgb, hsl):
    got = rgb_to_hsluv(torch.tensor(rgb).view(1, 3, 1, 1)).flatten().tolist()
    assert got[1] == pytest.approx(hsl[1], abs=1e-2)
    assert got[2] == pytest.approx(hsl[2], abs=1e-2)
    if hsl[1] > 0:
        assert got[0] == pytest.approx(hsl[0], abs=1e-2)


def test_hsluv_loss_zero_for_identical_finite_gradient_everywhere():
    x = torch.tensor([[1, 0, 0], [0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1.2, -0.1, 0.3]]).T.reshape(
        1, 3, 5, 1
    )
    assert HSLuvLoss()(x, x).item() == 0.0
    x = x.clone().requires_grad_(True)
    HSLuvLoss()(x, torch.rand(1, 3, 5, 1)).backward()
    assert torch.isfinite(x.grad).all()


def test_hsluv_hue_wraps_around():
    # two reds either side of hue 0: their hue distance is a few degrees, not ~340
    a = torch.tensor([1.0, 0.0, 0.5]).view(1, 3, 1, 1)  # pinkish red, hue ~355
    b = torch.tensor([1.0, 0.1, 0.0]).view(1, 3, 1, 1)  # orange-ish red, hue ~13
    ha, hb = rgb_to_hsluv(a)[0, 0].item(), rgb_to_hsluv(b)[0, 0].item()
    assert ha > 300 and hb < 30
    hue_only = HSLuvLoss(hue_weight=1, saturation_weight=0, lightness_weight=0)
    assert hue_only(a, b).item() == pytest.approx((360 - ha + hb) / 180, abs=1e-4)  # half a turn is 1


def test_hsluv_terms_are_traiNNer_redux_s():
    """upres weighted the hue by the target's saturation and left the saturation unweighted: traiNNer-redux's
    formula (its recommended weight 1.0 is set for it) has no criterion on the hue, special cases for grey, black and
    white, and weights the saturation by the distance of each pixel's lightness from black or white."""
    hue_only = HSLuvLoss(hue_weight=1, saturation_weight=0, lightness_weight=0)
    sat_only = HSLuvLoss(hue_weight=0, saturation_weight=1, lightness_weight=0)

    def px(*rgb):
        return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1)

    grey, other_grey, red = px(0.5, 0.5, 0.5), px(0.3, 0.3, 0.3), px(0.8, 0.2, 0.2)
    assert hue_only(grey, other_grey).item() == 0.0  # no hue between two greys
    red_sat = rgb_to_hsluv(red)[0, 1].item() / 100
    assert hue_only(grey, red).item() == pytest.approx(
        red_sat, abs=1e-5
    )  # grey against a colour: its saturation
    assert hue_only(px(0.02, 0.0, 0.0), px(0.0, 0.0, 0.02)).item() == 0.0  # both all but black
    # Saturation: |S_a - S_b| x (min(L_a, 1 - L_a) + min(L_b, 1 - L_b)).
    a, b = px(0.8, 0.2, 0.2), px(0.7, 0.3, 0.3)
    ha, hb = rgb_to_hsluv(a)[0] / 100, rgb_to_hsluv(b)[0] / 100
    weight = min(ha[2].item(), 1 - ha[2].item()) + min(hb[2].item(), 1 - hb[2].item())
    assert sat_only(a, b).item() == pytest.approx(abs(ha[1] - hb[1]).item() * weight, rel=1e-5)


def test_hsluv_redux_weights_are_a_weighted_sum_and_default_to_the_mean():
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    h, s, light = (
        HSLuvLoss(hue_weight=w[0], saturation_weight=w[1], lightness_weight=w[2])(a, b)
        for w in ((1, 0, 0), (0, 1, 0), (0, 0, 1))
    )
    assert HSLuvLoss(hue_weight=0.5, saturation_weight=2, lightness_weight=0.25)(
        a, b
    ).item() == pytest.approx((0.5 * h + 2 * s + 0.25 * light).item(), rel=1e-6)
    assert HSLuvLoss()(a, b).item() == pytest.approx(((h + s + light) / 3).item(), rel=1e-6)


def test_hsluv_blur_strength_and_downscale_factor_prepare_both_images():
    tvf = pytest.importorskip("torchvision.transforms.functional")
    import torch.nn.functional as F

    from upres.losses.color import gaussian_blur

    torch.manual_seed(0)
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(gaussian_blur(x, 2), tvf.gaussian_blur(x, [9, 9], [2.0, 2.0]))
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)

    def down(t):
        return F.interpolate(t, scale_factor=0.5, mode="bicubic", antialias=True).clamp(0, 1)

    got = HSLuvLoss(downscale_factor=2, blur_strength=1)(a, b)
    want = HSLuvLoss()(down(gaussian_blur(a, 1)), down(gaussian_blur(b, 1)))
    torch.testing.assert_close(got, want)


def test_mssim_redux_defaults_compare_yiq_luma_without_the_luminance_term():
    from upres.losses.structure import luma

    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    want = 1 - ms_ssim(luma(a, "yiq"), luma(b, "yiq"), padding="redux", include_luminance=False)
    torch.testing.assert_close(MSSIMLoss()(a, b), want)
    rgb = 1 - ms_ssim(a, b, padding="redux", include_luminance=True)
    torch.testing.assert_close(MSSIMLoss(test_y_channel=False, include_luminance=True)(a, b), rgb)
    y = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    assert luma(y, "yiq").item() == pytest.approx(0.299 * 0.2 + 0.587 * 0.5 + 0.114 * 0.9)
    assert luma(y, "ycbcr").item() == pytest.approx((65.481 * 0.2 + 128.553 * 0.5 + 24.966 * 0.9 + 16) / 255)


def test_mssim_default_is_redux_s_which_is_the_reference_where_the_window_fits_every_scale():
    """traiNNer-redux filters 'valid' where the window fits and pads the smaller scales with zeros: at 256 px on
    luma every scale fits, so it is the reference definition (padding valid) there, and it runs on small patches
    (upres's default was edge-replicating 'same', 0.84x redux's gradient at 256 px)."""
    torch.manual_seed(3)
    gt = torch.rand(2, 3, 256, 256)
    sr = (gt + 0.05 * torch.randn_like(gt)).clamp(0, 1)
    torch.testing.assert_close(MSSIMLoss()(sr, gt), MSSIMLoss(padding="valid")(sr, gt))
    assert MSSIMLoss()(sr, gt).item() != pytest.approx(MSSIMLoss(padding="same")(sr, gt).item(), rel=1e-3)
    small = gt[..., :32, :32]
    assert 0 < MSSIMLoss()(sr[..., :32, :32], small).item() < 1  # 32 px: 'valid' alone needs > 160


def test_mssim_without_luminance_ignores_a_brightness_shift():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 48, 48) * 0.5
    brighter = x + 0.3
    # Edge-replicating padding: redux's zeros around the small scales make a border that a shift does change.
    assert MSSIMLoss(include_luminance=False, padding="same")(brighter, x).item() == pytest.approx(
        0.0, abs=1e-5
    )
    assert MSSIMLoss(include_luminance=True, padding="same")(brighter, x).item() > 1e-3


@pytest.mark.parametrize("name", ["mssimloss", "msssiml1loss", "hsluvloss"])
def test_amp_leaves_the_losses_that_need_float32_in_float32(name):
    """Under autocast, SSIM's convolutions ran in bf16 and its variances cancelled: 1 - MS-SSIM came out 21x too
    large (0.257 for 0.012), and below 0 in training. The value and gradient under AMP are now the float32 ones.
    (CPU bf16 autocast here; CUDA's fp16/bf16 autocast is switched off the same way.)"""
    from upres.losses import build_loss

    loss = build_loss({"type": name, "loss_weight": 1.0})
    torch.manual_seed(0)
    gt = torch.rand(2, 3, 32, 32)
    start = (gt + 0.05 * torch.randn_like(gt)).clamp(0, 1)
    assert_float32_under_autocast(loss, start, gt)
