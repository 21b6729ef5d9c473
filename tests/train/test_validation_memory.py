"""Validation that runs out of memory retries in smaller tiles instead of stopping the training run."""

from __future__ import annotations

import numpy as np
import torch

from upres.data import build_dataset
from upres.data.options import parse_dataset_options
from upres.io.images import write_image
from upres.train.config import ValOptions
from upres.train.validate import TileMemory, build_metrics, run_validation


class TileHungryUpscaler:
    """A stand-in model: nearest 2x; 'runs out of memory' for whole images and tiles above 64 px."""

    def __init__(self) -> None:
        self.tiles: list[int] = []

    def __call__(self, lq: torch.Tensor, tile: int = 0, overlap: int = 16) -> torch.Tensor:
        self.tiles.append(tile)
        if tile == 0 or tile > 64:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return lq.repeat_interleave(2, -2).repeat_interleave(2, -1)


def test_out_of_memory_in_validation_retries_with_smaller_tiles(tmp_path, caplog):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "a.png", rng.integers(0, 256, (160, 200, 3), dtype=np.uint8))
    ds = build_dataset(parse_dataset_options({"type": "pairedimagedataset", "dataroot_gt": str(tmp_path)}), 2)
    val = ValOptions(metrics={"psnr": {"type": "calculate_psnr", "crop_border": 2}})
    up = TileHungryUpscaler()
    results = run_validation(up, {"val": ds}, build_metrics(val), val, 2, None, 1)
    assert up.tiles[0] == 0 and up.tiles[-1] <= 64 and len(up.tiles) > 1
    assert np.isfinite(results["val"].means["psnr"])
    assert "validation val: out of memory, retrying with tile" in caplog.text


def test_the_tile_an_out_of_memory_came_down_to_is_where_the_next_images_and_validations_start(
    tmp_path, caplog
):
    """Each image of each validation started from the whole image again, ran out of memory and said so."""
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        write_image(tmp_path / f"{name}.png", rng.integers(0, 256, (160, 200, 3), dtype=np.uint8))
    ds = build_dataset(parse_dataset_options({"type": "pairedimagedataset", "dataroot_gt": str(tmp_path)}), 2)
    val = ValOptions(metrics={"psnr": {"type": "calculate_psnr", "crop_border": 2}})
    tiles = TileMemory(val.tile_size)
    up = TileHungryUpscaler()
    first = run_validation(up, {"val": ds}, build_metrics(val), val, 2, None, 1, tiles=tiles)
    came_down = up.tiles[: up.tiles.index(tiles.tile) + 1]  # the first image's attempts
    assert came_down[0] == 0 and tiles.tile <= 64
    assert up.tiles[len(came_down) :] == [tiles.tile] * 2  # the other two images: one attempt each
    up.tiles.clear()
    second = run_validation(up, {"val": ds}, build_metrics(val), val, 2, None, 2, tiles=tiles)
    assert up.tiles == [tiles.tile] * 3
    assert second["val"].means == first["val"].means
    assert caplog.text.count("out of memory") == len(came_down) - 1
    assert (
        f"and starting from it from now on (set val.tile_size: {tiles.tile} to avoid the retries)"
        in caplog.text
    )
