from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def hr_folder(tmp_path: Path) -> Path:
    """Six 64x64 photos cut from scikit-image's bundled samples (textured, so SR has something to learn)."""
    import skimage.data

    folder = tmp_path / "hr"
    folder.mkdir()
    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    n = 0
    for img in sources:
        for y, x in [(0, 0), (100, 150)]:
            Image.fromarray(np.ascontiguousarray(img[y : y + 64, x : x + 64])).save(folder / f"{n}.png")
            n += 1
    return folder


@pytest.fixture(scope="session")
def random_vgg(tmp_path_factory) -> Path:
    """torchvision's VGG19 layout with random values: the perceptual loss needs the shapes, not ImageNet."""
    torchvision = pytest.importorskip("torchvision")
    import torch

    # Only `features.*`: the loss never reads the 120M-parameter classifier, and leaving it out saves ~470 MB of disk.
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path
