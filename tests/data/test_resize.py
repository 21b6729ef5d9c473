"""MATLAB-style bicubic: against basicsr's port of MATLAB imresize, and the literature's bicubic numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from upres.data.resize import contributions, imresize
from upres.io.image_files import list_images
from upres.io.images import read_image
from upres.metrics.psnr_ssim import psnr, ssim


@pytest.mark.parametrize(
    ("shape", "scale"),
    [((3, 37, 51), 1 / 4), ((3, 37, 51), 4), ((3, 64, 48), 1 / 2), ((3, 30, 31), 1 / 3), ((1, 9, 20), 2)],
)
def test_matches_basicsr_imresize(basicsr_module, shape, scale):
    from basicsr.utils.matlab_functions import imresize as ref

    x = torch.rand(shape, generator=torch.Generator().manual_seed(3))
    ours = imresize(x, scale)
    theirs = ref(x, scale, antialiasing=True)
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max().item() < 1e-6
    ours_np = imresize(x.numpy().transpose(1, 2, 0).astype(np.float64), scale)
    assert np.abs(ours_np - theirs.numpy().transpose(1, 2, 0)).max() < 1e-6


def test_weights_sum_to_one_and_indices_mirror():
    w, idx = contributions(10, 3, 0.25)
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert idx.min() >= 0 and idx.max() <= 9
    # Symmetric padding repeats the edge pixel: taps left of pixel 0 read 0, 1, ... (MATLAB's [1:n, n:-1:1]).
    w, idx = contributions(5, 10, 2.0)
    assert list(idx[0]) == [1, 0, 0, 1]
    assert list(idx[-1]) == [3, 4, 4, 3]


def test_constant_image_stays_constant_and_batch_equals_single():
    x = torch.full((2, 3, 17, 23), 0.37)
    y = imresize(x, 1 / 3)
    assert y.shape == (2, 3, 6, 8)
    assert torch.allclose(y, torch.full_like(y, 0.37), atol=1e-6)
    z = torch.rand(2, 3, 16, 20)
    torch.testing.assert_close(imresize(z, 0.5)[1], imresize(z[1], 0.5))


def test_size_argument_and_uint8_rounding():
    x = (np.arange(40 * 30 * 3) % 251).astype(np.uint8).reshape(40, 30, 3)
    y = imresize(x, size=(20, 10))
    assert y.shape == (20, 10, 3) and y.dtype == np.uint8
    yf = imresize(x.astype(np.float64), size=(20, 10))
    np.testing.assert_array_equal(y, np.clip(np.round(yf), 0, 255).astype(np.uint8))


def _bicubic_scores(folder, scale):
    ps, ss = [], []
    for path in list_images(folder):
        gt = read_image(path)
        gt = np.repeat(gt, 3, 2) if gt.shape[2] == 1 else gt[..., :3]
        gt = gt[: gt.shape[0] - gt.shape[0] % scale, : gt.shape[1] - gt.shape[1] % scale]
        up = imresize(imresize(gt, 1 / scale), scale)  # uint8 in, uint8 out: LR saved at 8 bits as papers do
        ps.append(psnr(up, gt, scale, y_channel=True))
        ss.append(ssim(up, gt, scale, y_channel=True))
    return float(np.mean(ps)), float(np.mean(ss))


@pytest.mark.parametrize(("scale", "want_psnr", "want_ssim"), [(4, 28.42, 0.8104), (2, 33.66, 0.9299)])
def test_set5_bicubic_literature(shared_data, scale, want_psnr, want_ssim):
    p, s = _bicubic_scores(shared_data / "benchmark" / "Set5", scale)
    assert abs(p - want_psnr) <= 0.03, p
    assert abs(s - want_ssim) <= 0.002, s


@pytest.mark.parametrize(("scale", "want_psnr"), [(4, 26.00), (2, 30.24)])
def test_set14_bicubic_literature(shared_data, scale, want_psnr):
    p, _ = _bicubic_scores(shared_data / "benchmark" / "Set14", scale)
    assert abs(p - want_psnr) <= 0.12, p
