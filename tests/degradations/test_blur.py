from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from upres.data.degradations.blur import (
    filter2d,
    gaussian_kernel,
    generalized_gaussian_kernel,
    plateau_kernel,
    random_blur_kernel,
    sinc_kernel,
)


def high_freq_energy(x: torch.Tensor) -> float:
    return float(
        (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "args"),
    [
        (lambda: gaussian_kernel(21, 2.0), "bivariate_Gaussian", (21, 2.0, 2.0, 0.0, None, True)),
        (lambda: gaussian_kernel(15, 3.0, 0.7, 0.6), "bivariate_Gaussian", (15, 3.0, 0.7, 0.6, None, False)),
        (
            lambda: generalized_gaussian_kernel(13, 1.5, 0.9, -1.1, 0.7),
            "bivariate_generalized_Gaussian",
            (13, 1.5, 0.9, -1.1, 0.7, None, False),
        ),
        (
            lambda: generalized_gaussian_kernel(9, 1.2, None, 0.0, 3.0),
            "bivariate_generalized_Gaussian",
            (9, 1.2, 1.2, 0.0, 3.0, None, True),
        ),
        (
            lambda: plateau_kernel(21, 2.5, 1.1, 2.0, 1.5),
            "bivariate_plateau",
            (21, 2.5, 1.1, 2.0, 1.5, None, False),
        ),
    ],
)
def test_kernels_equal_basicsr(basicsr_degradations, ours, theirs, args):
    ref = getattr(basicsr_degradations, theirs)(*args)
    np.testing.assert_allclose(ours(), ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("cutoff", "size", "pad_to"), [(math.pi / 3, 7, 21), (2.0, 21, 0), (math.pi, 13, 0)])
def test_sinc_equals_basicsr(basicsr_degradations, cutoff, size, pad_to):
    ref = basicsr_degradations.circular_lowpass_kernel(cutoff, size, pad_to=pad_to)
    np.testing.assert_allclose(sinc_kernel(cutoff, size, pad_to), ref, rtol=1e-10, atol=1e-14)


def test_random_kernels_sum_to_one_and_have_requested_size():
    rng = np.random.default_rng(3)
    kinds = ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"]
    for sinc_prob in (0.0, 1.0):
        for _ in range(30):
            k = random_blur_kernel(rng, sinc_prob, (7, 21), kinds, [1 / 6] * 6, (0.2, 3), (0.5, 4), (1, 2))
            assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1 and 7 <= k.shape[0] <= 21
            assert k.sum() == pytest.approx(1.0, abs=1e-12)


def test_anisotropic_kernel_orientation():
    # sig_x > sig_y at theta = 0 spreads along x (columns); at pi/2 along y (rows).
    def spread(k: np.ndarray) -> tuple[float, float]:
        ax = np.arange(k.shape[0]) - k.shape[0] // 2
        return float((k.sum(0) * ax**2).sum()), float((k.sum(1) * ax**2).sum())

    var_x, var_y = spread(gaussian_kernel(41, 4.0, 1.0, 0.0))
    assert var_x == pytest.approx(16.0, rel=0.05) and var_y == pytest.approx(1.0, rel=0.05)
    var_x, var_y = spread(gaussian_kernel(41, 4.0, 1.0, math.pi / 2))
    assert var_y == pytest.approx(16.0, rel=0.05) and var_x == pytest.approx(1.0, rel=0.05)
    # At 45 degrees the kernel leans along the diagonal: positive covariance of x and y.
    k = gaussian_kernel(21, 4.0, 1.0, math.pi / 4)
    ax = np.arange(21) - 10
    assert float((k * ax[None, :] * ax[:, None]).sum()) > 5.0


@pytest.mark.parametrize("size", [3, 5, 7, 21])
def test_filter2d_equals_basicsr_filter2D(basicsr_filters, size):
    filter2D = basicsr_filters.filter2D

    img = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(size))
    one = torch.from_numpy(gaussian_kernel(size, 1.7, 0.8, 0.4)).float()
    np.testing.assert_allclose(filter2d(img, one), filter2D(img, one[None]), atol=2e-6)
    per_sample = torch.stack([one, torch.from_numpy(sinc_kernel(2.0, size)).float()])
    np.testing.assert_allclose(filter2d(img, per_sample), filter2D(img, per_sample), atol=2e-6)
    np.testing.assert_allclose(filter2d(img[0], one), filter2D(img[:1], one[None])[0], atol=2e-6)


def test_blur_lowers_high_frequency_energy(photo):
    blurred = filter2d(photo, gaussian_kernel(11, 2.0))
    assert high_freq_energy(blurred) < 0.3 * high_freq_energy(photo)
    assert float(blurred.mean()) == pytest.approx(float(photo.mean()), abs=2e-3)


def test_filter2d_rejects_even_kernel(photo):
    with pytest.raises(ValueError, match="odd-sized"):
        filter2d(photo, np.ones((4, 4)) / 16)


@pytest.mark.parametrize("beta_range", [(0.5, 4.0), (0.3, 0.8), (1.5, 3.0), (1.0, 2.0)])
def test_shape_beta_stays_in_its_range(beta_range):
    from upres.data.degradations.blur import _beta

    rng = np.random.default_rng(0)
    betas = [_beta(rng, beta_range) for _ in range(400)]
    assert min(betas) >= beta_range[0] and max(betas) <= beta_range[1]
    if beta_range[0] < 1 < beta_range[1]:  # half below 1, half above, as Real-ESRGAN draws
        assert 0.4 < np.mean(np.array(betas) < 1) < 0.6
