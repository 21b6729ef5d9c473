"""Inference on each device: the fp16 fallback of `--precision auto` and out-of-memory halving of `--tile auto`.

The same bodies run on the CPU and, where there is one, on a CUDA GPU (skipped elsewhere, and said so)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from upscale_helpers import nearest, run_upscale

from devices import DEVICES, needs_cuda
from upres.archs import build_network
from upres.infer.render import ImageEngine, render_image
from upres.io.images import decode_image, write_image
from upres.io.model_files import LoadedModel, save_model


def _overflowing_compact(path):
    """Finite in fp32, inf in fp16: the first conv multiplies by 3e4 (sums exceed 65504); the tail is zero, so the
    fp32 output is nearest upsampling exactly, TF32 or not."""
    net, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.body[0].weight.fill_(3e4)
    return save_model(path, net, info)


@needs_cuda
def test_auto_precision_on_cuda_is_fp16_and_redoes_a_non_finite_tile_in_fp32(tmp_path, rng, capsys):
    model = _overflowing_compact(tmp_path / "overflow.safetensors")
    arr = rng.integers(128, 255, (12, 10, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", arr)
    code, out, err = run_upscale(
        capsys,
        "-m",
        model,
        tmp_path / "a.png",
        "-o",
        tmp_path / "o",
        "--precision",
        "auto",
        "--device",
        "cuda",
    )
    assert code == 0, err
    assert "half precision gave non-finite or black results for 1 file(s)" in out
    assert "1 tile(s) redone in fp32" in out
    np.testing.assert_array_equal(decode_image(tmp_path / "o" / "a.png").array, nearest(arr, 2))


class _NearestThatAllocatesTooMuch(torch.nn.Module):
    """Nearest 2x upscaler whose inputs above 24x24 ask the allocator for a petabyte: a real out-of-memory error
    from the device's allocator (CUDA's caching allocator, or the CPU's), not a raised stand-in."""

    def forward(self, x):
        if x.shape[-1] * x.shape[-2] > 24 * 24 * 4 * 4:
            torch.empty(1 << 50, dtype=torch.uint8, device=x.device)
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")


@pytest.mark.parametrize("device", DEVICES)
def test_a_real_out_of_memory_halves_the_tile_and_keeps_the_result_exact(rng, device):
    _, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    engine = ImageEngine(
        LoadedModel(_NearestThatAllocatesTooMuch(), info), torch.device(device), tile="auto", overlap=8
    )
    arr = rng.integers(0, 255, (150, 130, 3), dtype=np.uint8)
    np.testing.assert_array_equal(render_image(engine, arr), nearest(arr, 2))
    assert engine.tile_cap is not None and engine.tile_cap <= 64
    assert any(note.startswith("out of memory; retrying with tile") for note in engine.notes)


@pytest.mark.parametrize("device", DEVICES)
def test_half_precision_tiles_are_checked_once_per_row_and_only_bad_ones_redone(
    tmp_path, monkeypatch, device
):
    from upres.infer.tiling import Upscaler
    from upres.io.model_files import load_model

    loaded = load_model(_overflowing_compact(tmp_path / "overflow.safetensors"))
    up = Upscaler(loaded.module, 2, torch.device(device), torch.float16)
    x = torch.full((1, 3, 24, 24), 0.002)  # fp16 holds 3e4 * 27 * 0.002 ...
    x[..., 8:16, 16:24] = 0.9  # ... but not 3e4 * 27 * 0.9: one tile of nine overflows
    reads: list[str] = []
    for name in ("item", "tolist", "__bool__"):
        real = getattr(torch.Tensor, name)

        def spy(self, *a, _name=name, _real=real, **k):
            reads.append(_name)
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, spy)
    out = up(x.to(device), tile=8, overlap=0)
    monkeypatch.undo()
    assert reads == ["tolist"] * 3  # one read per tile row, not one per tile
    assert up.fp32_fallbacks == 1
    expected = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    torch.testing.assert_close(out.cpu(), expected, atol=1e-3, rtol=0)  # fp16 rounding of 0.002
