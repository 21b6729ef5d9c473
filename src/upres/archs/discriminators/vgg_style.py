"""The VGG-style classifier discriminator of SRGAN/ESRGAN (BasicSR's `VGGStyleDiscriminator` key names).

Five stride-2 stages take a 128 px patch to 4x4x(8*num_feat) features, then two linear layers give one logit per
image. Other sizes that are multiples of 32 are average-pooled to 4x4 before the linear layers, so one D trains on
any gt_size; `input_size: 256` instead adds BasicSR's sixth stage (loads BasicSR's 256 px D unchanged).
Normalisation: `batch` (the paper), `group` (GroupNorm(8, C); DLAS found it more stable than batch statistics,
which leak between the real and fake batches) or `none`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from upres.errors import ConfigError

NORMS = ("batch", "group", "none")


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch, affine=True)
    if kind == "group":
        return nn.GroupNorm(8, ch)
    return nn.Identity()


class VGGStyleDiscriminator(nn.Module):
    def __init__(
        self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128, norm: str = "batch"
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ConfigError(f"network_d.norm: {norm!r} is not one of {', '.join(NORMS)}")
        if input_size not in (128, 256):
            raise ConfigError(
                "network_d.input_size: 128 (any multiple of 32 is pooled to it) or 256 (BasicSR's extra stage)"
            )
        if norm == "group" and num_feat % 8:
            raise ConfigError("network_d.num_feat must be a multiple of 8 for GroupNorm(8, C)")
        bias = norm == "none"  # a bias before a norm layer is cancelled by it
        self.input_size = input_size
        self.conv0_0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=bias)
        self.bn0_1 = _norm(norm, num_feat)
        chans = [(num_feat, num_feat * 2), (num_feat * 2, num_feat * 4), (num_feat * 4, num_feat * 8)]
        chans.append((num_feat * 8, num_feat * 8))
        if input_size == 256:
            chans.append((num_feat * 8, num_feat * 8))
        self.num_stages = len(chans) + 1
        for i, (cin, cout) in enumerate(chans, start=1):
            setattr(self, f"conv{i}_0", nn.Conv2d(cin, cout, 3, 1, 1, bias=bias))
            setattr(self, f"bn{i}_0", _norm(norm, cout))
            setattr(self, f"conv{i}_1", nn.Conv2d(cout, cout, 4, 2, 1, bias=bias))
            setattr(self, f"bn{i}_1", _norm(norm, cout))
        self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def input_requirement(self) -> tuple[int, int]:
        """(smallest side, multiple every side must be of): each stage halves the side, down to 1 px or more."""
        return 2**self.num_stages, 2**self.num_stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mult = 2**self.num_stages
        if x.shape[-1] % mult or x.shape[-2] % mult:
            raise ValueError(
                f"vggstylediscriminator needs sides that are multiples of {mult}, got {tuple(x.shape)}"
            )
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for i in range(1, self.num_stages):
            feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        if feat.shape[-2:] != (4, 4):
            feat = F.adaptive_avg_pool2d(feat, 4)
        feat = self.lrelu(self.linear1(feat.flatten(1)))
        return self.linear2(feat)
