"""The peak memory a CPU run reports, in MB on every system."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch

resource = pytest.importorskip("resource")  # Windows has no resource module (the peak is then unknown)


@pytest.mark.parametrize(("platform", "maxrss"), [("linux", 512 * 1024), ("darwin", 512 * 2**20)])
def test_the_cpu_peak_is_in_mb_on_linux_and_macos(monkeypatch, platform, maxrss):
    """macOS gives ru_maxrss in bytes, Linux in KiB: a Mac's 512 MB run reported a peak of 524288 MB."""
    from upres.train.memory import peak_memory_mb

    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=maxrss))
    assert peak_memory_mb(torch.device("cpu")) == 512.0
