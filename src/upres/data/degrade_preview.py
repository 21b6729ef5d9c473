"""`upres degrade`: sample LR images from an option file's pipeline and a contact sheet, to see what a model
trained with those options will be asked to undo."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from upres.data.degradations.options import DegradationOptions
from upres.data.degradations.pipeline import degrade, make_generators
from upres.data.otf_dataset import degradation_options_from
from upres.data.read import read_rgb
from upres.errors import ConfigError
from upres.io.image_files import list_images, other_files_hint
from upres.io.images import ImageReadError, tensor_to_array, write_image
from upres.io.names import folded, folds_case

GAP = 4  # pixels between contact-sheet cells


@dataclass
class DegradeFile:
    options: DegradationOptions
    scale: int | None
    gt_size: int | None
    note: str | None = None  # the file trains on LR it does not make: the samples are not what training sees


def load_degradation_file(path: str | Path) -> DegradeFile:
    """Degradation keys of a YAML option file: the top level, plus those traiNNer-redux keeps in `datasets.train`.
    Every other key of a training option file is ignored."""
    from upres.option_file import describe_value, read_option_file

    path = Path(path)
    data = read_option_file(path)
    datasets: Any = data.get("datasets") or {}
    if not isinstance(datasets, dict):
        raise ConfigError(
            f"{path}: datasets must be a mapping (datasets: {{train: ...}}), got {describe_value(datasets)}"
        )
    train: Any = datasets.get("train") or {}
    if not isinstance(train, dict):
        raise ConfigError(f"{path}: datasets.train must be a mapping, got {describe_value(train)}")
    _refuse_misspelled_degradation_keys(path, data, train)
    opts = degradation_options_from(train, data, where=str(path))
    scale = _whole(data.get("scale"))
    train = {k: _whole(v) if k in ("gt_size", "lq_size") else v for k, v in train.items()}
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
        raise ConfigError(f"{path}: scale: must be a positive integer, got {describe_value(scale)}")
    for key in ("gt_size", "lq_size"):
        size = train.get(key)
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError(
                f"{path}: datasets.train.{key}: must be a positive integer, got {describe_value(size)}"
            )
    gt_size = train.get("gt_size")
    if train.get("lq_size") and scale:
        gt_size = int(train["lq_size"]) * scale
    return DegradeFile(opts, scale, gt_size, _not_made_on_the_fly(path, data, train))


def _whole(value: Any) -> Any:
    """2.0 as 2, as training's typed options read it (YAML writes `scale: 2.0` when a script dumped a float)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _not_made_on_the_fly(path: Path, data: dict, train: dict) -> str | None:
    """A training file whose datasets.train reads its LR (pairedimagedataset): the preview showed the pipeline's
    defaults, exit 0, as if training would degrade that way."""
    kind = str(train.get("type", "")).lower()
    if not kind or kind == "realesrgandataset" or data.get("high_order_degradation") is True:
        return None
    return (
        f"{path}: datasets.train is {kind}, which reads its LR (dataroot_lq, or bicubic from the GT) and degrades "
        "nothing on the fly: these samples show the degradation settings, not what this file trains on "
        "(high_order_degradation: true makes it train on them)"
    )


def _refuse_misspelled_degradation_keys(path: Path, data: dict, train: dict) -> None:
    """The preview reads only degradation keys: a misspelled one (`jpeg_rnage`) was left out without a word and
    the samples showed the default, where `upres train` refuses the same file. A key that is no option of any kind
    but close to a degradation key is refused here too."""
    import difflib

    from upres.data.degradations.options import DEGRADATION_KEYS
    from upres.data.options import DatasetOptions
    from upres.train.config import Options

    degradation = set(DEGRADATION_KEYS)
    for where, block, other in (
        ("", data, set(Options.model_fields)),
        ("datasets.train.", train, set(DatasetOptions.model_fields)),
    ):
        for key in block:
            if not isinstance(key, str) or key in degradation or key in other:
                continue
            close = difflib.get_close_matches(key, sorted(degradation), n=1, cutoff=0.8)
            if close:
                raise ConfigError(
                    f"{path}: unknown degradation key '{where}{key}' (did you mean '{close[0]}'?)"
                )


def center_crop(img: torch.Tensor, size: int, multiple: int) -> torch.Tensor:
    """Centered crop of at most size x size whose sides are multiples of `multiple` (size 0: whole image)."""
    _, h, w = img.shape
    ch, cw = (h, w) if size <= 0 else (min(size, h), min(size, w))
    ch, cw = ch - ch % multiple, cw - cw % multiple
    if ch == 0 or cw == 0:
        raise ValueError(f"image {w}x{h} is smaller than the scale {multiple}")
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[:, top : top + ch, left : left + cw]


def contact_sheet(hr: torch.Tensor, lrs: list[torch.Tensor], scale: int) -> torch.Tensor:
    """One row: the HR crop, then each LR upsampled by pixel repetition (nearest) to the HR size."""
    cells = [hr] + [lr.repeat_interleave(scale, -2).repeat_interleave(scale, -1) for lr in lrs]
    h = max(c.shape[-2] for c in cells)
    w = sum(c.shape[-1] for c in cells) + GAP * (len(cells) - 1)
    sheet = torch.ones(3, h, w)
    x = 0
    for c in cells:
        sheet[:, : c.shape[-2], x : x + c.shape[-1]] = c
        x += c.shape[-1] + GAP
    return sheet


def stack_rows(rows: list[torch.Tensor]) -> torch.Tensor:
    w = max(r.shape[-1] for r in rows)
    h = sum(r.shape[-2] for r in rows) + GAP * (len(rows) - 1)
    sheet = torch.ones(3, h, w)
    y = 0
    for r in rows:
        sheet[:, y : y + r.shape[-2], : r.shape[-1]] = r
        y += r.shape[-2] + GAP
    return sheet


def write_samples(
    inputs: Iterable[str | Path],
    out: str | Path,
    options: DegradationOptions,
    scale: int,
    n: int = 8,
    seed: int = 0,
    crop: int = 256,
) -> tuple[list[Path], list[str]]:
    """Write n LR samples per input image (`STEM_lrNN.png`) and `contact_sheet.png`; returns (written, errors).

    Sample i of the j-th image uses seed (seed, j, i): reruns give the same files.
    """
    out = Path(out)
    written: list[Path] = []
    errors: list[str] = []
    rows = []
    paths = [p for item in inputs for p in _expand(item, out, errors)]
    by_stem: dict[str, Path] = {}
    fold = folds_case(out.resolve())
    for path in paths:
        # Samples are named by stem: two inputs of one stem (a/pic.png, b/pic.jpg) overwrote each other's files, and
        # so did Pic.png and pic.png on a disk that ignores case.
        other = by_stem.setdefault(folded(path.stem) if fold else path.stem, path)
        if other != path:
            cased = " (this disk ignores the case of names)" if other.stem != path.stem else ""
            raise ConfigError(
                f"{other} and {path} would both be written as {path.stem}_lrNN.png{cased}; rename one"
            )
    # -o the input folder (or a folder of earlier samples given as input): the samples replaced the inputs.
    input_files = {p.resolve() for p in paths}
    targets = [out / f"{p.stem}_lr{i:02d}.png" for p in paths for i in range(n)] + [out / "contact_sheet.png"]
    for target in targets:
        if target.resolve() in input_files:
            raise ConfigError(
                f"{target}: is an input, and a sample would replace it; choose an -o that holds no input"
            )
    for j, path in enumerate(paths):
        try:
            hr = center_crop(read_rgb(path), crop, scale)
        except (ImageReadError, ValueError) as exc:
            errors.append(
                f"{path}: {str(exc).removeprefix(f'{path}: ')}"
            )  # read errors name their file already
            continue
        lrs = []
        for i in range(n):
            rng, gen = make_generators((seed, j, i))
            lrs.append(degrade(hr, options, scale, rng, gen))
        # One file that cannot be written (a name too long, a full disk) fails its image, not the batch.
        if _write_all(out, [(f"{path.stem}_lr{i:02d}.png", lr) for i, lr in enumerate(lrs)], written, errors):
            rows.append(contact_sheet(hr, lrs, scale))
    if rows:
        _write_all(out, [("contact_sheet.png", stack_rows(rows))], written, errors)
    return written, errors


def _write_all(
    out: Path, files: list[tuple[str, torch.Tensor]], written: list[Path], errors: list[str]
) -> bool:
    for name, image in files:
        try:
            out.mkdir(parents=True, exist_ok=True)  # only once there is something to write
            written.append(write_image(out / name, tensor_to_array(image)))
        except OSError as exc:
            errors.append(f"{out / name}: cannot write ({exc.strerror or exc})")
            return False
    return True


def _expand(item: str | Path, out: Path, errors: list[str]) -> list[Path]:
    p = Path(item)
    if not p.exists():
        errors.append(f"{p}: no such file or folder")
        return []
    found = list_images(p)
    inside = out.resolve()
    if p.is_dir() and inside != p.resolve() and inside.is_relative_to(p.resolve()):
        found = [
            f for f in found if not f.resolve().is_relative_to(inside)
        ]  # earlier samples when -o lies inside
    if p.is_dir() and not found:
        errors.append(f"{p}: no images in this folder{other_files_hint([p])}")
    return found


def degrade_command(
    config: str | Path,
    inputs: list[str],
    out: str | Path,
    n: int = 8,
    seed: int = 0,
    scale: int | None = None,
    crop: int | None = None,
) -> tuple[list[Path], list[str]]:
    f = load_degradation_file(config)
    if f.note:
        print(f"note: {f.note}", file=sys.stderr)
    if scale is not None and scale < 1:
        raise ConfigError(f"--scale {scale}: must be a positive integer")
    scale = scale or f.scale or 4
    given = crop is not None
    crop = crop if given else (f.gt_size or 256)
    if 0 < crop < scale:  # every image would be refused as smaller than the scale: a flag is what is wrong
        if not given:  # a --crop the user never typed is not what to name
            made = f"{config}'s datasets.train crop" if f.gt_size else "the default crop"
            raise ConfigError(
                f"--scale {scale}: larger than {made} ({crop} px); give --crop {scale} or more, or --crop 0 for "
                "the whole image"
            )
        raise ConfigError(
            f"--crop {crop}: smaller than the scale {scale}; give at least {scale}, or 0 for the whole image"
        )
    if n < 1:
        raise ConfigError(f"--n: needs at least 1 sample per image, got {n}")
    return write_samples(inputs, out, f.options, scale, n, seed, crop)
