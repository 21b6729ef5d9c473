"""The demo job. Until training lands it upscales a bundled photo with a small randomly initialised model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
import torch

from upres.archs import build_network
from upres.infer.tiling import Upscaler
from upres.io.images import array_to_tensor, tensor_to_array, write_image
from upres.io.model_files import save_model


def run_demo(output: str | Path) -> None:
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    photo = skimage.data.astronaut()[::4, ::4]  # 128x128 RGB, ships with scikit-image
    net, info = build_network("compact", scale=2, num_feat=16, num_conv=4)
    model_path = save_model(out / "random_compact_x2.safetensors", net, info)
    up = Upscaler(net, info.scale)
    result = up(array_to_tensor(np.ascontiguousarray(photo))[None], tile=64, overlap=16)[0]
    write_image(out / "astronaut_lr.png", photo)
    write_image(out / "astronaut_x2.png", tensor_to_array(result))
    print(
        "upres demo: upscaled scikit-image's astronaut photo 2x with a small RANDOMLY INITIALISED compact model"
    )
    print("(training is not part of the demo yet, so the output shows the pipeline, not a trained result)")
    print(f"  model:  {model_path}")
    print(f"  input:  {out / 'astronaut_lr.png'}  ({photo.shape[1]}x{photo.shape[0]})")
    print(f"  output: {out / 'astronaut_x2.png'}  ({result.shape[2]}x{result.shape[1]})")
