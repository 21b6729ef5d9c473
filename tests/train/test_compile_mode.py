"""compile_mode (traiNNer-redux's key) is torch.compile's mode when use_compile is on."""

from __future__ import annotations

import pytest
import torch
from train_helpers import base_options, merge

from upres.errors import ConfigError
from upres.train.config import parse_options
from upres.train.loop import train


def test_compile_mode_reaches_torch_compile(tmp_path, hr_folder, monkeypatch):
    seen = []

    def fake_compile(model, **kwargs):
        seen.append(kwargs)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    opts = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {"use_compile": True, "compile_mode": "reduce-overhead", "train": {"total_iter": 1}},
    )
    train(parse_options(opts))
    assert seen == [{"mode": "reduce-overhead"}]


def test_default_compile_mode_is_redux_and_a_wrong_one_is_named(hr_folder, tmp_path):
    assert parse_options(base_options(hr_folder, tmp_path)).compile_mode == "max-autotune-no-cudagraphs"
    with pytest.raises(ConfigError, match="compile_mode: Input should be 'default', 'reduce-overhead'"):
        parse_options({**base_options(hr_folder, tmp_path), "compile_mode": "fast"})


@pytest.mark.parametrize("use_compile", [True, False])
def test_a_compiled_generator_marks_each_iteration_for_cuda_graphs(
    tmp_path, hr_folder, monkeypatch, use_compile
):
    """compile_mode reduce-overhead/max-autotune replay G as CUDA graphs, which need to know where an iteration
    starts: one mark per iteration when G is compiled, none when it is not."""

    class Compiled(torch.nn.Module):  # what torch.compile returns: the module under `_orig_mod`
        def __init__(self, model):
            super().__init__()
            self._orig_mod = model

        def forward(self, x):
            return self._orig_mod(x)

    marks = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: Compiled(model))
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    opts = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {"use_compile": use_compile, "compile_mode": "reduce-overhead", "train": {"total_iter": 3}},
    )
    train(parse_options(opts), device="cpu")
    assert len(marks) == (3 if use_compile else 0)
