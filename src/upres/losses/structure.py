"""MS-SSIM loss (Wang, Simoncelli & Bovik 2003): 1 - MS-SSIM, data range 1 (on luma by default, as traiNNer-redux).

Training patches are small (128-256 px HR) while the original five-scale MS-SSIM needs > 160 px at scale 1 with
"valid" filtering. `padding="redux"` (default) is traiNNer-redux's: "valid" filtering at the scales the window fits,
zeros around the smaller ones, each pixel's contrast-structure clipped at 0, channels averaged before the product
across scales (its values and gradients agree with redux's code to 1e-5). `padding="same"` (edge-replicating) keeps
every scale at full size; `padding="valid"` reproduces the reference definition (pytorch_msssim) on large images.
"""

from __future__ import annotations

import functools
import operator

import torch
import torch.nn.functional as F
from torch import nn

from upres.errors import ConfigError
from upres.host_to_device import constant
from upres.losses.full_precision import full_precision

MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
K1, K2 = 0.01, 0.03


def gaussian_kernel(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return (g / g.sum()).float()


def _blur(x: torch.Tensor, g: torch.Tensor, padding: str) -> torch.Tensor:
    c = x.shape[1]
    k = g.numel()
    if padding == "same":
        x = F.pad(x, (k // 2, k // 2, k // 2, k // 2), mode="replicate")
    elif (
        padding == "redux" and min(x.shape[-2:]) < k
    ):  # traiNNer-redux: zeros around scales smaller than the window
        x = F.pad(x, ((k - 1) // 2, k // 2, (k - 1) // 2, k // 2))
    # Separable Gaussian: two 1-D convolutions, depthwise.
    x = F.conv2d(x, g.view(1, 1, 1, k).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, k, 1).repeat(c, 1, 1, 1), groups=c)


def ssim_components(
    x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, padding: str, data_range: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(SSIM, contrast-structure) per image and channel, shape (N, C)."""
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    # one depthwise convolution over the five statistics instead of five small ones
    mu_x, mu_y, exx, eyy, exy = _blur(torch.cat([x, y, x * x, y * y, x * y], 1), g, padding).chunk(5, dim=1)
    sxx = exx - mu_x**2
    syy = eyy - mu_y**2
    sxy = exy - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    if padding == "redux":
        cs_map = F.relu(cs_map)  # traiNNer-redux clips each pixel's contrast-structure at 0, before the means
    ssim_map = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ms_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
    padding: str = "same",
    weights: tuple[float, ...] = MS_WEIGHTS,
    include_luminance: bool = True,
) -> torch.Tensor:
    """Mean MS-SSIM over batch and channels (float32 whatever the input dtype); without `include_luminance` the
    coarsest scale contributes its contrast-structure term only, like the others (traiNNer-redux's default)."""
    x, y = x.float(), y.float()
    g = constant(("ssim_window", win_size, sigma), lambda: gaussian_kernel(win_size, sigma), x.device)
    levels = len(weights)
    w = constant(("ms_ssim_weights", weights), lambda: torch.tensor(weights), x.device)
    cs_list = []
    redux = padding == "redux"
    for level in range(levels):
        ssim, cs = ssim_components(x, y, g, padding, data_range)
        if redux:  # traiNNer-redux averages the channels before the product across scales
            ssim, cs = ssim.mean(1, keepdim=True), cs.mean(1, keepdim=True)
        if level < levels - 1:
            cs_list.append(cs)
            if redux:  # odd sizes: a zero row/column each side, counted in the mean (avg_pool2d's padding)
                odd = (x.shape[-2] % 2, x.shape[-1] % 2)
                x, y = F.avg_pool2d(x, 2, padding=odd), F.avg_pool2d(y, 2, padding=odd)
                continue
            pad = (x.shape[-1] % 2, 0, x.shape[-2] % 2, 0)  # odd sizes: replicate one edge row/column
            x = F.avg_pool2d(F.pad(x, pad, mode="replicate") if any(pad) else x, 2)
            y = F.avg_pool2d(F.pad(y, pad, mode="replicate") if any(pad) else y, 2)
    # Negative cs/ssim (anti-correlated patches) would make the fractional powers undefined; clamp as the
    # reference clamps with relu, but keep a floor so the gradient stays finite.
    stack = torch.stack([*cs_list, ssim if include_luminance else cs], dim=0).clamp_min(1e-6)
    # A chain of products, not torch.prod: prod's backward reads on the host whether any factor is zero, which on a
    # GPU waits for the whole step queued before it.
    return functools.reduce(operator.mul, (stack ** w.view(-1, 1, 1)).unbind(0)).mean()


# Luma rows of the colour spaces traiNNer-redux's mssimloss offers (`color_space`), on RGB in [0, 1].
LUMA = {
    "yiq": ((0.299, 0.587, 0.114), 0.0),
    "ycbcr": ((65.481 / 255, 128.553 / 255, 24.966 / 255), 16 / 255),
    "lhm": ((0.2989, 0.587, 0.114), 0.0),
}


def luma(x: torch.Tensor, color_space: str) -> torch.Tensor:
    (r, g, b), offset = LUMA[color_space]
    return x[:, 0:1] * r + x[:, 1:2] * g + x[:, 2:3] * b + offset


class MSSIMLoss(nn.Module):
    """1 - MS-SSIM. traiNNer-redux's defaults: on the luma (Y of YIQ) of the clamped images (`test_y_channel`,
    `color_space`), and without the luminance term (`include_luminance: false`)."""

    def __init__(
        self,
        padding: str = "redux",
        win_size: int = 11,
        sigma: float = 1.5,
        data_range: float = 1.0,
        test_y_channel: bool = True,
        color_space: str = "yiq",
        include_luminance: bool = False,
    ):
        super().__init__()
        if padding not in ("redux", "same", "valid"):
            raise ConfigError(f"mssimloss.padding: {padding!r} is not one of redux, same, valid")
        if (
            test_y_channel and str(color_space).lower() not in LUMA
        ):  # unread without test_y_channel, as in redux
            raise ConfigError(f"mssimloss.color_space: {color_space!r} is not one of {', '.join(LUMA)}")
        # Each of these was computed without a word: a 1-pixel window has no variance (the loss is 0 whatever the
        # images), an even one is off-centre, sigma 0 gives NaN and data_range 0 divides 0 by 0 on flat patches.
        if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
            raise ConfigError(
                f"mssimloss.win_size: must be an odd integer >= 3 (11 is usual), not {win_size!r}"
            )
        for key, value in (("sigma", sigma), ("data_range", data_range)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
                raise ConfigError(f"mssimloss.{key}: must be a positive number, not {value!r}")
        self.padding, self.win_size, self.sigma, self.data_range = padding, win_size, sigma, data_range
        self.test_y_channel, self.color_space = bool(test_y_channel), str(color_space).lower()
        self.include_luminance = bool(include_luminance)

    def smallest_side(self) -> int:
        return (self.win_size - 1) * 2 ** (len(MS_WEIGHTS) - 1) + 1 if self.padding == "valid" else 16

    def check_crop(self, lq_size: int, scale: int) -> None:
        """Before training: a GT crop too small for it (the loss may start hours in, at its start_iter)."""
        gt, needed = lq_size * scale, self.smallest_side()
        if gt < needed:
            raise ValueError(
                f"GT crops of {gt} px (datasets.train.lq_size {lq_size} x scale {scale}) are too small for 5-scale "
                f"MS-SSIM with padding {self.padding!r} (need >= {needed}); use a larger lq_size or padding: same"
            )

    @full_precision
    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        smallest, needed = min(sr.shape[-2:]), self.smallest_side()
        if smallest < needed:
            raise ConfigError(
                f"mssimloss: images of {smallest} px are too small for 5-scale MS-SSIM with padding "
                f"{self.padding!r} (need >= {needed}); use a larger datasets.train.lq_size or padding: same"
            )
        sr, gt = sr.clamp(0, 1), gt.clamp(0, 1)  # as traiNNer-redux prepares both, on luma or RGB
        if self.test_y_channel and sr.shape[1] == 3:
            sr, gt = luma(sr, self.color_space), luma(gt, self.color_space)
        return 1 - ms_ssim(
            sr,
            gt,
            self.data_range,
            self.win_size,
            self.sigma,
            self.padding,
            include_luminance=self.include_luminance,
        )
