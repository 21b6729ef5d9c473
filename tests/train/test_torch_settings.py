"""A run's process-wide torch settings (deterministic algorithms, cuDNN autotuning, fp32 matmul precision) hold for
that run only: from Python, a deterministic run left every later run and the caller's own code deterministic."""

from __future__ import annotations

import torch
from train_helpers import base_options

import upres.train.loop as loop
from upres.train.config import parse_options


def _settings() -> tuple:
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.get_float32_matmul_precision(),
    )


def test_each_run_has_its_own_settings_and_the_caller_gets_its_own_back(tmp_path, hr_folder, monkeypatch):
    seen = []
    build_run = loop.build_run

    def spy(*args, **kwargs):
        seen.append((torch.are_deterministic_algorithms_enabled(), torch.get_float32_matmul_precision()))
        return build_run(*args, **kwargs)

    monkeypatch.setattr(loop, "build_run", spy)
    before = _settings()
    first = base_options(hr_folder, tmp_path / "a", total_iter=2)
    first["fast_matmul"] = True  # deterministic: true in base_options
    loop.train(parse_options(first))
    assert _settings() == before
    second = base_options(hr_folder, tmp_path / "b", total_iter=2)
    second["deterministic"] = False
    loop.train(parse_options(second))
    assert seen == [(True, "high"), (False, "highest")]
    assert _settings() == before


def test_settings_come_back_when_a_run_fails(tmp_path, hr_folder, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("data went away")

    monkeypatch.setattr(loop, "build_run", broken)
    before = _settings()
    opts = base_options(hr_folder, tmp_path / "a", total_iter=2)
    opts["fast_matmul"] = True
    try:
        loop.train(parse_options(opts))
    except RuntimeError as exc:
        assert str(exc) == "data went away"
    else:
        raise AssertionError("the run did not fail")
    assert _settings() == before
