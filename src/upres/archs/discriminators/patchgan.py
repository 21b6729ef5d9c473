"""PatchGAN (pix2pix's N-layer discriminator) with spectral norm, and its multi-scale variant (pix2pixHD).

Each output logit judges one receptive-field patch (70 px for 3 layers), so D scores local texture rather than
global content; spectral norm bounds D's Lipschitz constant instead of a normalisation layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from upres.errors import ConfigError


class PatchGANDiscriminatorSN(nn.Module):
    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, num_layers: int = 3) -> None:
        super().__init__()
        if num_layers < 1:
            raise ConfigError("network_d.num_layers must be >= 1")
        layers: list[nn.Module] = [
            spectral_norm(nn.Conv2d(num_in_ch, num_feat, 4, 2, 1)),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        mult = 1
        for n in range(1, num_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                spectral_norm(nn.Conv2d(num_feat * prev, num_feat * mult, 4, 2, 1)),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**num_layers, 8)
        layers += [
            spectral_norm(nn.Conv2d(num_feat * prev, num_feat * mult, 4, 1, 1)),
            nn.LeakyReLU(0.2, True),
        ]
        layers.append(spectral_norm(nn.Conv2d(num_feat * mult, 1, 4, 1, 1)))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MultiScalePatchGANDiscriminatorSN(nn.Module):
    """`num_d` PatchGANs, the k-th on the input average-pooled k times; returns the list of their logit maps."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, num_layers: int = 3, num_d: int = 3) -> None:
        super().__init__()
        if num_d < 1:
            raise ConfigError("network_d.num_d must be >= 1")
        self.discriminators = nn.ModuleList(
            PatchGANDiscriminatorSN(num_in_ch, num_feat, num_layers) for _ in range(num_d)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, d in enumerate(self.discriminators):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x))
        return outs
