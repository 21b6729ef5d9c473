from __future__ import annotations

import numpy as np
import pytest
import torch

from upres.data.degradations.resize import resize
from upres.data.degradations.sharpen import usm_sharpen


def test_usm_equals_basicsr_usmsharp(basicsr_filters, photo):
    ref = basicsr_filters.USMSharp()(photo[None])[0]
    np.testing.assert_allclose(usm_sharpen(photo), ref, atol=2e-5)


def test_usm_raises_high_frequency_energy(photo):
    def hf(x):
        return float((x[..., 1:] - x[..., :-1]).pow(2).mean())

    assert hf(usm_sharpen(photo)) > 1.2 * hf(photo)


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic", "nearest", "nearest-exact", "lanczos"])
@pytest.mark.parametrize("size", [(32, 40), (200, 150), (128, 128)])
def test_resize_modes_give_requested_size(photo, mode, size):
    out = resize(photo, size, mode)
    assert tuple(out.shape) == (3, *size)
    assert float(out.mean()) == pytest.approx(float(photo.mean()), abs=0.02)


def test_lanczos_matches_pillow(photo):
    from PIL import Image

    arr = (photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    for size in ((48, 40), (300, 257)):
        ref = np.asarray(Image.fromarray(arr).resize(size[::-1], Image.Resampling.LANCZOS)).astype(np.float64)
        ours = (
            resize(torch.from_numpy(arr).permute(2, 0, 1).double() / 255, size, "lanczos")
            .permute(1, 2, 0)
            .numpy()
        )  # images in [0, 1], as the pipeline holds them (resizes clamp to that range)
        # Pillow rounds intermediate rows to 8 bits; our passes stay in floating point.
        assert np.abs(ours * 255 - ref).mean() < 0.5


def test_unknown_mode_is_refused(photo):
    with pytest.raises(ValueError, match="unknown resize mode 'cubic'"):
        resize(photo, (10, 10), "cubic")
