"""The error that stops training on too many bad samples is one line naming the files, also when a loader worker
process meets it: it came out as "Caught TooManyBadSamples in DataLoader worker process 1.\\nOriginal Traceback..."
(the worker's traceback on one line), and from the main process with "\\n" between the files."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from torch.utils.data import DataLoader

from upres.data import build_dataset
from upres.data.bad_samples import BadSampleGuard, TooManyBadSamples
from upres.data.options import parse_dataset_options
from upres.io.images import write_image


def _pairs_with_two_wrong_scales(root):
    rng = np.random.default_rng(0)
    for i in range(120):
        write_image(root / "gt" / f"{i:03d}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        side = 5 if i in (5, 6) else 8
        write_image(root / "lq" / f"{i:03d}.png", rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
    opts = {"type": "pairedimagedataset", "dataroot_gt": str(root / "gt"), "dataroot_lq": str(root / "lq")}
    return build_dataset(parse_dataset_options({**opts, "lq_size": 4}), scale=2, seed=0)


def _expected(root) -> str:
    bad = [
        f"{root}/gt/{i:03d}.png is 16x16 but its LR {root}/lq/{i:03d}.png is 5x5: not scale 2 (expected GT 10x10)"
        for i in (5, 6)
    ]
    return (
        f"2 of 120 samples are bad (more than 1%): {bad[0]}; {bad[1]}; fix or remove them (`upres doctor` lists "
        "every problem)"
    )


@pytest.mark.parametrize("workers", [0, 1])
def test_too_many_bad_samples_is_one_line_from_a_worker_too(tmp_path, workers):
    ds = _pairs_with_two_wrong_scales(tmp_path)
    with pytest.raises(TooManyBadSamples) as caught:
        list(DataLoader(ds, batch_size=len(ds), num_workers=workers))
    assert str(caught.value) == _expected(tmp_path)


def test_the_path_is_said_once_and_past_five_files_the_rest_are_counted(caplog):
    guard = BadSampleGuard(100, max_fraction=0.06)
    with caplog.at_level(logging.WARNING, logger="upres.data"):
        guard.record("a.png", "a.png: cannot read image (truncated)")
    assert caplog.messages == ["skipping bad sample a.png: cannot read image (truncated)"]
    with pytest.raises(TooManyBadSamples) as caught:
        for name in "bcdefg":
            guard.record(f"{name}.png", "unreadable")
    listing = "; ".join(
        f"{n}.png: {r}" for n, r in zip("abcde", ["cannot read image (truncated)"] + ["unreadable"] * 4)
    )
    assert str(caught.value) == (
        f"7 of 100 samples are bad (more than 6%): {listing}; and 2 more; fix or remove them (`upres doctor` lists "
        "every problem)"
    )
