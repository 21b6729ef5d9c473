"""--tile auto, out-of-memory halving, device selection and splitting files among devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from upscale_helpers import nearest

from upres.archs import build_network
from upres.devices import resolve_devices
from upres.errors import UpresError
from upres.infer import autotile
from upres.infer.autotile import MIN_TILE, bytes_per_input_pixel, pick_tile, retry_halving
from upres.infer.batch import UpscaleOptions, run_batch
from upres.infer.render import ImageEngine, render_image
from upres.io.images import decode_image, write_image
from upres.io.model_files import LoadedModel


def test_pick_tile_is_whole_image_when_it_fits_and_shrinks_with_the_budget():
    args = dict(height=2048, width=2048, scale=4, out_channels=3, per_pixel=1024.0, overlap=16)
    assert pick_tile(**args, budget=1 << 40) == 0
    tiles = [pick_tile(**args, budget=b << 20) for b in (4096, 1024, 512, 256)]
    assert all(t > 0 and t % 16 == 0 for t in tiles)
    assert tiles == sorted(tiles, reverse=True) and tiles[0] > tiles[-1]
    assert pick_tile(**args, budget=1) == MIN_TILE  # never below the minimum


def test_picked_tile_fits_the_budget_and_the_next_size_up_does_not():
    per_pixel, budget, overlap, width = 2000.0, 300 << 20, 16, 1500
    tile = pick_tile(1500, width, 4, 3, per_pixel, budget, overlap)

    def cost(t):
        ext = t + 2 * overlap
        return per_pixel * ext * ext + 3 * ext * 4 * width * 4 * 4 * 4

    assert cost(tile) <= budget < cost(tile + 16)


def test_bytes_per_pixel_grows_with_width_and_scale():
    small = bytes_per_input_pixel(build_network("compact", scale=2, num_feat=16, num_conv=2)[0], 3)
    wide = bytes_per_input_pixel(build_network("compact", scale=2, num_feat=64, num_conv=2)[0], 3)
    x4 = bytes_per_input_pixel(build_network("esrgan", scale=4, num_feat=16, num_block=1)[0], 3)
    x2 = bytes_per_input_pixel(build_network("esrgan", scale=2, num_feat=16, num_block=1)[0], 3)
    assert wide > small > 0 and x4 > x2 > 0


def _oom(msg="CUDA out of memory. Tried to allocate 2.00 GiB"):
    return torch.cuda.OutOfMemoryError(msg)


def test_retry_halving_halves_until_it_fits():
    tried, retried = [], []

    def run(tile):
        tried.append(tile)
        if tile == 0 or tile > 100:
            raise _oom()
        return tile

    assert retry_halving(run, 0, 512, retried.append) == 64
    assert tried == [0, 256, 128, 64] and retried == [256, 128, 64]
    with pytest.raises(RuntimeError, match="something else"):
        retry_halving(lambda t: (_ for _ in ()).throw(RuntimeError("something else")), 64, 64, retried.append)


@pytest.mark.parametrize(
    "text",
    [
        # Linux/macOS (posix_memalign) and Windows (_aligned_malloc): the Windows one was taken for another error,
        # so an image failed there instead of being redone in smaller tiles.
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
        "allocate 70368744177664 bytes. Error code 12 (Cannot allocate memory)",
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to allocate "
        "911360 bytes.",
    ],
)
def test_the_cpu_allocators_refusal_halves_the_tile_on_every_system(text):
    def run(tile):
        if tile == 0 or tile > 100:
            raise RuntimeError(text)
        return tile

    retried = []
    assert retry_halving(run, 0, 512, retried.append) == 64
    assert retried == [256, 128, 64]


class _NearestThatRunsOutOfMemory(torch.nn.Module):
    """Nearest 2x upscaler that 'runs out of memory' above 24x24 inputs, like a too-big tile on a GPU."""

    def forward(self, x):
        if x.shape[-1] * x.shape[-2] > 24 * 24 * 4 * 4:
            raise _oom()
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")


def test_engine_halves_the_tile_on_out_of_memory_and_keeps_the_result_exact(rng):
    _, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    engine = ImageEngine(
        LoadedModel(_NearestThatRunsOutOfMemory(), info), torch.device("cpu"), tile=0, overlap=8
    )
    arr = rng.integers(0, 255, (150, 130, 3), dtype=np.uint8)
    np.testing.assert_array_equal(render_image(engine, arr), nearest(arr, 2))
    assert engine.tile_cap is not None and engine.tile_cap <= 64
    assert engine.notes[0] == "out of memory; retrying with tile 64"


def test_auto_tile_uses_the_memory_budget(monkeypatch, rng):
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=1)
    engine = ImageEngine(LoadedModel(net, info), torch.device("cpu"), tile="auto", overlap=8)
    seen = []
    real_bands = engine.up.bands

    def spy(x, tile, overlap):
        seen.append(tile)
        return real_bands(x, tile, overlap)

    monkeypatch.setattr(engine.up, "bands", spy)
    arr = rng.integers(0, 255, (100, 90, 3), dtype=np.uint8)
    monkeypatch.setattr(autotile, "available_ram", lambda: 64 << 30)
    whole = render_image(engine, arr)
    monkeypatch.setattr(autotile, "available_ram", lambda: 4 * 2 << 20)  # budget: a quarter, 2 MiB
    tiled = render_image(engine, arr)
    assert seen[0] == 0 and 0 < seen[1] < 100
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_resolve_devices():
    assert resolve_devices("cpu") == [torch.device("cpu")]
    assert resolve_devices("cpu,cpu") == [torch.device("cpu")] * 2
    if not torch.cuda.is_available():
        assert resolve_devices("auto") == [torch.device("cpu")]
        with pytest.raises(UpresError, match="--device cuda:1: no CUDA GPU is visible; use --device cpu"):
            resolve_devices("cuda:1")
    with pytest.raises(UpresError, match="'tpu' is not a device"):
        resolve_devices("tpu")


def test_files_are_split_among_devices_each_processed_once(tmp_path, rng, identity_x2):
    arrays = {}
    for i in range(6):
        arrays[f"f{i}.png"] = rng.integers(0, 255, (16 + i, 12, 3), dtype=np.uint8)
        write_image(tmp_path / "in" / f"f{i}.png", arrays[f"f{i}.png"])
    opts = UpscaleOptions(identity_x2, [tmp_path / "in"], tmp_path / "out", device="cpu,cpu", tile=8)
    engines_made = []
    original_init = ImageEngine.__post_init__

    def counting_init(self):
        engines_made.append(self)
        original_init(self)

    ImageEngine.__post_init__ = counting_init
    try:
        summary = run_batch(opts)
    finally:
        ImageEngine.__post_init__ = original_init
    assert len(engines_made) == 2
    assert engines_made[0].up.module is not engines_made[1].up.module  # one model copy per device
    assert sorted(r.source.name for r in summary.results) == sorted(arrays)
    assert all(r.status == "done" for r in summary.results) and summary.exit_code == 0
    for name, arr in arrays.items():
        np.testing.assert_array_equal(decode_image(tmp_path / "out" / name).array, nearest(arr, 2))
