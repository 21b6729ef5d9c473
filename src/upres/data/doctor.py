"""Dataset checks before training: what would skip, crash or silently hurt a run, found up front.

Errors (the run would lose samples or stop): unreadable files, LR/GT partners missing, size ratio not the scale,
images smaller than the crop. Warnings: GT larger than LR x scale by less than the scale (mod-crop leftovers, cropped
when loading), LR files without a GT, mixed bit depth / alpha / grayscale, duplicate content.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from upres.data import inspect_cache
from upres.data.doctor_findings import (
    Finding,
    ImageInfo,
    duplicates,
    mixed,
    multi_frame,
    orientations,
    ratio,
    scale_fix,
)
from upres.data.pair_content import content_mismatch, outline_for
from upres.data.pair_hints import guess_pairing
from upres.data.paired import Pair, gt_lists, match_folder
from upres.data.read import ImageSource
from upres.doc_pages import doc_page
from upres.errors import UpresError
from upres.io.image_files import list_images, other_files_hint
from upres.io.images import ImageReadError
from upres.io.missing_folder import no_such_folder

# Pixels per band when a region-readable TIFF is checked in bands.
_BAND_PIXELS = 1 << 24


@dataclass
class DoctorReport:
    name: str
    scale: int | None
    images: int = 0
    pairs: int = 0
    min_size: tuple[int, int] | None = None  # (width, height)
    narrowest: str | None = None  # the GT with the shortest side
    median_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None
    batch_size: int | None = None
    iterations_per_epoch: int | None = None
    findings: list[Finding] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # advice that is not a fault (loading speed)
    # How the errors would go (a filename_tmpl or scale that fits).
    fixes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.kind for f in self.findings))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        d["counts"] = self.counts()
        return d


def inspect_image(path: Path) -> ImageInfo:
    """Decode every pixel (truncated data only shows when decoding) and hash them.

    Region-readable TIFFs are decoded a band of rows at a time: memory stays bounded for images of any size, and
    the pixel limit does not apply to them, as it does not in training. The hash is the same either way.
    """
    info = ImageInfo(path)
    h = hashlib.blake2b(digest_size=16)
    try:
        with ImageSource(path) as src:
            step = max(1, _BAND_PIXELS // src.width) if src.region_reads else src.height
            bands = (src.read(y, 0, min(step, src.height - y), src.width) for y in range(0, src.height, step))
            first = next(bands, None)
            if first is None:
                raise ImageReadError(f"{path}: the image has no pixels ({src.width}x{src.height})")
            info.height, info.width, info.channels = src.height, src.width, first.shape[2]
            info.bits = src.bits
            info.region_reads = src.region_reads
            h.update(f"{(src.height, src.width, first.shape[2])}{first.dtype}".encode())
            outline = outline_for(src.height, src.width)
            # One band in memory at a time.
            for y, band in zip(range(0, src.height, step), itertools.chain([first], bands)):
                h.update(np.ascontiguousarray(band).data)
                if outline is not None:
                    outline.add(band, y)
            info.outline = outline.encoded() if outline is not None else ""
    except ImageReadError as exc:
        info.error = str(exc).removeprefix(f"{path}: ")  # the finding names its file (it was printed twice)
        return info
    info.digest = h.hexdigest()
    info.orientation, info.frames = header_facts(path)
    return info


def header_facts(path: Path) -> tuple[int, int]:
    """(EXIF orientation tag, 1: as stored; pages or frames), read from the header."""
    from PIL import Image

    from upres.io.pillow_limit import pillow_limit_lifted

    try:
        with pillow_limit_lifted(), Image.open(path) as img:
            frames = int(getattr(img, "n_frames", 1) or 1)
            try:
                return int(img.getexif().get(0x0112, 1) or 1), frames
            except Exception:  # a tag that cannot be read is one the decoder did not apply either
                return 1, frames
    except Exception:  # read by another decoder (a TIFF Pillow cannot open): one frame, no tag applied
        return 1, 1


# Checks that decode at least this many files say so first: a first check of a large dataset takes minutes.
ANNOUNCE_FROM = 100


def _inspect_all(
    paths: list[Path], use_cache: bool = True, announce: Callable[[str], None] | None = None
) -> dict[Path, ImageInfo]:
    """Every file inspected; unchanged files that an earlier check already decoded come from the cache."""
    cache = inspect_cache.load() if use_cache else {}
    found: dict[Path, ImageInfo] = {}
    todo = []
    for path in paths:
        fields = inspect_cache.lookup(cache, path) if use_cache else None
        if fields is None:  # new, changed, or recorded by another upres version (inspect_cache.lookup)
            todo.append(path)
        else:
            found[path] = ImageInfo(path, **fields)
    if announce is not None and len(todo) >= ANNOUNCE_FROM:
        cached = len(paths) - len(todo)
        announce(
            f"checking {len(todo)} images ({cached} unchanged since an earlier check); each is decoded once, and "
            "later checks reuse the results"
        )
    try:
        # Decoders release the GIL: threads overlap decoding without pickling images between processes.
        with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            for path, info in zip(todo, pool.map(inspect_image, todo), strict=True):
                found[path] = info
                # Failures are not cached: a permission or network problem may be gone next time.
                if use_cache and info.error is None:
                    inspect_cache.store(cache, path, {k: v for k, v in asdict(info).items() if k != "path"})
    finally:
        # Also when interrupted: a long first check of a large dataset resumes where it stopped.
        if use_cache and todo:
            inspect_cache.save(cache)
    return {p: found[p] for p in paths}


def check_folders(
    gt_dirs: list[str | Path],
    lq_dirs: list[str | Path] | None = None,
    scale: int | None = None,
    lq_size: int | None = None,
    batch_size: int | None = None,
    filename_tmpl: str = "{}",
    meta_info: str | None = None,
    enlarge_ratio: int = 1,
    name: str = "",
    accum_iter: int = 1,
    pads_small: bool = False,
    use_cache: bool = True,
    announce: Callable[[str], None] | None = None,
) -> DoctorReport:
    """Check GT folders (and their LR folders, one per GT folder) as a training set of this scale and crop.

    `pads_small`: the dataset pads images smaller than the crop (`realesrgandataset`), so they are a warning, not an
    error. `use_cache`: reuse what an earlier check learned about unchanged files (`upres.data.inspect_cache`)."""
    gt_roots = [Path(d) for d in gt_dirs]
    lq_roots = [Path(d) for d in lq_dirs or []]
    for root in gt_roots + lq_roots:
        if not root.exists():
            raise UpresError(no_such_folder(root))
    if lq_roots and len(lq_roots) != len(gt_roots):
        raise UpresError(
            f"{len(lq_roots)} LR folders for {len(gt_roots)} GT folders: give one LR folder per GT folder"
        )
    report = DoctorReport(name or ", ".join(map(str, gt_roots)), scale, batch_size=batch_size)
    pairs: list[Pair] = []
    folders = [r for r in gt_roots if r.is_dir()]
    listed = dict(zip(folders, gt_lists(folders, meta_info), strict=True))
    for i, gt_root in enumerate(gt_roots):
        gts = listed[gt_root] if gt_root in listed else list_images(gt_root)
        if lq_roots:
            found, missing, orphans = match_folder(gt_root, gts, lq_roots[i], filename_tmpl)
            pairs += found
            if gt_root.samefile(lq_roots[i]):  # `upres doctor hr --lq hr`: each GT its own LR
                report.fixes.append(
                    f"the LR folder {lq_roots[i]} is the GT folder itself: give the folder of the LR images to --lq, "
                    "or leave --lq out (the LR is then made from each GT)"
                )
            guess = (
                guess_pairing(gt_root, missing, lq_roots[i], orphans, len(gts), filename_tmpl)
                if missing
                else None
            )
            if guess and guess.lq_root:
                tmpl = guess.filename_tmpl
                report.fixes.append(
                    f"the LR files of {lq_roots[i]} are in its folder {guess.lq_root}: set dataroot_lq: "
                    f"{guess.lq_root}{f' and filename_tmpl: {tmpl!r}' if tmpl else ''} in the dataset's options "
                    f"(upres doctor: --lq {guess.lq_root}{f' --filename-tmpl {tmpl!r}' if tmpl else ''})"
                )
            elif guess and (tmpl := guess.filename_tmpl):
                report.fixes.append(
                    f"the LR files of {lq_roots[i]} are named as filename_tmpl '{tmpl}' gives, not '{filename_tmpl}':"
                    f" set filename_tmpl: '{tmpl}' in the dataset's options (upres doctor: --filename-tmpl '{tmpl}')"
                )
            report.findings += [
                Finding("error", "missing_lr", str(m), f"no LR partner in {lq_roots[i]}") for m in missing
            ]
            report.findings += [
                Finding("warning", "missing_gt", str(o), f"no GT partner in {gt_root}")
                for o in orphans
                # with meta_info the GT set is the list: LR files of unlisted GTs are not orphans
                if meta_info is None
            ]
        else:
            pairs += [Pair(g, None) for g in gts]
    gt_paths = [p.gt for p in pairs] + [Path(f.path) for f in report.findings if f.kind == "missing_lr"]
    lq_paths = [p.lq for p in pairs if p.lq is not None]
    infos = _inspect_all(gt_paths + lq_paths, use_cache, announce)
    for info in infos.values():
        if info.error:
            report.findings.append(Finding("error", "unreadable", str(info.path), info.error))
    good_gt = [infos[p] for p in gt_paths if not infos[p].error]
    good_lq = [infos[p] for p in lq_paths if not infos[p].error]
    report.images = len(infos)
    report.pairs = len(pairs)
    if not infos:
        where = ", ".join(str(r) for r in gt_roots)
        report.findings.append(
            Finding(
                "error",
                "empty",
                where,
                "no images found: a dataset needs at least one" + other_files_hint(gt_roots),
            )
        )
    for role, group in (("GT", good_gt), ("LR", good_lq)):
        report.findings += mixed(group, role) + duplicates(group, role) + multi_frame(group)
    crop_gt = lq_size * scale if lq_size and scale else None
    unscaled: set[Path] = set()  # GT-only images with no LR pixel to make
    readable = [
        (infos[p.gt], infos[p.lq]) for p in pairs if p.lq and not (infos[p.gt].error or infos[p.lq].error)
    ]
    if scale and (fix := scale_fix(readable, scale)):
        report.fixes.append(fix)
    for pair in pairs:
        gt, lq = infos[pair.gt], infos.get(pair.lq) if pair.lq else None
        if gt.error or (lq is not None and lq.error):
            continue
        turned = orientations(pair, gt, lq, scale) if lq is not None else None
        if turned:
            report.findings.append(turned)
        if lq is not None and scale:
            finding = ratio(pair, gt, lq, scale)
            if finding:
                report.findings.append(finding)
                if finding.severity == "error":
                    continue
            if not turned and (unlike := content_mismatch(pair, gt, lq)):
                report.findings.append(unlike)
        if lq is not None and lq_size and min(lq.height, lq.width) < lq_size:
            report.findings.append(
                Finding(
                    "error",
                    "too_small",
                    str(pair.lq),
                    f"LR {lq.width}x{lq.height} is smaller than lq_size {lq_size}",
                )
            )
        elif (
            lq is None
            and crop_gt
            and min(gt.height - gt.height % scale, gt.width - gt.width % scale) < crop_gt
        ):
            padded = (
                "; it is padded to the crop (reflection), which repeats its content" if pads_small else ""
            )
            report.findings.append(
                Finding(
                    "warning" if pads_small else "error",
                    "too_small",
                    str(pair.gt),
                    f"GT {gt.width}x{gt.height} is smaller than the crop {crop_gt}{padded}",
                )
            )
        elif lq is None and scale and not pads_small and min(gt.height, gt.width) < scale:
            # Whole images (validation): no LR pixel to make, so the dataset leaves it out. Counted as a size below,
            # it read as a metric's problem ("0 pixels on its short side ... lower crop_border") and stopped training.
            detail = (
                f"GT {gt.width}x{gt.height} is smaller than the scale {scale}: no LR pixel to make from it"
            )
            report.findings.append(Finding("error", "too_small", str(pair.gt), detail))
            unscaled.add(pair.gt)
    small = [f for f in report.findings if f.kind == "too_small"]
    if pads_small and good_gt and len(small) == len(good_gt):
        # Padding a few small images is fine; padding all of them means the crop is wrong.
        largest = max(good_gt, key=lambda i: i.width * i.height)
        report.findings.append(
            Finding(
                "error",
                "crop_too_large",
                str(largest.path),
                f"the {crop_gt}x{crop_gt} crop is larger than every image (largest {largest.width}x"
                f"{largest.height}): every sample would be mostly padding; lower lq_size",
            )
        )
    if sized := [i for i in good_gt if i.path not in unscaled]:
        ws = np.array([i.width for i in sized])
        hs = np.array([i.height for i in sized])
        report.min_size = (int(ws.min()), int(hs.min()))
        report.narrowest = str(min(sized, key=lambda i: min(i.width, i.height)).path)
        report.median_size = (int(np.median(ws)), int(np.median(hs)))
        report.max_size = (int(ws.max()), int(hs.max()))
    if crop_gt:
        report.hints += _whole_decode_hint(good_gt, crop_gt)
    elif batch_size and batch_size > 1 and report.min_size != report.max_size:
        # Whole images of two sizes cannot be stacked into one batch: torch's "stack expects each tensor to be equal
        # size" traceback, at whichever iteration first drew two of them together (hours in, with one odd image).
        report.findings.append(
            Finding(
                "error",
                "sizes_differ",
                str(report.narrowest),
                f"images of different sizes (width {report.min_size[0]} to {report.max_size[0]}, height "
                f"{report.min_size[1]} to {report.max_size[1]}) and no lq_size: a batch of {batch_size} whole images "
                "needs one size; set lq_size (random crops) or batch_size_per_gpu 1",
            )
        )
    if batch_size and pairs:
        # As training counts them (train.sampler): whole optimizer steps of batch_size x accum_iter samples.
        step = batch_size * max(accum_iter, 1)
        report.iterations_per_epoch = len(pairs) * enlarge_ratio // step
        if not report.iterations_per_epoch:
            where = ", ".join(str(r) for r in gt_roots)
            report.findings.append(
                Finding(
                    "error",
                    "fewer_than_a_step",
                    where,
                    f"{len(pairs) * enlarge_ratio} sample(s), fewer than one step's batch {batch_size} x accum_iter "
                    f"{max(accum_iter, 1)}; lower the batch size or add images",
                )
            )
    return report


# A sample that decodes this many times the pixels of its crop spends nearly all its loading time decoding.
WHOLE_DECODE_RATIO = 16
# ...but a whole decode only costs something once images are large: PNG decodes at about 20 ns a pixel here (153 ms
# for a 7.4 MP photo, docs/benchmarks.md) against ~1.5 ms for a crop from a tiled TIFF, so `prepare chunk`'s 256 px
# tiles (1.3 ms) gain nothing from `prepare tiff`, while megapixel photos (20 ms and up a sample) gain 10x or more.
WHOLE_DECODE_MIN_PIXELS = 1_000_000


def _whole_decode_hint(infos: list[ImageInfo], crop: int) -> list[str]:
    whole = [i for i in infos if not i.region_reads]
    if not whole:
        return []
    pixels = float(np.median([i.width * i.height for i in whole]))
    ratio = pixels / (crop * crop)
    if ratio < WHOLE_DECODE_RATIO or pixels < WHOLE_DECODE_MIN_PIXELS:
        return []
    return [
        f"{len(whole)} GT images are decoded whole for every {crop}x{crop} crop ({ratio:.0f}x the crop's pixels at "
        "the median): `upres prepare tiff` copies them to tiled TIFFs, which training reads crop by crop "
        f"({doc_page('data.md#large-photos-read-only-the-crop')})"
    ]
