"""A JPEG saved by a browser as .jfif (Windows' default) or .jpe is read as the JPEG it is: scraped datasets hold
many, and upres skipped them as "other files"."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from upres.archs import build_network
from upres.cli import main
from upres.io.image_files import list_images
from upres.io.images import read_image
from upres.io.model_files import save_model


def test_jfif_and_jpe_files_are_upscaled_as_the_jpeg_they_hold(tmp_path):
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    model = save_model(tmp_path / "m.safetensors", net, info)
    pixels = (np.random.default_rng(0).random((16, 20, 3)) * 255).astype(np.uint8)
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jfif", "b.JPE"):
        Image.fromarray(pixels).save(src / name, "JPEG", quality=90)
    Image.fromarray(np.asarray(Image.open(src / "a.jfif"))).save(
        src / "decoded.png"
    )  # the same pixels, lossless
    assert [p.name for p in list_images(src)] == ["a.jfif", "b.JPE", "decoded.png"]
    assert main(["upscale", "-m", str(model), str(src), "-o", str(tmp_path / "out"), "-q"]) == 0
    expected = read_image(tmp_path / "out" / "decoded.png")
    for name in ("a.png", "b.png"):  # formats upres does not write come out as PNG
        assert Image.open(tmp_path / "out" / name).format == "PNG"
        assert np.array_equal(read_image(tmp_path / "out" / name), expected)
