"""Focal frequency loss (Jiang et al. ICCV 2021): squared distance of 2-D spectra, weighted towards the frequencies
the model currently gets most wrong (weight = normalised distance ** alpha, no gradient through the weight).
ave_spectrum defaults to traiNNer-redux's True (the paper's code: False): spectra are averaged over the batch. The
loss is 50x the paper's, as traiNNer-redux returns it: its recommended weight (0.2) is set for that scale."""

from __future__ import annotations

import torch
from torch import nn

from upres.errors import ConfigError
from upres.losses.option_values import a_number, a_whole_number

REDUX_SCALE = 50.0


def _spectrum(x: torch.Tensor, patch_factor: int) -> torch.Tensor:
    n, c, h, w = x.shape
    if h % patch_factor or w % patch_factor:
        raise ConfigError(f"ffloss: image {h}x{w} is not divisible by patch_factor {patch_factor}")
    ph, pw = h // patch_factor, w // patch_factor
    patches = x.unfold(2, ph, ph).unfold(3, pw, pw)  # N C P P ph pw
    patches = patches.reshape(n, c, patch_factor * patch_factor, ph, pw).transpose(1, 2)
    return torch.fft.fft2(patches.float(), norm="ortho")


class FocalFrequencyLoss(nn.Module):
    def __init__(
        self,
        alpha: float = 1.0,
        patch_factor: int = 1,
        ave_spectrum: bool = True,
        log_matrix: bool = False,
        batch_matrix: bool = False,
    ) -> None:
        super().__init__()
        alpha, patch_factor = a_number("alpha", alpha), a_whole_number("patch_factor", patch_factor)
        if patch_factor < 1:  # 0 divided by zero at the first step
            raise ValueError(f"patch_factor must be a positive integer, got {patch_factor}")
        self.alpha, self.patch_factor = float(alpha), int(patch_factor)
        self.ave_spectrum, self.log_matrix, self.batch_matrix = ave_spectrum, log_matrix, batch_matrix

    def check_crop(self, lq_size: int, scale: int) -> None:
        """Before training: patch_factor must divide the GT crop (the loss may start hours in, at its start_iter)."""
        gt = lq_size * scale
        if gt % self.patch_factor:
            divisors = ", ".join(str(n) for n in range(1, min(gt, 16) + 1) if gt % n == 0)
            raise ValueError(
                f"patch_factor {self.patch_factor} does not divide the GT crop of {gt} px (datasets.train.lq_size "
                f"{lq_size} x scale {scale}); use one that does ({divisors}, ...)"
            )

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        f_sr, f_gt = _spectrum(sr, self.patch_factor), _spectrum(gt, self.patch_factor)
        if self.ave_spectrum:
            f_sr, f_gt = f_sr.mean(0, keepdim=True), f_gt.mean(0, keepdim=True)
        dist = (f_sr - f_gt).abs() ** 2
        with torch.no_grad():
            weight = dist.sqrt() ** self.alpha
            if self.log_matrix:
                weight = torch.log1p(weight)
            if self.batch_matrix:
                weight = weight / weight.max().clamp_min(1e-12)
            else:
                weight = weight / weight.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
            weight = weight.nan_to_num(0.0).clamp(0.0, 1.0)
        return REDUX_SCALE * (weight * dist).mean()
