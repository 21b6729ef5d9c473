"""Decoding a photo for a training sample makes no copy of it beyond Pillow's decode (a 1 MP JPEG's copy cost a
quarter of an on-the-fly sample's read), with or without an EXIF rotation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from upres.io.images import read_image


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_jpeg_is_read_without_copying_its_pixels(tmp_path, monkeypatch, orientation):
    arr = np.random.default_rng(orientation).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(path, quality=90, exif=exif.tobytes())
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img))

    def refuse(self):
        raise AssertionError("the decoded image was copied")

    monkeypatch.setattr(Image.Image, "copy", refuse)
    got = read_image(path)
    np.testing.assert_array_equal(got, expected)
    assert got.shape == ((40, 24, 3) if orientation == 6 else (24, 40, 3))
