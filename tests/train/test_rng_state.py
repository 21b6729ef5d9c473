"""The random streams a training state holds: this process's, restored exactly; a GPU's only on a GPU."""

from __future__ import annotations

import random

import numpy as np
import torch

from upres.train.checkpoint import capture_rng, restore_rng


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), torch.rand(3)


def test_every_stream_is_restored_exactly_and_a_cpu_run_keeps_no_gpu_stream():
    state = capture_rng(torch.device("cpu"))
    assert "cuda" not in state
    first = _draws()
    restore_rng(state, torch.device("cpu"))
    again = _draws()
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])


def test_a_state_with_every_gpus_stream_from_an_older_version_resumes_on_the_cpu():
    # Older states held `torch.cuda.get_rng_state_all()`: one ByteTensor per GPU the saving process saw.
    state = {**capture_rng(torch.device("cpu")), "cuda": [torch.zeros(16, dtype=torch.uint8)] * 8}
    first = _draws()
    restore_rng(state, torch.device("cpu"))
    assert torch.equal(first[2], _draws()[2])
