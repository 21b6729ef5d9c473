"""File names in datasets as users' disks hold them: the Unicode forms macOS and other systems write."""

from __future__ import annotations

import unicodedata

import numpy as np

from upres.data.doctor import check_folders
from upres.data.options import parse_dataset_options
from upres.data.paired import find_pairs
from upres.io.images import write_image


def _write(path, h: int, w: int) -> None:
    write_image(path, np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_lr_and_gt_pair_whatever_unicode_form_their_names_have(tmp_path):
    """A GT folder copied from a Mac (names decomposed, NFD) and LR made on Linux (NFC): "café.png" had "no LR
    partner" though both folders list it with the same letters, and training stopped."""
    nfd, nfc = (unicodedata.normalize(form, "café") for form in ("NFD", "NFC"))
    assert nfd != nfc
    gt, lq = tmp_path / "gt" / nfd / f"{nfd}.png", tmp_path / "lq" / nfc / f"{nfc}.png"
    _write(gt, 16, 16)
    _write(lq, 8, 8)
    opts = parse_dataset_options(
        {
            "type": "pairedimagedataset",
            "dataroot_gt": str(tmp_path / "gt"),
            "dataroot_lq": str(tmp_path / "lq"),
        }
    )
    assert [(p.gt, p.lq) for p in find_pairs(opts)] == [(gt, lq)]
    report = check_folders([tmp_path / "gt"], [tmp_path / "lq"], scale=2, use_cache=False)
    assert [f.kind for f in report.findings] == [] and report.pairs == 1
