from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from upres.data.degradations.jpeg import jpeg_compress


def pillow_roundtrip(arr: np.ndarray, quality: int, subsampling: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality, subsampling=subsampling)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@pytest.mark.parametrize(("quality", "sub", "code"), [(30, "4:2:0", 2), (75, "4:2:2", 1), (95, "4:4:4", 0)])
def test_jpeg_equals_libjpeg_at_that_quality(photo, quality, sub, code):
    arr = (photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    expected = pillow_roundtrip(arr, quality, code)
    out = jpeg_compress(photo, quality, sub)
    got = (out.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(got, arr)


def test_lower_quality_is_further_from_the_input(photo):
    errs = [float((jpeg_compress(photo, q) - photo).abs().mean()) for q in (10, 50, 95)]
    assert errs[0] > errs[1] > errs[2]


def test_batch_with_per_sample_quality(photo):
    batch = torch.stack([photo, photo])
    out = jpeg_compress(batch, [20, 90], ["4:2:0", "4:4:4"])
    assert torch.equal(out[0], jpeg_compress(photo, 20, "4:2:0"))
    assert torch.equal(out[1], jpeg_compress(photo, 90, "4:4:4"))
