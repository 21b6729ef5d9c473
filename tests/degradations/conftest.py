from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch


def _basicsr(name: str):
    pytest.importorskip("torchvision")
    pytest.importorskip("cv2")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        from basicsr_ref import load
    finally:
        sys.path.pop(0)
    try:
        return load(name)
    except ImportError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def basicsr_degradations():
    """basicsr 1.4.2's `data/degradations.py` (the `dev` extra), loaded without its heavy package __init__."""
    return _basicsr("degradations")


@pytest.fixture(scope="session")
def basicsr_filters():
    """basicsr 1.4.2's `utils/img_process_util.py` (filter2D, USMSharp)."""
    return _basicsr("img_process_util")


@pytest.fixture
def photo() -> torch.Tensor:
    """A natural 3x128x128 photo crop in [0, 1] (scikit-image's bundled astronaut)."""
    from skimage import data

    arr = data.astronaut()[64:192, 160:288]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float() / 255.0


@pytest.fixture(autouse=True)
def _one_thread():
    # These are many small ops: on a loaded machine an OpenMP pool spinning on 2 threads is ~10x slower than one.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
