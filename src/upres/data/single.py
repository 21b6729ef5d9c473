"""`singleimagedataset`: LR images only, for inference lists; items `{"lq", "lq_path"}`."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from upres.data.options import DatasetOptions, as_list
from upres.data.read import array_to_rgb, read_array, rgb_to_y
from upres.errors import ConfigError
from upres.io.image_files import list_images, other_files_hint
from upres.io.missing_folder import no_such_folder


class SingleImageDataset(Dataset):
    def __init__(self, opts: DatasetOptions, scale: int, seed: int = 0) -> None:
        self.opts = opts
        roots = as_list(opts.dataroot_lq)
        if not roots:
            raise ConfigError(
                f"dataset {opts.name or opts.type!r}: dataroot_lq is required for singleimagedataset"
            )
        self.paths: list[Path] = []
        for r in roots:
            if not Path(r).exists():
                raise ConfigError(f"dataroot_lq: {no_such_folder(r)}")
            self.paths += list_images(r)
        if not self.paths:
            raise ConfigError(f"dataroot_lq {', '.join(roots)}: no images found{other_files_hint(roots)}")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        lq = array_to_rgb(read_array(path), self.opts.alpha)
        if self.opts.color == "y":
            lq = rgb_to_y(lq)
        return {"lq": lq, "lq_path": str(path)}


def build_single(opts: DatasetOptions, scale: int, seed: int) -> SingleImageDataset:
    return SingleImageDataset(opts, scale, seed)
