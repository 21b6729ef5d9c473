"""Does each LR look like its GT made smaller? Sizes cannot show a pair of two different pictures of one size (files
numbered from 0 in one folder and from 1 in the other, a swapped pair), or an LR flipped against its GT: training
then learns from noise, without a word.

Each image gets a 16x16 gray outline (block means) while `upres doctor` decodes it anyway; a pair is compared by the
correlation of the outlines' detail: each outline less its 4x4 block means, because unrelated photos share their
broad gradient (sky above, ground below). On photos (SunHays80, Set14), LR and GT of one picture correlate above 0.95
through heavy blur, noise and JPEG at quality 5 (about 0.7 for a flat picture under heavy noise); 99% of pairs of two
different pictures stay below 0.45. A misnumbered folder is then named on nearly every pair.
"""

from __future__ import annotations

import base64

import numpy as np

from upres.data.doctor_findings import Finding, ImageInfo
from upres.data.paired import Pair

SIDE = 16  # the outline's side; images narrower than this get none
BLOCK = 4  # detail: each outline less the means of its BLOCK x BLOCK cells
THRESHOLD = 0.5
_MIN_DETAIL = 2.0  # levels of 255: flatter outlines are mostly rounding, and their correlation says nothing


class Outline:
    """Block means of an image read in bands of whole rows."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.sums = np.zeros((SIDE, SIDE))
        self.peak: float | None = None
        self.channels = 1
        self._col_starts = np.searchsorted((np.arange(width) * SIDE) // width, np.arange(SIDE))

    def add(self, band: np.ndarray, y: int) -> None:
        h, w, c = band.shape
        if self.peak is None:
            self.peak = 65535.0 if band.dtype == np.uint16 else 255.0 if band.dtype == np.uint8 else 1.0
            self.channels = 3 if c >= 3 else 1
        # Integer sums (floats for float images) until the one division in encoded(): a 16-bit copy of an 8-bit
        # picture (each level x 257) gets its outline exactly. Columns and channels are summed in one pass over the
        # rows as stored (a channel axis sum alone took longer than decoding a JPEG).
        exact = np.int64 if band.dtype.kind in "ui" else np.float64
        by_column = np.add.reduceat(
            np.ascontiguousarray(band).reshape(h, w * c), self._col_starts * c, axis=1, dtype=exact
        )
        if c in (2, 4):  # less the alpha channel
            by_column -= np.add.reduceat(band[..., c - 1], self._col_starts, axis=1, dtype=exact)
        np.add.at(self.sums, ((y + np.arange(h)) * SIDE) // self.height, by_column)

    def encoded(self) -> str:
        rows = np.bincount((np.arange(self.height) * SIDE) // self.height, minlength=SIDE)
        cols = np.bincount((np.arange(self.width) * SIDE) // self.width, minlength=SIDE)
        means = self.sums / (self.channels * (self.peak or 255.0) / 255.0) / np.outer(rows, cols)
        return base64.b64encode(np.clip(np.rint(means), 0, 255).astype(np.uint8).tobytes()).decode()


def outline_for(height: int, width: int) -> Outline | None:
    return Outline(height, width) if min(height, width) >= SIDE else None


def detail_correlation(a: str, b: str) -> float | None:
    """The correlation of two encoded outlines' detail; None when either is missing or too flat to tell."""
    if not a or not b:
        return None
    details = []
    for text in (a, b):
        t = np.frombuffer(base64.b64decode(text), np.uint8).astype(np.float64).reshape(SIDE, SIDE)
        cells = t.reshape(SIDE // BLOCK, BLOCK, SIDE // BLOCK, BLOCK).mean(axis=(1, 3))
        d = t - np.kron(cells, np.ones((BLOCK, BLOCK)))
        if d.std() < _MIN_DETAIL:
            return None
        details.append(d - d.mean())
    x, y = details
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


def content_mismatch(pair: Pair, gt: ImageInfo, lq: ImageInfo) -> Finding | None:
    r = detail_correlation(gt.outline, lq.outline)
    if r is None or r >= THRESHOLD:
        return None
    return Finding(
        "warning",
        "lr_content",
        str(pair.lq),
        f"does not look like its GT {pair.gt} made smaller (their outlines correlate {r:.2f}; an LR made from its GT "
        "gives over 0.9): two different pictures, or one flipped or turned against the other? Look at the pair, "
        "and at how the folders' files are named",
    )
