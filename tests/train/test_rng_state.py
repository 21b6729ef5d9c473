"""The random streams a training state holds: this process's, restored exactly; a GPU's only on a GPU."""

from __future__ import annotations

import random

import numpy as np
import torch

from upres.train.checkpoint import capture_rng, restore_rng
from upres.train.state import rng_for_rank


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


def test_each_process_takes_its_own_streams_and_one_the_state_lacks_keeps_its_seeded_ones():
    ranks = [{"rank": r} for r in range(2)]
    two = {"rng": ranks[0], "rng_by_rank": ranks}
    assert [rng_for_rank(two, r) for r in range(4)] == [ranks[0], ranks[1], None, None]
    one = {"rng": ranks[0]}  # written by one process
    assert [rng_for_rank(one, r) for r in range(2)] == [ranks[0], None]
