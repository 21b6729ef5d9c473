"""`realesrgandataset`: HR images only; the LR of each random crop is made by the degradation pipeline.

Each item is reproducible from (seed, epoch, index): the crop, flips and every degradation draw come from
generators seeded with that triple, so a data worker on any OS (spawn or fork) produces the same pair.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from torch.utils.data import Dataset

from upres.data.bad_samples import BadSampleGuard
from upres.data.degradations.options import DEGRADATION_KEYS, DegradationOptions, parse_degradation_options
from upres.data.degradations.pipeline import degrade, make_generators
from upres.data.options import require_folder
from upres.data.read import AlphaMode, ImageSource, array_to_rgb, rgb_to_y
from upres.errors import ConfigError
from upres.io.image_files import list_images, other_files_hint

# GT pixels degraded around each crop and cut away after (traiNNer-redux's realesrgan_dataset + feed_data).
DEGRADE_MARGIN = 32

log = logging.getLogger(__name__)


class OTFDatasetOptions(BaseModel):
    """The dataset-block keys this dataset reads; other keys of the block (name, type, workers...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    dataroot_gt: str | list[str]
    meta_info: str | None = None
    lq_size: int | None = None
    gt_size: int | None = None
    use_hflip: bool = True
    use_rot: bool = True
    alpha: Literal["white", "black", "drop"] = "white"
    color: Literal["rgb", "y"] | None = None
    dataset_enlarge_ratio: int = 1

    @model_validator(mode="after")
    def _sizes(self) -> OTFDatasetOptions:
        if self.lq_size is None and self.gt_size is None:
            raise ValueError("lq_size: set the LR crop size (or gt_size = lq_size x scale)")
        for name in ("lq_size", "gt_size"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"{name}: must be >= 1, got {v}")
        return self

    def crop_size(self, scale: int) -> int:
        """GT crop side; lq_size wins, gt_size must then agree."""
        if self.lq_size is not None:
            if self.gt_size is not None and self.gt_size != self.lq_size * scale:
                raise ConfigError(f"gt_size: {self.gt_size} is not lq_size x scale = {self.lq_size * scale}")
            return self.lq_size * scale
        assert self.gt_size is not None
        if self.gt_size % scale:
            raise ConfigError(f"gt_size: {self.gt_size} is not a multiple of scale {scale}")
        return self.gt_size


def degradation_options_from(
    dataset_opts: Mapping[str, Any],
    top_level: Mapping[str, Any] | None = None,
    where: str = "options",
    block: str | None = None,
) -> DegradationOptions:
    """Degradation keys from the top level of an option file plus those traiNNer-redux keeps in the dataset block
    (kernel_list, blur_sigma, sinc_prob, final_sinc_prob...). The same key in both places must agree. With `block`
    (`datasets.train`), an error names a key of the dataset block by its full path."""
    fields = set(DEGRADATION_KEYS)
    merged = {k: v for k, v in (top_level or {}).items() if k in fields}
    names = {}
    for k, v in dataset_opts.items():
        if k in fields:
            if k in merged and merged[k] != v:
                raise ConfigError(
                    f"{where}: `{k}` is set both at the top level ({merged[k]}) and in the dataset ({v})"
                )
            if block is not None and k not in merged:
                names[k] = f"{block}.{k}"
            merged[k] = v
    return parse_degradation_options(merged, where, names)


def gather_paths(dataroot_gt: str | list[str], meta_info: str | None = None) -> list[Path]:
    """The HR files: every image under the roots, or the `meta_info` list (each line found in one of the roots)."""
    roots = [dataroot_gt] if isinstance(dataroot_gt, str) else list(dataroot_gt)
    for r in roots:
        require_folder("dataroot_gt", r)
    if meta_info is None:
        paths = [p for r in roots for p in list_images(r)]
    else:
        from upres.data.paired import listed_file, pair_line_hint, read_meta_info

        paths = []
        for n, rel in read_meta_info(meta_info):
            found = next((f for r in roots if (f := listed_file(Path(r), rel)) is not None), None)
            if found is None:
                hint = pair_line_hint([Path(r) for r in roots], rel)
                raise ConfigError(
                    f"meta_info: {meta_info} line {n}: {rel} is not in {', '.join(roots)}{hint}"
                )
            paths.append(found)
    if not paths:
        raise ConfigError(f"dataroot_gt: no images found in {', '.join(roots)}{other_files_hint(roots)}")
    return paths


def random_crop_augment(
    src: ImageSource, size: int, rng: np.random.Generator, hflip: bool, rot: bool, alpha: AlphaMode = "white"
) -> torch.Tensor:
    """An RGB size x size crop (reflect-padding images smaller than that), then BasicSR's flips and rotations.

    The corner is drawn from the image size, so only the crop is read where the file format allows it.
    """
    h, w = src.height, src.width
    ph, pw = max(0, size - h), max(0, size - w)
    top, left = int(rng.integers(0, h + ph - size + 1)), int(rng.integers(0, w + pw - size + 1))
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        img = F.pad(array_to_rgb(src.read(), alpha)[None], (0, pw, 0, ph), mode=mode)[0]
        img = img[:, top : top + size, left : left + size]
    else:
        img = array_to_rgb(src.read(top, left, size, size), alpha)
    flip_h, flip_v, transpose = rng.uniform(size=3) < 0.5
    if hflip and flip_h:
        img = img.flip(-1)
    if rot and flip_v:
        img = img.flip(-2)
    if rot and transpose:
        img = img.transpose(-2, -1)
    return img.contiguous()


class RealESRGANDataset(Dataset):
    """HR crops with LR made on the fly; items {"lq", "gt": (3,h,w) float32 ((1,h,w) with color y), "lq_path",
    "gt_path"}. Alpha is composited or dropped as the `alpha` key says, as in the paired dataset.

    `lq` is the degraded crop (gt_size / scale); `gt` the crop itself (not sharpened; apply
    `upres.data.degradations.usm_sharpen` to targets where Real-ESRGAN uses `*_gt_usm`).
    """

    def __init__(
        self, opts: OTFDatasetOptions, degradations: DegradationOptions, scale: int, seed: int = 0
    ) -> None:
        self.opts = opts
        self.degradations = degradations
        self.scale = scale
        self.seed = seed
        self.epoch = 0
        self.gt_size = opts.crop_size(scale)
        self.paths = gather_paths(opts.dataroot_gt, opts.meta_info)
        self.guard = BadSampleGuard(len(self.paths))
        # Set by the training loop for `degrade_on: device`: items then carry the crop and the draws' state, and
        # `upres.data.otf_device` degrades them on the training device (everything else reads finished pairs).
        self.deferred = False

    def __len__(self) -> int:
        # As BasicSR's EnlargedSampler, for every dataset type: each image this many times an epoch.
        return len(self.paths) * self.opts.dataset_enlarge_ratio

    def set_epoch(self, epoch: int) -> None:
        """New draws every epoch; call it from the training loop (as with DistributedSampler)."""
        self.epoch = epoch

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        # The training sampler passes (epoch, index) so workers need no epoch broadcast; plain ints use set_epoch.
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        rng, gen = make_generators((self.seed, epoch, index))
        # An unreadable file is recorded and another index drawn from the same generator (stops past 1% bad).
        return self.guard.load(
            int(index) % len(self.paths), lambda i: self._load(i, rng, gen), lambda i: str(self.paths[i]), rng
        )

    def _load(self, i: int, rng: np.random.Generator, gen: torch.Generator) -> dict[str, Any]:
        path = self.paths[i]
        # As traiNNer-redux: degrade a crop DEGRADE_MARGIN larger, then take the pair's crop inside it, so blur
        # borders fall outside and the JPEG 8x8 grid has a random phase relative to the crop.
        margin = DEGRADE_MARGIN // self.scale * self.scale
        with ImageSource(path) as src:
            big = random_crop_augment(
                src, self.gt_size + margin, rng, self.opts.use_hflip, self.opts.use_rot, self.opts.alpha
            )
        if self.deferred:
            # Every draw of the degradations depends on image sizes only, never on pixels: the generator's state
            # here is all the device needs to draw them again, the same ones.
            draws = json.dumps({"numpy": rng.bit_generator.state, "noise_seed": gen.initial_seed()})
            return {"gt_big": big, "draws": draws, "gt_path": str(path)}
        lq, gt = self.cut_pair(big, degrade(big, self.degradations, self.scale, rng, gen), rng)
        return {"lq": lq, "gt": gt, "lq_path": str(path), "gt_path": str(path)}

    def cut_pair(
        self, big: torch.Tensor, lq_big: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The (lq, gt) pair at a random place inside the degraded crop and its source."""
        lq_size = self.gt_size // self.scale
        top = int(rng.integers(0, lq_big.shape[-2] - lq_size, endpoint=True))
        left = int(rng.integers(0, lq_big.shape[-1] - lq_size, endpoint=True))
        lq = lq_big[..., top : top + lq_size, left : left + lq_size].contiguous()
        s = self.scale
        gt = big[..., top * s : (top + lq_size) * s, left * s : (left + lq_size) * s].contiguous()
        if self.opts.color == "y":
            lq, gt = rgb_to_y(lq), rgb_to_y(gt)
        return lq, gt


def build_realesrgan_dataset(
    opts: Mapping[str, Any],
    scale: int,
    seed: int = 0,
    degradations: DegradationOptions | Mapping[str, Any] | None = None,
) -> RealESRGANDataset:
    """From a dataset block (`dataroot_gt`, `meta_info`, `lq_size`/`gt_size`, `use_hflip`, `use_rot`, and any
    degradation keys traiNNer-redux keeps there) and the degradation keys of the option file's top level
    (a mapping, or an already validated DegradationOptions)."""
    try:
        ds_opts = OTFDatasetOptions.model_validate(dict(opts))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"datasets.train: {loc + ': ' if loc else ''}{msg}") from None
    if isinstance(degradations, DegradationOptions):
        degradations = degradations.model_dump(exclude_unset=True)
    degr = degradation_options_from(opts, degradations)
    return RealESRGANDataset(ds_opts, degr, scale, seed)
