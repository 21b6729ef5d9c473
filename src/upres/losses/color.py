"""HSLuv colour loss: compares hue, saturation and lightness in HSLuv, a perceptually uniform HSL.

The conversion (sRGB -> linear -> XYZ -> CIELUV -> LCh -> HSLuv) follows the HSLuv reference implementation
(hsluv.org, Boronine) and is written in torch so it is differentiable. Clamps keep every branch finite: a
`torch.where` whose unused branch has an infinite derivative would still poison the gradient with NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from upres.host_to_device import constant
from upres.losses.full_precision import full_precision
from upres.losses.pixel import ELEMENTWISE
from upres.losses.pixel import criterion as make_criterion

# sRGB (D65) <-> XYZ, as in the HSLuv reference.
_M = (
    (3.240969941904521, -1.537383177570093, -0.498610760293),
    (-0.96924363628087, 1.87596750150772, 0.041555057407175),
    (0.055630079696993, -0.20397695888897, 1.056971514242878),
)
_M_INV = (
    (0.41239079926595, 0.35758433938387, 0.18048078840183),
    (0.21263900587151, 0.71516867876775, 0.072192315360733),
    (0.019330818715591, 0.11919477979462, 0.95053215224966),
)
_REF_U, _REF_V = 0.19783000664283, 0.46831999493879
_KAPPA, _EPSILON = 903.2962962, 0.0088564516


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    c = c.clamp(0.0, 1.0)
    return torch.where(c > 0.04045, ((c.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4, c / 12.92)


def rgb_to_lchuv(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """NCHW sRGB in [0, 1] -> (L, C, hue in radians, chroma-valid mask) each N1HW, float32."""
    lin = _srgb_to_linear(rgb.float())
    m = constant("hsluv_m_inv", lambda: torch.tensor(_M_INV), rgb.device, torch.float32)
    xyz = torch.einsum("ij,njhw->nihw", m, lin)
    x, y, z = xyz[:, 0:1], xyz[:, 1:2], xyz[:, 2:3]
    lum = torch.where(y <= _EPSILON, y * _KAPPA, 116.0 * y.clamp_min(_EPSILON) ** (1.0 / 3.0) - 16.0)
    denom = (x + 15.0 * y + 3.0 * z).clamp_min(1e-12)
    u = 13.0 * lum * (4.0 * x / denom - _REF_U)
    v = 13.0 * lum * (9.0 * y / denom - _REF_V)
    chroma = torch.sqrt(u * u + v * v + 1e-12)
    has_hue = chroma > 1e-4
    # atan2's derivative at (0, 0) is 0/0: give grey pixels a harmless dummy angle.
    hue = torch.atan2(
        torch.where(has_hue, v, torch.zeros_like(v)), torch.where(has_hue, u, torch.ones_like(u))
    )
    return lum, chroma, hue, has_hue


def max_chroma(lum: torch.Tensor, hue: torch.Tensor) -> torch.Tensor:
    """Largest in-gamut chroma for each (L, hue): the nearest of the six sRGB gamut boundary lines along the hue ray."""
    lum = lum.clamp(1e-4, 100.0 - 1e-4)
    sub1 = (lum + 16.0) ** 3 / 1560896.0
    sub2 = torch.where(sub1 > _EPSILON, sub1, lum / _KAPPA)
    sin_h, cos_h = torch.sin(hue), torch.cos(hue)
    best = torch.full_like(lum, float("inf"))
    for m1, m2, m3 in _M:
        for t in (0.0, 1.0):
            top1 = (284517.0 * m1 - 94839.0 * m3) * sub2
            top2 = (838422.0 * m3 + 769860.0 * m2 + 731718.0 * m1) * lum * sub2 - 769860.0 * t * lum
            bottom = (632260.0 * m3 - 126452.0 * m2) * sub2 + 126452.0 * t
            slope, intercept = top1 / bottom, top2 / bottom
            d = sin_h - slope * cos_h
            d = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
            length = intercept / d
            best = torch.where(length >= 0, torch.minimum(best, length), best)
    return best.clamp_min(1e-6)


def rgb_to_hsluv(rgb: torch.Tensor) -> torch.Tensor:
    """NCHW sRGB in [0, 1] -> N3HW (hue degrees [0, 360), saturation [0, 100], lightness [0, 100])."""
    lum, chroma, hue, has_hue = rgb_to_lchuv(rgb)
    sat = torch.where(
        (lum > 99.9999999) | (lum < 1e-8) | ~has_hue,
        torch.zeros_like(lum),
        (chroma / max_chroma(lum, hue) * 100.0).clamp(0.0, 100.0),
    )
    deg = torch.remainder(hue * (180.0 / math.pi), 360.0)
    return torch.cat([deg, sat, lum.clamp(0.0, 100.0)], dim=1)


class HSLuvLoss(nn.Module):
    """Weighted sum of three terms, each in [0, 1]: circular hue distance / 180 weighted by the target's saturation
    (hue means nothing on greys), saturation / 100 and lightness / 100. `criterion` (l1 default, or charbonnier / l2
    as traiNNer-redux files set) is applied to each normalised difference. traiNNer-redux's `hue_weight`,
    `saturation_weight`, `lightness_weight` (1/3 each: the mean), `downscale_factor` (compare antialiased bicubic
    downscales) and `blur_strength` (Gaussian blur of sigma s and size 4s+1 first) are honoured."""

    def __init__(
        self,
        criterion: str = "l1",
        hue_weight: float = 1 / 3,
        saturation_weight: float = 1 / 3,
        lightness_weight: float = 1 / 3,
        downscale_factor: int = 1,
        blur_strength: float = 0,
    ) -> None:
        super().__init__()
        make_criterion(criterion, "hsluvloss.criterion")  # an unknown name is refused with the known ones
        self.elementwise = ELEMENTWISE[str(criterion).lower()]
        if min(hue_weight, saturation_weight, lightness_weight) < 0:
            raise ValueError("hue_weight, saturation_weight and lightness_weight must be >= 0")
        if not isinstance(downscale_factor, int) or downscale_factor < 1:
            raise ValueError(f"downscale_factor must be an integer >= 1, not {downscale_factor!r}")
        if blur_strength < 0:
            raise ValueError(f"blur_strength must be >= 0, not {blur_strength!r}")
        self.weights = (float(hue_weight), float(saturation_weight), float(lightness_weight))
        self.downscale_factor = downscale_factor
        self.blur_strength = float(blur_strength)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.blur_strength:
            x = gaussian_blur(x, self.blur_strength)
        if self.downscale_factor > 1:
            x = F.interpolate(
                x, scale_factor=1 / self.downscale_factor, mode="bicubic", antialias=True
            ).clamp(0, 1)
        return x

    @full_precision
    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """traiNNer-redux's three terms, on hue, saturation and lightness scaled to [0, 1]:
        - hue: the angle between the two hues (0 to 1, half a turn being 1), with no criterion; 0 where both pixels
          are grey (saturation < 0.1), or both black or both white (lightness < 0.1 or > 0.9); the larger
          saturation where only one of the two is grey;
        - saturation: the criterion, weighted by how far each pixel's lightness is from black or white
          (min(L, 1 - L) of each image, summed);
        - lightness: the criterion."""
        a, b = rgb_to_hsluv(self._prepare(sr)), rgb_to_hsluv(self._prepare(gt))
        ha, sa, la = a[:, 0] / 360.0, a[:, 1] / 100.0, a[:, 2] / 100.0
        hb, sb, lb = b[:, 0] / 360.0, b[:, 1] / 100.0, b[:, 2] / 100.0
        eps = 0.1
        turn = (ha - hb).abs()
        hue = torch.minimum(turn, 1 - turn) * 2
        zero = torch.zeros_like(hue)
        grey_a, grey_b = sa < eps, sb < eps
        hue = torch.where(grey_a & grey_b, zero, hue)
        hue = torch.where((grey_a & (sb > eps)) | ((sa > eps) & grey_b), torch.maximum(sa, sb), hue)
        hue = torch.where(((la < eps) & (lb < eps)) | ((la > 1 - eps) & (lb > 1 - eps)), zero, hue)
        away_from_black_and_white = torch.minimum(la, 1 - la).clamp(0, 0.5) + torch.minimum(lb, 1 - lb).clamp(
            0, 0.5
        )
        saturation = (self.elementwise(sa, sb) * away_from_black_and_white).mean()
        lightness = self.elementwise(la, lb).mean()
        wh, ws, wl = self.weights
        return wh * hue.mean() + ws * saturation + wl * lightness


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """torchvision's GaussianBlur(4 * sigma + 1, sigma) as traiNNer-redux builds it: separable, reflect-padded."""
    size = int(4 * sigma + 1) | 1  # odd, as torchvision requires
    half = size // 2
    t = torch.arange(size, dtype=x.dtype, device=x.device) - half
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (half, half, half, half), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)
    return F.conv2d(x, k.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)
