"""upres.host_to_device: constants made once per device and dtype; uploads that never wait for a GPU."""

from __future__ import annotations

import pytest
import torch

from devices import DEVICES
from upres import host_to_device
from upres.host_to_device import constant, upload


@pytest.mark.parametrize("device", DEVICES)
def test_a_constant_is_made_once_per_key_device_and_dtype(device):
    calls = []

    def make():
        calls.append(1)
        return torch.tensor([0.25, 0.5], dtype=torch.float64)

    a = constant(("test-kernel", device), make, device)
    assert constant(("test-kernel", device), make, torch.device(device)) is a and len(calls) == 1
    half = constant(("test-kernel", device), make, device, torch.float16)
    assert len(calls) == 2 and half.dtype == torch.float16 and a.dtype == torch.float64
    assert a.device.type == device and torch.equal(a.cpu(), torch.tensor([0.25, 0.5], dtype=torch.float64))


def test_the_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(host_to_device, "_CACHE", {})
    for i in range(host_to_device._LIMIT + 10):
        constant(("bounded", i), lambda: torch.zeros(1), "cpu")
    assert len(host_to_device._CACHE) == host_to_device._LIMIT
    assert ("bounded", 0) not in {k[0] for k in host_to_device._CACHE}  # the oldest went first


@pytest.mark.parametrize("device", DEVICES)
def test_upload_keeps_every_value(device):
    perm = torch.randperm(1000, generator=torch.Generator().manual_seed(0))
    up = upload(perm, torch.device(device))
    assert up.device.type == device and torch.equal(up.cpu(), perm)
    if device == "cpu":
        assert up is perm  # nothing to copy
