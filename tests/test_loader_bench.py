"""`bench/bench_dataloading.py --vs-basicsr` on a few synthetic photos, so the per-worker comparison behind
docs/benchmarks.md cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ref_basicsr import import_basicsr

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_vs_basicsr_prints_a_ratio_for_every_case(tmp_path):
    import_basicsr("basicsr.data.realesrgan_dataset")
    photos = tmp_path / "data" / "train" / "SunHays80"
    photos.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (500, 600, 3), dtype=np.uint8)).save(
            photos / f"p{i}.jpg", quality=90
        )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        str(REPO / "bench" / "bench_dataloading.py"),
        "--vs-basicsr",
        "--data",
        str(tmp_path / "data"),
    ]
    proc = subprocess.run(
        [*cmd, "--work", str(tmp_path / "w"), "--rounds", "1", "--samples", "4"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if "upres/basicsr" in line]
    assert [line.split(":")[0].rsplit(" (", 1)[0] for line in lines] == [
        "paired PNG tiles 192 px, x2, lq 32, flips+rotations",
        "paired PNG tiles 480 px, x4, lq 64, flips+rotations",
        "on the fly, SunHays80 JPEGs (~1024 px), x4, lq 64",
    ]
