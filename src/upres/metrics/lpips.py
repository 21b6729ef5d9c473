"""LPIPS (Zhang et al. 2018), AlexNet variant v0.1, for validation.

The network is torchvision's AlexNet with ImageNet weights and the small linear heads the `lpips` package ships. Nothing
is downloaded: the AlexNet file must be in the torch hub cache (or at an explicit path) and `lpips` installed
(`pip install 'upres[metrics]'`). Lower is better.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import torch
from torch import nn

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
# Relu outputs of AlexNet's five conv stages: features[0:2], [2:5], [5:8], [8:10], [10:12].
SLICES = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))
CHANNELS = (64, 192, 384, 256, 256)


def alexnet_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


def heads_path() -> Path | None:
    try:
        return Path(str(resources.files("lpips") / "weights" / "v0.1" / "alex.pth"))
    except ModuleNotFoundError:
        return None


def unavailable_reason() -> str | None:
    heads = heads_path()
    if heads is None or not heads.is_file():
        return "LPIPS needs the lpips package for its linear heads: pip install 'upres[metrics]'"
    if not alexnet_path().is_file():
        return f"LPIPS needs torchvision's ImageNet AlexNet at {alexnet_path()} (upres downloads nothing: copy the file there)"
    return None


class LPIPS(nn.Module):
    def __init__(self, alexnet: Path | None = None, heads: Path | None = None) -> None:
        super().__init__()
        import torchvision

        features = torchvision.models.alexnet().features
        state = torch.load(alexnet or alexnet_path(), map_location="cpu", weights_only=True)
        features.load_state_dict(
            {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        )
        self.stages = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in SLICES)
        lin = torch.load(heads or heads_path(), map_location="cpu", weights_only=True)
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        for i, head in enumerate(self.heads):
            head.weight.data.copy_(lin[f"lin{i}.model.1.weight"])
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-image distance of (N, 3, H, W) images in [0, 1]."""
        x, y = ((t * 2 - 1 - self.shift) / self.scale for t in (a.float(), b.float()))
        total = torch.zeros(a.shape[0], device=a.device)
        for stage, head in zip(self.stages, self.heads, strict=True):
            x, y = stage(x), stage(y)
            nx = x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            ny = y / (y.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + head((nx - ny) ** 2).mean(dim=(1, 2, 3))
        return total


@cache
def _shared(device: str) -> LPIPS:
    return LPIPS().to(device)


def lpips_batch(
    sr: torch.Tensor, gt: torch.Tensor, crop_border: int = 0, y_channel: bool = False
) -> torch.Tensor:
    """LPIPS per image, with the signature of the other validation metrics (y_channel does not apply)."""
    if crop_border:
        sr = sr[..., crop_border:-crop_border, crop_border:-crop_border]
        gt = gt[..., crop_border:-crop_border, crop_border:-crop_border]
    with torch.no_grad():
        return _shared(str(sr.device))(sr, gt)
