"""What crosses between the GPU and the host in inference: results bound for the CPU land in pinned memory with
the layout `.to` would keep; frames and images go up and come back as 8/16-bit levels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from upres.infer.render import download, quantise, upload_planes
from upres.infer.tiling import PINNED_MAX_BYTES, _to, to_host

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
def test_a_gpu_result_for_the_cpu_lands_in_pinned_memory_with_its_strides():
    t = torch.rand(2, 3, 40, 56, device="cuda").contiguous(memory_format=torch.channels_last)
    host = _to(t, torch.device("cpu"))
    assert host.device.type == "cpu" and host.is_pinned()
    assert host.stride() == t.stride() and torch.equal(host, t.cpu())
    # what `download` hands to numpy: a permuted (dense) view keeps its layout, a sliced one comes back contiguous
    assert torch.equal(to_host(t.permute(0, 2, 3, 1)), t.cpu().permute(0, 2, 3, 1))
    sliced = to_host(t[..., :7])
    assert sliced.is_pinned() and torch.equal(sliced, t.cpu()[..., :7])


@needs_cuda
def test_a_very_large_result_stays_pageable():
    t = torch.zeros(PINNED_MAX_BYTES // 4 + 1, device="cuda")
    assert not to_host(t).is_pinned()


def test_on_the_cpu_the_result_is_the_tensor_itself():
    t = torch.rand(1, 3, 4, 4)
    assert _to(t, torch.device("cpu")) is t


@pytest.mark.parametrize("dtype,peak", [(np.uint8, 255), (np.uint16, 65535)])
def test_levels_go_up_as_they_are_and_come_back_rounded_and_clamped(dtype, peak):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, peak + 1, size=(3, 5, 7, 3)).astype(dtype)
    x = upload_planes(frames, torch.device("cpu"))
    assert x.shape == (3, 3, 5, 7) and x.dtype == torch.float32
    assert np.array_equal(x.permute(0, 2, 3, 1).numpy(), frames.astype(np.float32))
    assert upload_planes(frames[0], torch.device("cpu")).shape == (1, 3, 5, 7)
    y = torch.tensor([-0.2, 0.0, 0.4 / peak, 0.6 / peak, 0.5, 1.0, 1.3])
    levels = download(quantise(y, float(peak)))
    assert levels.tolist() == [0, 0, 0, 1, round(0.5 * peak), peak, peak]
    assert levels.dtype == (np.uint8 if peak == 255 else np.int32)
