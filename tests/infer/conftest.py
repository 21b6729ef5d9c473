"""Fixtures for the upscale tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from upscale_helpers import make_identity_model


@pytest.fixture
def identity_x2(tmp_path: Path) -> Path:
    return make_identity_model(tmp_path / "identity_x2.safetensors", 2)


@pytest.fixture
def identity_x1(tmp_path: Path) -> Path:
    return make_identity_model(tmp_path / "identity_x1.safetensors", 1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
