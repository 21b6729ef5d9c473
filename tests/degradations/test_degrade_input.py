"""degrade() from Python (docs/degradations.md): input it cannot use is refused at the call with the fix, never a
white LR from an 8-bit tensor or a traceback from inside Pillow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from upres.data.degradations import DegradationOptions, degrade, make_generators


def _degrade(gt, scale=4):
    rng, gen = make_generators((1, 2, 3))
    return degrade(gt, DegradationOptions(), scale=scale, rng=rng, generator=gen)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.bool])
def test_an_integer_image_is_refused_with_the_division(dtype):
    gt = (torch.rand(3, 32, 32) * (2 if dtype is torch.bool else 200)).to(dtype)
    with pytest.raises(TypeError) as exc:
        _degrade(gt)
    assert str(exc.value) == (
        f"degrade: gt must be float in [0, 1], not {str(dtype).removeprefix('torch.')}; divide the image by its "
        "peak first (gt.float() / 255 for 8 bits)"
    )


@pytest.mark.parametrize(
    "shape,end",
    [
        ((32, 32, 3), "not shape (32, 32, 3) (channels last? gt.permute(2, 0, 1))"),
        ((4, 32, 32), "not shape (4, 32, 32)"),
        ((2, 4, 32, 32), "not shape (2, 4, 32, 32)"),
        ((32, 32), "not shape (32, 32)"),
        ((1, 1, 3, 32, 32), "not shape (1, 1, 3, 32, 32)"),
    ],
)
def test_a_layout_other_than_chw_or_nchw_rgb_or_gray_is_refused(shape, end):
    with pytest.raises(ValueError) as exc:
        _degrade(torch.rand(*shape))
    assert str(exc.value) == f"degrade: gt must be (C,H,W) or (N,C,H,W) with C 1 (gray) or 3 (RGB), {end}"


def test_a_numpy_array_is_refused_with_the_conversion():
    with pytest.raises(
        TypeError, match=r"^degrade: gt must be a torch.Tensor, not ndarray \(a numpy HxWxC image"
    ):
        _degrade(np.zeros((32, 32, 3), np.float32))


@pytest.mark.parametrize("scale", [0, -2, 2.5, True])
def test_a_scale_that_is_not_a_positive_integer_is_refused(scale):
    with pytest.raises(ValueError, match=r"^degrade: scale must be a positive integer, not "):
        _degrade(torch.rand(3, 32, 32), scale=scale)


def test_an_image_smaller_than_the_scale_is_refused():
    with pytest.raises(ValueError) as exc:
        _degrade(torch.rand(3, 3, 8))
    assert str(exc.value) == "degrade: gt is 3x8, smaller than scale 4: it has no LR at that scale"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 32, 32), (2, 3, 32, 32)])
def test_the_documented_inputs_still_work(shape, dtype):
    lq = _degrade(torch.rand(*shape, dtype=dtype), scale=np.int64(4))
    assert lq.shape == (*shape[:-2], 8, 8) and lq.dtype == dtype


def test_a_dict_of_options_is_refused_with_the_parser_to_use():
    rng, gen = make_generators(0)
    with pytest.raises(TypeError) as exc:
        degrade(torch.rand(3, 32, 32), {"blur_prob": 0.5}, 4, rng, gen)
    assert str(exc.value) == (
        "degrade: opts must be DegradationOptions, not dict (for a dict of option keys: parse_degradation_options(d))"
    )


@pytest.mark.parametrize("rng", [0, None])
def test_a_seed_or_nothing_as_rng_is_refused_with_make_generators(rng):
    with pytest.raises(TypeError) as exc:
        degrade(torch.rand(3, 32, 32), DegradationOptions(), 4, rng)
    assert str(exc.value) == (
        f"degrade: rng must be a numpy Generator, not {type(rng).__name__} (rng, generator = make_generators(seed))"
    )
