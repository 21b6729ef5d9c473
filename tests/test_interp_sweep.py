"""`upres interp --sweep`: one upscaled image per alpha and a strip, alpha weighting the first model."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from upres.archs import build_network
from upres.cli import main
from upres.infer.tiling import Upscaler
from upres.io.images import array_to_tensor, read_image, tensor_to_array
from upres.io.model_files import save_model


def test_sweep_endpoints_equal_each_model(tmp_path):
    torch.manual_seed(3)
    a, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    b, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    pa, pb = save_model(tmp_path / "a.safetensors", a, info), save_model(tmp_path / "b.pth", b, info)
    img = (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    assert (
        main(
            [
                "interp",
                str(pa),
                str(pb),
                "--sweep",
                "1,0.5,0",
                "--image",
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    x = array_to_tensor(img)[None]
    for alpha, net in (("1", a), ("0", b)):
        expected = tensor_to_array(Upscaler(net, 2)(x)[0])
        assert np.array_equal(read_image(tmp_path / "out" / f"in_alpha{alpha}.png"), expected)
    strip = read_image(tmp_path / "out" / "in_sweep.png")
    assert strip.shape == (40, 48 * 3, 3)


def test_sweep_needs_an_image(tmp_path, capsys):
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    p = save_model(tmp_path / "a.pth", net, info)
    assert main(["interp", str(p), str(p), "--sweep", "0,1", "-o", str(tmp_path / "o")]) == 2
    assert "--sweep takes exactly two models (A B) and --image IMG" in capsys.readouterr().err
