from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (only CI and developer machines have it)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def basicsr_module():
    """basicsr 1.4.2 (dev extra) as an independent reference; skips when it is not installed."""
    import sys

    pytest.importorskip("cv2", reason="the basicsr reference needs opencv (dev extra)")
    import torchvision.transforms.functional as tvf

    # basicsr 1.4.2 imports a module torchvision removed in 0.17; its functions live in `functional` now.
    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    return pytest.importorskip("basicsr", reason="basicsr==1.4.2 (dev extra) is the reference")
