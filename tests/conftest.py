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


def import_basicsr(module: str):
    """Import a basicsr 1.4.2 module (the reference implementation), or skip when it is not installed."""
    import sys

    try:
        import torchvision.transforms.functional as tvf
    except ImportError:
        pytest.skip("torchvision is needed to import basicsr")
    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.skip(f"basicsr 1.4.2 (the reference implementation, dev extra) is not importable: {exc}")


@pytest.fixture
def basicsr_module():
    """basicsr 1.4.2 (dev extra) as an independent reference; skips when it is not installed."""
    pytest.importorskip("cv2", reason="the basicsr reference needs opencv (dev extra)")
    return import_basicsr("basicsr")
