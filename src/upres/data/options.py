"""Typed dataset options: the `datasets.<name>` blocks of traiNNer-redux option files.

Unknown keys and wrong values are refused with their key path (`datasets.train.lq_size: ...`) before any data is
read. Degradation keys of `realesrgandataset` are added here by the module that implements them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from upres.errors import ConfigError
from upres.io.missing_folder import no_such_folder
from upres.option_file import no_bool_for_number, path_as_written

Roots = str | list[str]
_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


class IoBackend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["disk"] = "disk"


class DatasetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_bool_for_number = field_validator("*", mode="before")(no_bool_for_number)
    _as_written = field_validator("dataroot_gt", "dataroot_lq", "meta_info", mode="before")(path_as_written)

    name: str = ""
    type: str = Field(description="dataset kind: pairedimagedataset, singleimagedataset, realesrgandataset")
    phase: Literal["train", "val", "test"] | None = None
    scale: int | None = Field(None, ge=1, description="if given, must equal the top-level scale")

    dataroot_gt: Roots | None = Field(None, description="ground-truth folder(s)")
    dataroot_lq: Roots | None = Field(
        None, description="LR folder(s), one per GT folder; absent: bicubic from GT"
    )
    meta_info: str | None = Field(None, description="text file listing GT paths relative to dataroot_gt")
    filename_tmpl: str = Field("{}", description="LR stem from the GT stem, e.g. '{}x4'")
    io_backend: IoBackend = Field(default_factory=IoBackend)

    lq_size: int | None = Field(
        None,
        gt=0,
        description="LR crop size; GT crops are lq_size * scale. Without it training takes whole images, which must "
        "share one size when batch_size_per_gpu is above 1",
    )
    gt_size: int | None = Field(
        None, gt=0, description="accepted for compatibility: must equal lq_size * scale"
    )
    use_hflip: bool = True
    use_rot: bool = True
    color: Literal["rgb", "y"] | None = Field(None, description="y: train on BT.601 luma only")
    alpha: Literal["white", "black", "drop"] = Field("white", description="how images with alpha become RGB")

    num_worker_per_gpu: int | None = Field(
        None,
        ge=0,
        description="data-loading processes per training process (default 2); at most its share of the CPU cores",
    )
    batch_size_per_gpu: int | None = Field(None, ge=1)
    accum_iter: int = Field(1, ge=1)
    dataset_enlarge_ratio: int = Field(
        1,
        ge=1,
        description="each image this many times an epoch (only the epoch's length: upres's sampler never runs out "
        "of data); refused past 2^28 samples an epoch (its shuffled order would need over 2 GiB)",
    )
    prefetch_mode: Literal["cpu", "cuda"] | None = None
    num_prefetch_queue: int = Field(1, ge=1)
    prefetch_factor: int | None = Field(
        None, ge=1, description="batches each loader worker prepares ahead (default 4; traiNNer-redux's: 2)"
    )
    lq_resize_mode: Literal["bilinear", "bicubic", "nearest-exact", "lanczos", "area"] | None = Field(
        None,
        description="pairedimagedataset without dataroot_lq: make the LR with this resize instead of MATLAB bicubic",
    )
    pin_memory: bool = True
    persistent_workers: bool = True

    degradation: dict[str, Any] = Field(
        default_factory=dict,
        description="realesrgandataset: degradation keys given in the dataset block (traiNNer-redux keeps kernel keys here)",
    )

    @model_validator(mode="before")
    @classmethod
    def _collect_degradation_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        from upres.data.degradations.options import DEGRADATION_KEYS

        known = set(DEGRADATION_KEYS)
        moved = {k: v for k, v in data.items() if k not in cls.model_fields and k in known}
        if not moved:
            return data
        if str(data.get("type", "")).lower() != "realesrgandataset":
            raise ValueError(f"degradation key {next(iter(moved))!r} needs type: realesrgandataset")
        rest = {k: v for k, v in data.items() if k not in moved}
        return {**rest, "degradation": {**data.get("degradation", {}), **moved}}

    @field_validator("type")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()

    @field_validator("dataroot_gt", "dataroot_lq")
    @classmethod
    def _non_empty(cls, v: Roots | None) -> Roots | None:
        if isinstance(v, list) and not v:
            raise ValueError("give at least one folder")
        return v

    @field_validator("filename_tmpl")
    @classmethod
    def _one_slot(cls, v: str) -> str:
        return check_filename_tmpl(v)

    @model_validator(mode="after")
    def _lists_match(self) -> DatasetOptions:
        gt, lq = self.dataroot_gt, self.dataroot_lq
        # Folder i of dataroot_lq holds the LR partners of folder i of dataroot_gt: a count that differs leaves
        # folders out (a second LR folder beside one GT folder was ignored without a word).
        if gt is not None and lq is not None and len(as_list(lq)) != len(as_list(gt)):
            raise ValueError(
                f"dataroot_lq has {len(as_list(lq))} folder(s) but dataroot_gt has {len(as_list(gt))}; give one LR "
                "folder per GT folder, in the same order"
            )
        return self

    def train_batch(self) -> int:
        """The training batch per process: batch_size_per_gpu, else traiNNer-redux's 4."""
        return self.batch_size_per_gpu or 4

    def as_scored(self) -> DatasetOptions:
        """The block as validation and `upres test` read it: each whole image once, unflipped. BasicSR's validation
        loader ignores dataset_enlarge_ratio; counted here, it sent the scoring loop past the last image (IndexError
        at the first validation, after the training it had waited for)."""
        update = {
            "lq_size": None,
            "gt_size": None,
            "use_hflip": False,
            "use_rot": False,
            "dataset_enlarge_ratio": 1,
        }
        return self.model_copy(update=update)

    def crop_size(self, scale: int) -> int | None:
        """The LR crop size, from lq_size or gt_size, checked against the scale."""
        if self.gt_size is not None:
            # The disagreement first: "use lq_size instead" read as nonsense beside an lq_size that is set.
            if self.lq_size is not None and self.lq_size * scale != self.gt_size:
                raise ConfigError(
                    f"gt_size {self.gt_size} != lq_size {self.lq_size} x scale {scale}; give only lq_size"
                )
            if self.gt_size % scale:
                raise ConfigError(
                    f"gt_size {self.gt_size} is not a multiple of scale {scale}; use lq_size instead"
                )
            return self.gt_size // scale
        return self.lq_size


def as_list(roots: Roots | None) -> list[str]:
    if roots is None:
        return []
    return [roots] if isinstance(roots, str) else list(roots)


def parse_dataset_options(raw: Any, where: str = "datasets.train") -> DatasetOptions:
    """Validate one `datasets.<name>` block; errors become one ConfigError naming each bad key path."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of dataset options, got {type(raw).__name__}")
    try:
        return DatasetOptions.model_validate(raw)
    except ValidationError as exc:
        by_key: dict[str, list[str]] = {}
        for err in exc.errors():
            # Union members add their type ('str', 'list[str]') to the location: not a key the user wrote.
            loc = [
                str(p) for p in err["loc"] if isinstance(p, int) or (p.isidentifier() and p not in _TYPE_TAGS)
            ]
            msg = err["msg"].removeprefix("Value error, ")
            by_key.setdefault(".".join([where, *loc]), []).append(msg)
        raise ConfigError(
            "; ".join(f"{k}: {' or '.join(dict.fromkeys(v))}" for k, v in by_key.items())
        ) from None


@contextlib.contextmanager
def errors_in_block(name: str) -> Iterator[None]:
    """A dataset's ConfigError names its block: "dataroot_gt: no such folder x" from inside `datasets.val` becomes
    "datasets.val.dataroot_gt: no such folder x" (`name` is "val" or "datasets.val")."""
    try:
        yield
    except ConfigError as exc:
        message = str(exc)
        if message.startswith("datasets."):
            raise
        block = name if name.startswith("datasets.") else f"datasets.{name}"
        key = message.split(":", 1)[0]
        sep = "." if key in DatasetOptions.model_fields else ": "
        raise ConfigError(f"{block}{sep}{message}") from None


def require_folder(key: str, root: str | Path) -> None:
    """`root`, given under `key`, is a folder: a file there was called "no such folder" though it exists."""
    path = Path(root)
    if path.is_dir():
        return
    if path.exists():
        raise ConfigError(f"{key}: {path} is a file, not a folder; give the folder that holds the images")
    raise ConfigError(f"{key}: {no_such_folder(path)}")


def check_filename_tmpl(v: str) -> str:
    """`v` when it is a filename_tmpl: one '{}' where the GT stem goes, no other braces; else ValueError."""
    try:
        # A stray brace ('{}x2{', '{}_{x}') failed here, as a traceback, when files were paired.
        v.format("stem")
    except (ValueError, KeyError, IndexError):
        raise ValueError(
            "must contain exactly one '{}' (where the GT stem goes) and no other braces (write '{{' or '}}' for "
            "a literal one)"
        ) from None
    if v.count("{}") != 1:
        raise ValueError("must contain exactly one '{}' (where the GT stem goes)")
    return v
