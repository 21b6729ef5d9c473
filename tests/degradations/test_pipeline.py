from __future__ import annotations

import numpy as np
import pytest
import torch

from upres.data.degradations import DegradationOptions, PairPool, degrade, make_generators
from upres.errors import ConfigError


@pytest.fixture
def photo(photo: torch.Tensor) -> torch.Tensor:
    return photo[
        :, 32:96, 32:96
    ].contiguous()  # 64x64 keeps the suite fast; small images also test edge cases


def lr(gt: torch.Tensor, seed, opts: DegradationOptions | None = None, scale: int = 4) -> torch.Tensor:
    rng, gen = make_generators(seed)
    return degrade(gt, opts or DegradationOptions(), scale, rng, gen)


def test_same_seed_same_lr_different_seed_different_lr(photo):
    a, b, c = lr(photo, 5), lr(photo, 5), lr(photo, 6)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_lr_size_and_8bit_values(photo, scale):
    for seed in range(4):
        out = lr(photo[:, :63, :61], seed, scale=scale)
        assert tuple(out.shape) == (3, 63 // scale, 61 // scale)
        assert torch.equal(out, (out * 255).round() / 255)
        assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_every_step_on_is_deterministic_and_degrades(photo):
    pytest.importorskip("av")  # video_prob > 0 is refused without it
    opts = DegradationOptions(video_prob=1.0, dither_prob=1.0, sinc_prob=0.5, resize_mode_list=["lanczos", "nearest"],
                              resize_mode_prob=[0.5, 0.5], jpeg_subsampling_list=["4:4:4", "4:2:2"],
                              jpeg_subsampling_prob=[0.5, 0.5])  # fmt: skip
    a, b = lr(photo, (1, 2, 3), opts), lr(photo, (1, 2, 3), opts)
    assert torch.equal(a, b)
    bicubic = torch.nn.functional.interpolate(photo[None], scale_factor=0.25, mode="area")[0]
    assert float((a - bicubic).abs().mean()) > 0.01


def test_identity_options_give_plain_resize(photo):
    off = DegradationOptions(blur_prob=0, blur_prob2=0, noise_prob=0, noise_prob2=0, jpeg_prob=0, jpeg_prob2=0,
                             final_sinc_prob=0, resize_prob=[0, 0, 1], resize_prob2=[0, 0, 1], gt_usm=False,
                             resize_mode_list3=["area"], resize_mode_prob3=[1.0])  # fmt: skip
    # "keep" in both passes leaves the GT size (traiNNer-redux skips the second resize at factor 1; Real-ESRGAN's
    # original resized to the LR size there): the final resize alone takes it to the LR size.
    out = lr(photo, 0, off)
    expected = torch.nn.functional.interpolate(photo[None], size=(16, 16), mode="area")[0]
    assert torch.equal(out, (expected * 255).round().clamp(0, 255) / 255)


def test_lq_usm_sharpens_the_degraded_copy_with_a_drawn_kernel_size(photo):
    from upres.data.degradations.sharpen import usm_sharpen

    off = DegradationOptions(blur_prob=0, blur_prob2=0, noise_prob=0, noise_prob2=0, jpeg_prob=0, jpeg_prob2=0,
                             final_sinc_prob=0, resize_prob=[0, 0, 1], resize_prob2=[0, 0, 1], gt_usm=False,
                             resize_mode_list2=["area"], resize_mode_prob2=[1.0])  # fmt: skip
    # lq_usm replaces gt_usm's sharpening of the degraded copy (gt_usm stays on for the loss targets).
    on = off.model_copy(update={"lq_usm": True, "lq_usm_radius_range": (3, 21), "gt_usm": True})
    radii = set()
    for seed in range(5):
        radius = int(make_generators(seed)[0].integers(3, 21, endpoint=True))  # the pipeline's first draw
        radii.add(radius)
        expected = lr(usm_sharpen(photo, radius=radius), seed, off)
        assert torch.equal(lr(photo, seed, on), expected)
        assert not torch.equal(expected, lr(photo, seed, off))
    assert len(radii) > 1
    with pytest.raises(ValueError, match=r"lq_usm_radius_range: range \[9, 3\] is backwards"):
        DegradationOptions(lq_usm_radius_range=(9, 3))


def test_batch_draws_per_sample_and_is_reproducible(photo):
    batch = torch.stack([photo, photo, photo.flip(-1)])
    a, b = lr(batch, 11), lr(batch, 11)
    assert torch.equal(a, b) and a.shape == (3, 3, 16, 16)
    assert not torch.equal(a[0], a[1])  # same input, own kernels and noise


def test_noise_statistics_of_pipeline_noise_only():
    # Pipeline with only first-pass Gaussian noise at sigma 10 on a flat image, scale 1.
    opts = DegradationOptions(blur_prob=0, blur_prob2=0, noise_prob2=0, jpeg_prob=0, jpeg_prob2=0, final_sinc_prob=0,
                              resize_prob=[0, 0, 1], resize_prob2=[0, 0, 1], gt_usm=False, gaussian_noise_prob=1,
                              noise_range=(10, 10), gray_noise_prob=0)  # fmt: skip
    flat = torch.full((3, 128, 128), 0.5)
    out = lr(flat, 0, opts, scale=1)
    assert float((out - flat).std()) * 255 == pytest.approx(10.0, rel=0.05)


def test_pair_pool_mixes_batches_and_keeps_pairs_together():
    pool = PairPool(6, torch.Generator().manual_seed(0))
    seen = []
    for step in range(6):
        lq = torch.full((2, 1, 2, 2), float(step))
        gt = torch.full((2, 1, 8, 8), float(step))
        out_lq, out_gt = pool(lq, gt)
        assert torch.equal(out_lq[:, :, 0, 0], out_gt[:, :, 0, 0])  # pairs stay aligned
        seen.append(out_lq[:, 0, 0, 0].tolist())
    assert seen[:3] == [[0, 0], [1, 1], [2, 2]]  # filling: returned unchanged
    assert any(len(set(s)) > 1 or s[0] != i for i, s in enumerate(seen[3:], 3))


def test_pair_pool_needs_a_multiple_of_the_batch():
    with pytest.raises(ConfigError, match="queue_size: 10 is not a multiple of the batch size 4"):
        PairPool(10)(torch.zeros(4, 3, 2, 2), torch.zeros(4, 3, 8, 8))


def test_generators_from_seed_sequence_are_independent_of_order():
    r1, g1 = make_generators((3, 0, 7))
    r2, g2 = make_generators((3, 0, 7))
    assert r1.integers(1 << 30) == r2.integers(1 << 30)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    assert np.random.default_rng((3, 0, 8)).integers(1 << 30) != np.random.default_rng((3, 0, 7)).integers(
        1 << 30
    )


@pytest.mark.parametrize("make", ["true_division", "reciprocal_multiplication", "not_levels"])
def test_pair_pool_state_restores_every_bit_however_the_levels_were_computed(make):
    """CUDA divides by a scalar as a multiplication by the reciprocal (one ulp off IEEE division for some levels);
    the CPU divides. Whichever made the pool's values, the saved state restores them bit for bit; 8-bit levels made
    by true division (the CPU loader's) are stored as uint8."""
    q = torch.arange(256, dtype=torch.float32).repeat(2, 3, 1, 1)  # every level, 2 pairs
    lq = {
        "true_division": q / 255,
        "reciprocal_multiplication": q * torch.tensor(1 / 255, dtype=torch.float32),
        "not_levels": torch.rand(2, 3, 1, 256),
    }[make]
    assert make != "reciprocal_multiplication" or not torch.equal(lq, q / 255)  # the case is real
    pool = PairPool(2, torch.Generator().manual_seed(0))
    pool(lq, lq.repeat(1, 1, 2, 2))
    state = pool.state_dict()
    restored = PairPool(2, torch.Generator().manual_seed(1))
    restored.load_state_dict(state)
    assert torch.equal(restored.lq[:2], lq) and torch.equal(restored.gt[:2], lq.repeat(1, 1, 2, 2))
    assert (state["lq"].dtype == torch.uint8) == (make == "true_division")


def test_resizes_are_traiNNer_redux_s_antialiased_and_clamped():
    """traiNNer-redux antialiases bilinear/bicubic and clamps every resize; without antialiasing a stripe pattern of
    2.5 px survived a bicubic halving as strong aliasing (std 0.18 where redux gives 0.014)."""
    from upres.data.degradations.resize import resize

    x = torch.arange(100, dtype=torch.float32)
    stripes = ((torch.sin(2 * torch.pi * x / 2.5) + 1) / 2).expand(1, 3, 100, 100).contiguous()
    for mode in ("bilinear", "bicubic"):
        got = resize(stripes, (50, 50), mode)
        want = torch.nn.functional.interpolate(stripes, size=(50, 50), mode=mode, antialias=True).clamp(0, 1)
        assert torch.equal(got, want), mode
        assert float(got.std()) < 0.05
    assert float(resize(stripes, (230, 230), "bicubic").min()) >= 0  # bicubic overshoot clamped


def test_a_second_pass_keep_leaves_the_image_for_the_final_resize(photo):
    """On 'keep', traiNNer-redux does not resize in the second pass: noise 2 lands on the larger image and the final
    resize (resize_mode_list3) shrinks it with the rest; upres resized straight to the LR size there."""
    flat = torch.full((3, 64, 64), 0.5)
    noisy = DegradationOptions(blur_prob=0, blur_prob2=0, noise_prob=0, jpeg_prob=0, jpeg_prob2=0, final_sinc_prob=0,
                               resize_prob=[0, 0, 1], resize_prob2=[0, 0, 1], gt_usm=False, noise_prob2=1,
                               gaussian_noise_prob2=1, noise_range2=(10, 10), gray_noise_prob2=0,
                               resize_mode_list3=["area"], resize_mode_prob3=[1.0])  # fmt: skip
    out = lr(flat, 0, noisy)
    # Noise of sigma 10 at 64 px, then a 4x4 area average: about 10 / 4 left (it was 10 at the LR size).
    assert float((out - 0.5).std()) * 255 == pytest.approx(2.5, rel=0.2)


def test_the_lr_levels_are_divided_on_their_device():
    """The LR's levels are the floats 8-bit files give (k / 255 divided on the CPU) on every device: CUDA takes a
    Python divisor as a product with its reciprocal, one ulp off for about half of the levels, which also made a
    GPU-made pair pool store float32 instead of uint8 on resume."""
    from host_waits import HostDivisors
    from upres.data.degradations.jpeg import from_uint8
    from upres.data.degradations.pipeline import round_to_8_bits

    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with HostDivisors() as spy:
        lq = round_to_8_bits(x)
        # Pillow's JPEG comes back through the same division (a GPU batch's round trip)
        back = from_uint8(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), x)
    assert spy.found == []
    assert torch.equal(back.flatten(), torch.arange(256.0).div(255))
    assert torch.equal(lq, torch.arange(256.0).div(255)[(x * 255).round().long()])
