"""`pairedimagedataset`: LR/GT pairs from folders (or GT only, with LR made by MATLAB-style bicubic).

Pairs are matched by relative path and stem, so `a/b/0001.png` in the GT root pairs with `a/b/0001.jpg` (or
`filename_tmpl` applied to the stem, e.g. `0001x4.png`) in the LR root; accented letters match in either Unicode
form (composed, or decomposed as macOS writes them). Items are BasicSR-style dicts
`{"lq", "gt", "lq_path", "gt_path"}` with (C, H, W) float32 tensors in [0, 1].
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from upres.data.augment import crop_corner, random_flips, sample_rng
from upres.data.bad_samples import BadSampleError, BadSampleGuard
from upres.data.options import DatasetOptions, as_list, require_folder
from upres.data.pair_hints import guess_pairing
from upres.data.read import ImageSource, array_to_rgb, rgb_to_y
from upres.data.resize import imresize
from upres.errors import ConfigError
from upres.io.image_files import list_images, other_files_hint
from upres.io.names import folded, folds_case


@dataclass(frozen=True)
class Pair:
    gt: Path
    lq: Path | None  # None: LR is made from the GT with bicubic


def _key(rel: Path, stem: str) -> str:
    # macOS writes names decomposed (NFD), Linux and Windows tools composed (NFC): a GT folder copied from a Mac and
    # an LR folder made elsewhere spell "café" in two byte sequences that print alike.
    return unicodedata.normalize("NFC", (rel.parent / stem).as_posix())


# BasicSR's meta files may follow each name with its shape, "0001.png (1404,2040,3)".
_SHAPE_SUFFIX = re.compile(r"\s+\(\s*\d+(\s*,\s*\d+)*\s*\)\s*$")


def read_meta_info(meta_info: str | Path) -> list[tuple[int, str]]:
    """(line number, relative path) of each listed file; names may contain spaces, a trailing (h,w,c) is dropped."""
    path = Path(meta_info)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"meta_info: cannot read {path} ({exc.strerror or exc})") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Windows Notepad's "Unicode"
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ConfigError(f"meta_info: {path} is not readable UTF-16 text; save it as UTF-8") from None
    elif b"\x00" in data:
        raise ConfigError(
            f"meta_info: {path} is not a text file (it holds NUL bytes); give a list of GT file names, one per line"
        )
    else:
        # utf-8-sig: Notepad's byte-order mark is not part of the first name; surrogateescape: a name that is not
        # UTF-8 (Latin-1) is kept as the bytes the file system has, so it still finds its file
        text = data.decode("utf-8-sig", errors="surrogateescape")
    lines = text.splitlines()
    out = []
    for n, line in enumerate(lines, 1):
        name = _SHAPE_SUFFIX.sub("", line).strip()
        if name:
            out.append((n, name))
    if not out:
        # Said otherwise as "dataroot_gt: no images found (there are other files: 6 .png ...)".
        raise ConfigError(
            f"meta_info: {path} holds no file name; give the GT file names, one a line, or remove "
            "meta_info to use every image of dataroot_gt"
        )
    return out


def gt_lists(roots: list[Path], meta_info: str | None) -> list[list[Path]]:
    """The GT files of each root: all its images, or those the `meta_info` list names, each line in the first root
    that holds it (as `realesrgandataset` reads one list over several roots; every root had to hold every line)."""
    if meta_info is None:
        return [list_images(root) for root in roots]
    listed: list[list[Path]] = [[] for _ in roots]
    missing = []
    for _, name in read_meta_info(meta_info):
        # (an absolute path outside the roots has no relative path to pair by)
        found = next(
            (
                (i, f)
                for i, r in enumerate(roots)
                if (f := listed_file(r, name)) is not None and f.is_relative_to(r)
            ),
            None,
        )
        if found is None:
            missing.append(name)
        else:
            listed[found[0]].append(found[1])
    if missing:
        raise ConfigError(
            f"meta_info {meta_info}: {len(missing)} listed files are not in {', '.join(map(str, roots))}, "
            f"e.g. {missing[0]}{pair_line_hint(roots, missing[0])}"
        )
    return listed


def pair_line_hint(roots: list[Path], name: str) -> str:
    """For a listed name not found: what to do when it is a line of Real-ESRGAN's paired list, "gt.png, lr.png"."""
    gt, sep, _ = name.partition(", ")
    if not sep or not any(listed_file(root, gt) for root in roots):
        return ""
    return (
        ": a 'GT, LR' line of Real-ESRGAN's paired lists; upres pairs each GT with its LR by name, so list the GT "
        "paths only, one a line"
    )


def listed_file(root: Path, name: str) -> Path | None:
    """The file a meta_info line names: relative to `root` (an absolute path inside it counts as that relative
    one, which pairing needs), its folders parted by / or by \\ (a list written on Windows, read elsewhere), its
    accented letters in either Unicode form (a list written on Linux, the files copied from a Mac, or the reverse)."""
    spellings = [name]
    if os.sep == "/" and "\\" in name:
        spellings.append(name.replace("\\", "/"))
    for spelling in spellings:
        for form in dict.fromkeys((spelling, *(unicodedata.normalize(f, spelling) for f in ("NFC", "NFD")))):
            path = _under(root, Path(form)) if Path(form).is_absolute() else root / form
            if path.is_file():
                return path
    return None


def _under(root: Path, path: Path) -> Path:
    """`path` as `root / relative path` when it lies in `root` (as written, or once links are resolved)."""
    for base, full in ((root.absolute(), path), (root.resolve(), path.resolve())):
        if full.is_relative_to(base):
            return root / full.relative_to(base)
    return path


def lq_index(lq_root: Path) -> dict[str, Path]:
    """LR files by relative parent + stem; two files with one stem are ambiguous."""
    by_key: dict[str, Path] = {}
    for p in list_images(lq_root):
        key = _key(p.relative_to(lq_root), p.stem)
        if key in by_key:
            raise ConfigError(
                f"dataroot_lq {lq_root}: {by_key[key].name} and {p.name} have the same stem, so either could be the "
                "LR of its GT (pairs are matched by stem); keep one"
            )
        by_key[key] = p
    return by_key


def match_folder(
    gt_root: Path, gts: list[Path], lq_root: Path, filename_tmpl: str = "{}"
) -> tuple[list[Pair], list[Path], list[Path]]:
    """(pairs, GT files without an LR partner, LR files without a GT partner)."""
    by_key = lq_index(lq_root)
    # On a disk that ignores case (Windows', macOS's), `A.png` is `a.png` to the user and to BasicSR, which opens the
    # GT's name in the LR folder; Linux keeps them apart.
    by_folded = {folded(k): k for k in by_key} if folds_case(lq_root.resolve()) else {}
    pairs, missing = [], []
    seen: dict[str, Path] = {}
    for g in gts:
        key = _key(g.relative_to(gt_root), filename_tmpl.format(g.stem))
        if key in seen and seen[key] != g:
            # The second was said to have "no LR partner", its partner being right there, taken by the first.
            raise ConfigError(
                f"dataroot_gt {gt_root}: {seen[key].name} and {g.name} have the same stem, so one LR file would be "
                "the partner of both (pairs are matched by stem); keep one"
            )
        seen[key] = g
        lq = by_key.pop(key, None) or by_key.pop(by_folded.get(folded(key), ""), None)
        if lq is None:
            missing.append(g)
        else:
            pairs.append(Pair(g, lq))
    return pairs, missing, sorted(by_key.values())


def dataset_roots(opts: DatasetOptions) -> list[tuple[Path, Path | None]]:
    """(GT root, LR root or None) per folder pair, checked to exist."""
    gt_roots = [Path(r) for r in as_list(opts.dataroot_gt)]
    lq_roots = [Path(r) for r in as_list(opts.dataroot_lq)]
    if not gt_roots:
        raise ConfigError("dataroot_gt: required (the folder of ground-truth images)")
    for r in gt_roots:
        require_folder("dataroot_gt", r)
    for r in lq_roots:
        require_folder("dataroot_lq", r)
    for g, lq in zip(gt_roots, lq_roots, strict=False):
        if g.samefile(lq):  # each GT its own LR: "ratio is not the scale" for every pair
            raise ConfigError(
                f"dataroot_lq: {lq} is the dataroot_gt folder itself; give the folder of the LR images, or remove "
                "dataroot_lq to make each LR from its GT (bicubic)"
            )
    return [(g, lq_roots[i] if lq_roots else None) for i, g in enumerate(gt_roots)]


def find_pairs(opts: DatasetOptions) -> list[Pair]:
    """All pairs of the dataset, in a stable order; a GT without its LR partner is a ConfigError."""
    pairs: list[Pair] = []
    roots = dataset_roots(opts)
    for (gt_root, lq_root), gts in zip(roots, gt_lists([g for g, _ in roots], opts.meta_info), strict=True):
        if lq_root is None:
            pairs += [Pair(g, None) for g in gts]
            continue
        found, missing, orphans = match_folder(gt_root, gts, lq_root, opts.filename_tmpl)
        if missing:
            names = [m.relative_to(gt_root).as_posix() for m in missing]
            shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
            guess = guess_pairing(gt_root, missing, lq_root, orphans, len(gts), opts.filename_tmpl)
            raise ConfigError(
                f"dataroot_lq {lq_root}: no LR partner for {len(missing)} GT images of {gt_root} ({shown}); "
                + (f"{guess.said_in_error()}; " if guess else "")
                + "`upres doctor` lists them all"
            )
        pairs += found
    if not pairs:
        raise ConfigError(
            f"dataroot_gt {', '.join(str(g) for g, _ in roots)}: no images found"
            + other_files_hint(g for g, _ in roots)
        )
    return pairs


def quantize(t: torch.Tensor, bits: int) -> torch.Tensor:
    """Round to the levels a `bits`-deep file holds, as LR images saved to disk would be."""
    peak = 65535.0 if bits == 16 else 255.0
    return t.clamp(0, 1).mul(peak).round().div(peak)


def check_scale(gt: ImageSource, lq: ImageSource, scale: int) -> None:
    """GT must be LR x scale; GT larger by less than `scale` (mod-crop leftovers) is accepted and cropped."""
    gh, gw, lh, lw = gt.height, gt.width, lq.height, lq.width
    if not (lh * scale <= gh < (lh + 1) * scale and lw * scale <= gw < (lw + 1) * scale):
        raise BadSampleError(
            f"{gt.path} is {gw}x{gh} but its LR {lq.path} is {lw}x{lh}: not scale {scale} (expected GT "
            f"{lw * scale}x{lh * scale})"
        )


class PairedImageDataset(Dataset):
    """Index with an int, or (epoch, index) from a sampler that encodes the epoch (exact resume with persistent
    workers); an int index uses the epoch set by `set_epoch`. Random choices depend only on (seed, epoch, index)."""

    def __init__(self, opts: DatasetOptions, scale: int, seed: int = 0) -> None:
        self.opts = opts
        self.scale = scale
        self.seed = seed
        self.epoch = 0
        self.crop = opts.crop_size(scale)
        self.pairs = find_pairs(opts)
        self.guard = BadSampleGuard(len(self.pairs))

    def __len__(self) -> int:
        return len(self.pairs) * self.opts.dataset_enlarge_ratio

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int | tuple[int, int]) -> dict:
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        rng = sample_rng(self.seed, epoch, int(index))
        n = len(self.pairs)
        return self.guard.load(
            int(index) % n, lambda i: self.load(i, rng), lambda i: str(self.pairs[i].gt), rng
        )

    def load(self, i: int, rng: np.random.Generator) -> dict:
        """The crop is chosen from the image sizes first, so only it is read from formats that allow that."""
        pair = self.pairs[i]
        s, crop = self.scale, self.crop
        alpha = self.opts.alpha
        try:
            with ImageSource(pair.gt) as gt_src:
                if pair.lq is not None:
                    with ImageSource(pair.lq) as lq_src:
                        check_scale(gt_src, lq_src, s)
                        if crop:
                            top, left = crop_corner(lq_src.height, lq_src.width, crop, rng, what="LR image")
                            lq = array_to_rgb(lq_src.read(top, left, crop, crop), alpha)
                            gt = array_to_rgb(gt_src.read(top * s, left * s, crop * s, crop * s), alpha)
                        else:
                            lq = array_to_rgb(lq_src.read(), alpha)
                            gt = array_to_rgb(gt_src.read(0, 0, lq_src.height * s, lq_src.width * s), alpha)
                else:
                    h, w = gt_src.height - gt_src.height % s, gt_src.width - gt_src.width % s
                    if not (h and w):  # no LR pixel to make (the resize failed on an empty index)
                        raise ValueError(
                            f"{pair.gt}: {gt_src.width}x{gt_src.height} is smaller than the scale {s}; leave it out"
                        )
                    top, left, size_h, size_w = 0, 0, h, w
                    if crop:
                        size_h = size_w = crop * s
                        top, left = crop_corner(h, w, size_h, rng, multiple=s)
                    gt = array_to_rgb(gt_src.read(top, left, size_h, size_w), alpha)
                    lq = quantize(self._downscale(gt), gt_src.bits)
        except ValueError as exc:
            raise BadSampleError(str(exc)) from None
        if crop:
            lq, gt = random_flips([lq, gt], self.opts.use_hflip, self.opts.use_rot, rng)
        if self.opts.color == "y":
            lq, gt = rgb_to_y(lq), rgb_to_y(gt)
        return {
            "lq": lq.contiguous(),
            "gt": gt.contiguous(),
            "lq_path": str(pair.lq or pair.gt),
            "gt_path": str(pair.gt),
        }

    def _downscale(self, gt: torch.Tensor) -> torch.Tensor:
        """The LR of a GT-only pair: MATLAB bicubic, or traiNNer-redux's `lq_resize_mode`."""
        if self.opts.lq_resize_mode is None:
            return imresize(gt, 1 / self.scale)
        from upres.data.degradations.resize import resize

        size = (gt.shape[-2] // self.scale, gt.shape[-1] // self.scale)
        return resize(gt, size, self.opts.lq_resize_mode).clamp(0, 1)


def build_paired(opts: DatasetOptions, scale: int, seed: int) -> PairedImageDataset:
    return PairedImageDataset(opts, scale, seed)
