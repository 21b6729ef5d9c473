"""traiNNer-redux's `high_order_degradations_debug`: the pairs training really sees, saved as pictures.

`upres degrade` previews the pipeline on chosen images; this shows the training batches themselves, after the
crops, flips, degradations and the pair pool, beside the targets the losses compare with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from upres.io.images import write_image


def otf_debug_sheet(lq: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """One row per sample: the LR enlarged by pixel repetition to the target's size, then the target (8-bit RGB)."""
    lq = lq.detach().float().cpu()
    target = target.detach().float().cpu()
    big = F.interpolate(lq, size=target.shape[-2:], mode="nearest")
    rows = torch.cat([big, target], dim=-1)  # N, C, H, 2W
    sheet = torch.cat(list(rows), dim=-2)  # C, N*H, 2W
    if sheet.shape[0] == 1:
        sheet = sheet.expand(3, -1, -1)
    return (sheet.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_otf_debug(folder: Path, iteration: int, micro: int, lq: torch.Tensor, target: torch.Tensor) -> Path:
    suffix = f"_{micro}" if micro else ""
    return write_image(folder / f"{iteration:06d}{suffix}_otf.png", otf_debug_sheet(lq, target))
