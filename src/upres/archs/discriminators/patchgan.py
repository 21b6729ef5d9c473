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


def _conv_side(side: int, kernel: int, stride: int, pad: int) -> int:
    """Output side of a convolution or pooling; 0 where the padded input is smaller than the kernel (torch's
    "Kernel size can't be greater than actual input size")."""
    return (side + 2 * pad - kernel) // stride + 1 if side + 2 * pad >= kernel else 0


def _smallest(fits) -> int:
    return next(side for side in range(1, 1 << 16) if fits(side))


class PatchGANDiscriminatorSN(nn.Module):
    def __init__(
        self, num_in_ch: int = 3, num_feat: int = 64, num_layers: int = 3, use_sigmoid: bool = False
    ) -> None:
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
        if use_sigmoid:  # pix2pix's option (traiNNer-redux's key): probabilities instead of logits
            layers.append(nn.Sigmoid())
        self.body = nn.Sequential(*layers)
        self.num_layers = num_layers

    def logit_side(self, side: int) -> int:
        """Side of the logit map for an input side: `num_layers` stride-2 convolutions, then two stride-1 ones."""
        for _ in range(self.num_layers):
            side = _conv_side(side, 4, 2, 1)
        return _conv_side(_conv_side(side, 4, 1, 1), 4, 1, 1)

    def input_requirement(self) -> tuple[int, int]:
        """(smallest side, multiple every side must be of) of the images this D can judge."""
        return _smallest(lambda side: self.logit_side(side) >= 1), 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MultiScalePatchGANDiscriminatorSN(nn.Module):
    """`num_d` PatchGANs, the k-th on the input average-pooled k times; returns the list of their logit maps."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_feat: int = 64,
        num_layers: int = 3,
        num_d: int = 3,
        use_sigmoid: bool = False,
    ) -> None:
        super().__init__()
        if num_d < 1:
            raise ConfigError("network_d.num_d must be >= 1")
        self.discriminators = nn.ModuleList(
            PatchGANDiscriminatorSN(num_in_ch, num_feat, num_layers, use_sigmoid) for _ in range(num_d)
        )

    def input_requirement(self) -> tuple[int, int]:
        """The k-th PatchGAN sees the input pooled k times (3x3, stride 2): each must get a logit map."""

        def fits(side: int) -> bool:
            for d in self.discriminators:
                if side < 1 or d.logit_side(side) < 1:
                    return False
                side = _conv_side(side, 3, 2, 1)
            return True

        return _smallest(fits), 1

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, d in enumerate(self.discriminators):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x))
        return outs
