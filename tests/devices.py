"""Devices a test body runs on: the CPU always, CUDA where there is a GPU (skipped, and said so, elsewhere)."""

from __future__ import annotations

import pytest
import torch

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]
