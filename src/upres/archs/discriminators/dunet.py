"""`dunet`: traiNNer-redux's default discriminator — a compact spectral-norm U-Net with Mish and DySample upsampling.

Three stride-2 downsampling stages and three learned-upsampling stages with additive skips give per-pixel logits like
Real-ESRGAN's U-Net D at a fraction of its cost (3x3 kernels, features doubled per stage). Module names, parameter
layout and the forward pass follow traiNNer-redux's `DUnet`, so its `net_d_*.safetensors`/`.pth` files load as
`path.pretrain_network_d` (tested against a reference built from spandrel's DySample). Spectral norm is the
parametrization form (`parametrizations.weight.original`), as there.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class DySample(nn.Module):
    """Upsampling by learned point sampling (Liu et al. 2023, "Learning to Upsample by Learning to Sample"), with a
    dynamic scope: each of the scale x scale output pixels of an input pixel reads the input, bilinearly, at that
    sub-pixel's regular position plus an offset predicted from the content. Channels are split into `groups` that get
    their own offsets."""

    def __init__(self, channels: int, scale: int = 2, groups: int = 4) -> None:
        super().__init__()
        if channels < groups or channels % groups:
            raise ValueError(f"DySample: {channels} channels cannot be split into {groups} groups")
        self.scale, self.groups = scale, groups
        points = 2 * groups * scale * scale  # an (x, y) offset per group and output sub-pixel
        self.offset = nn.Conv2d(channels, points, 1)
        self.scope = nn.Conv2d(channels, points, 1, bias=False)
        nn.init.trunc_normal_(self.offset.weight, std=0.02)
        nn.init.zeros_(self.scope.weight)
        # Regular sub-pixel positions, in input pixels from the pixel centre: (k - (scale - 1) / 2) / scale.
        # Channel order (x/y, group, row, column) is the one pixel_shuffle turns into (x/y, group) planes.
        pos = (torch.arange(scale, dtype=torch.float32) - (scale - 1) / 2) / scale
        x = pos.view(1, 1, scale).expand(groups, scale, scale)
        y = pos.view(1, scale, 1).expand(groups, scale, scale)
        self.register_buffer("init_pos", torch.stack([x, y]).reshape(1, -1, 1, 1))
        grid_sample_differentiates_twice()  # probed here, outside any no_grad or compiled forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s, g = self.scale, self.groups
        offset = self.offset(x) * self.scope(x).sigmoid() * 0.5 + self.init_pos
        # Positions and sampling in float32 even under autocast: bf16 cannot hold pixel coordinates above 256 exactly.
        f32 = torch.float32
        cols = torch.arange(w, device=x.device, dtype=f32) + 0.5
        rows = torch.arange(h, device=x.device, dtype=f32) + 0.5
        base = torch.stack([cols.view(1, w).expand(h, w), rows.view(h, 1).expand(h, w)]).view(1, 2, 1, h, w)
        # [w, h] made on the device (exactly: integers), not copied from host data, which would wait for the GPU.
        size = torch.linspace(w, h, 2, device=x.device, dtype=f32).view(1, 2, 1, 1, 1)
        grid = 2 * (base + offset.float().view(b, 2, -1, h, w)) / size - 1
        grid = F.pixel_shuffle(grid.reshape(b, -1, h, w), s).view(b, 2, g, s * h, s * w)
        grid = grid.permute(0, 2, 3, 4, 1).reshape(b * g, s * h, s * w, 2)
        sample = F.grid_sample if grid_sample_differentiates_twice() else bilinear_sample_border
        with torch.autocast(x.device.type, enabled=False):
            out = sample(
                x.float().reshape(b * g, c // g, h, w),
                grid,
                mode="bilinear",
                align_corners=False,
                padding_mode="border",
            )
        return out.view(b, c, s * h, s * w).to(x.dtype)


@functools.cache
def grid_sample_differentiates_twice() -> bool:
    """Whether this PyTorch has the derivative of grid_sample's backward, which a gradient penalty (R1, WGAN-GP) takes
    through the discriminator. PyTorch 2.11 and earlier do not ("derivative for aten::grid_sampler_2d_backward is
    not implemented"); the formula is the same on every device, so a tiny CPU probe answers for all."""
    with torch.inference_mode(False), torch.enable_grad():
        x = torch.ones(1, 1, 2, 2, requires_grad=True)
        grid = torch.zeros(1, 1, 1, 2, requires_grad=True)
        (dx,) = torch.autograd.grad(F.grid_sample(x, grid, align_corners=False).sum(), x, create_graph=True)
        try:
            torch.autograd.grad(dx.sum(), grid)
        except RuntimeError:
            return False
    return True


def bilinear_sample_border(
    x: torch.Tensor, grid: torch.Tensor, *, mode: str, align_corners: bool, padding_mode: str
) -> torch.Tensor:
    """F.grid_sample(x, grid, mode="bilinear", align_corners=False, padding_mode="border") from gathers and products,
    which autograd differentiates any number of times: what DySample uses where grid_sample's own backward has no
    derivative. Same values and gradients up to float rounding."""
    if (mode, align_corners, padding_mode) != ("bilinear", False, "border"):
        raise ValueError(
            "bilinear_sample_border does bilinear sampling, align_corners=False, border padding only"
        )
    n, c, h, w = x.shape
    ho, wo = grid.shape[1:3]
    # Pixel coordinates of align_corners=False, clamped to the image: border padding repeats the edge pixels.
    ix = ((grid[..., 0] + 1) * w - 1).mul(0.5).clamp(0, w - 1).reshape(n, 1, ho * wo)
    iy = ((grid[..., 1] + 1) * h - 1).mul(0.5).clamp(0, h - 1).reshape(n, 1, ho * wo)
    x0, y0 = ix.detach().floor(), iy.detach().floor()
    wx1, wy1 = ix - x0, iy - y0
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    flat = x.reshape(n, c, h * w)

    def tap(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return flat.gather(2, (yi * w + xi).expand(n, c, ho * wo))

    top = tap(y0, x0) * (1 - wx1) + tap(y0, x1) * wx1
    bottom = tap(y1, x0) * (1 - wx1) + tap(y1, x1) * wx1
    return (top * (1 - wy1) + bottom * wy1).view(n, c, ho, wo)


def _down(dim: int) -> nn.Sequential:
    return nn.Sequential(spectral_norm(nn.Conv2d(dim, dim * 2, 3, 2, 1)), nn.Mish(inplace=True))


def _up(dim: int) -> nn.Sequential:
    return nn.Sequential(DySample(dim, 2, 4), spectral_norm(nn.Conv2d(dim, dim // 2, 3, 1, 1)))


class DUnet(nn.Module):
    def __init__(self, num_in_ch: int = 3, num_feat: int = 64) -> None:
        super().__init__()
        if num_feat % 2:
            raise ValueError(
                f"num_feat must be even (DySample splits 2 x num_feat channels in 4 groups), not {num_feat}"
            )
        self.in_to_dim = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.e_x1, self.e_x2, self.e_x3 = _down(num_feat), _down(num_feat * 2), _down(num_feat * 4)
        self.up1, self.up2, self.up3 = _up(num_feat * 8), _up(num_feat * 4), _up(num_feat * 2)
        self.end_conv = nn.Sequential(
            spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)),
            nn.Mish(inplace=True),
            spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)),
            nn.Mish(inplace=True),
            nn.Conv2d(num_feat, 1, 3, 1, 1),
        )

    def input_requirement(self) -> tuple[int, int]:
        """(smallest side, multiple every side must be of): three halvings, then three doublings back to the skips."""
        return 8, 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"dunet needs sides that are multiples of 8, got {tuple(x.shape)}")
        x0 = self.in_to_dim(x)
        x1 = self.e_x1(x0)
        x2 = self.e_x2(x1)
        y = self.up1(self.e_x3(x2)) + x2
        y = self.up2(y) + x1
        y = self.up3(y) + x0
        return self.end_conv(y)
