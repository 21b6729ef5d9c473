"""traiNNer-redux's thick-lines step (`thicklines_prob`): dark strokes of line art made about a pixel wider.

A 3x3 grey-scale erosion (the darkest neighbour) is blended in at one quarter, so dark lines spread by a pixel at
a quarter of their contrast while flat areas stay as they are: the LR then teaches the model to thin lines back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KERNEL = 3
EROSION_SHARE = 0.25


def erode(x: torch.Tensor, kernel: int = KERNEL) -> torch.Tensor:
    """Each pixel's darkest value in its kernel x kernel neighbourhood (the border only sees real pixels)."""
    return -F.max_pool2d(-x, kernel, stride=1, padding=kernel // 2)


def thick_lines(x: torch.Tensor) -> torch.Tensor:
    """(N,C,H,W) in [0, 1] -> the same with dark lines thickened."""
    return x * (1 - EROSION_SHARE) + erode(x) * EROSION_SHARE
