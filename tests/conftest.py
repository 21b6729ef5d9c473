from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ref_basicsr import import_basicsr

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (only CI and developer machines have it)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own empty cache folder: no test sees another's cached image checks, or the user's."""
    monkeypatch.setenv("UPRES_CACHE_DIR", str(tmp_path_factory.mktemp("upres-cache")))


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def basicsr_module():
    """basicsr 1.4.2 (dev extra) as an independent reference; skips when it is not installed."""
    pytest.importorskip("cv2", reason="the basicsr reference needs opencv (dev extra)")
    return import_basicsr("basicsr")
