"""What `upres doctor` finds in a set of inspected images: the record types and the checks across images and pairs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from upres.data.paired import Pair


@dataclass
class Finding:
    severity: str  # "error" or "warning"
    kind: str
    path: str
    detail: str


@dataclass
class ImageInfo:
    path: Path
    height: int = 0
    width: int = 0
    bits: int = 8
    channels: int = 3
    digest: str = ""
    error: str | None = None
    region_reads: bool = False  # training reads crops of it without decoding the whole file
    orientation: int = 1  # EXIF orientation tag, applied when read (phone JPEGs are stored sideways)
    frames: int = 1  # pages of a TIFF, frames of a GIF: only the first is read
    outline: str = ""  # 16x16 gray block means, base64 (data/pair_content.py); empty when narrower


def mixed(infos: list[ImageInfo], role: str) -> list[Finding]:
    out = []
    checks = [
        ("mixed_bit_depth", lambda i: f"{i.bits}-bit"),
        ("mixed_alpha", lambda i: "with alpha" if i.channels in (2, 4) else "without alpha"),
        ("mixed_grayscale", lambda i: "grayscale" if i.channels in (1, 2) else "color"),
    ]
    for kind, label in checks:
        groups: dict[str, list[ImageInfo]] = defaultdict(list)
        for i in infos:
            groups[label(i)].append(i)
        if len(groups) > 1:
            minority = min(groups.values(), key=len)
            parts = ", ".join(f"{len(v)} {k}" for k, v in sorted(groups.items()))
            out.append(Finding("warning", kind, str(minority[0].path), f"{role} images are mixed: {parts}"))
    return out


def duplicates(infos: list[ImageInfo], role: str) -> list[Finding]:
    by_digest: dict[str, list[ImageInfo]] = defaultdict(list)
    for i in infos:
        by_digest[i.digest].append(i)
    return [
        Finding(
            "warning",
            "duplicate",
            str(group[0].path),
            f"same {role} pixels as " + ", ".join(str(g.path) for g in group[1:]),
        )
        for group in by_digest.values()
        if len(group) > 1
    ]


def orientations(pair: Pair, gt: ImageInfo, lq: ImageInfo, scale: int | None = None) -> Finding | None:
    """GT and LR with different EXIF orientation tags: each is read upright by its own tag, so an LR made from the
    stored pixels of a tagged GT is read rotated against it (for a square pair no size shows it)."""
    if gt.orientation == lq.orientation or _made_upright(gt, lq, scale):
        return None
    return Finding(
        "warning",
        "exif_orientation",
        str(pair.gt),
        f"EXIF orientation {gt.orientation} but its LR {pair.lq} has {lq.orientation}: each is turned upright by its "
        "own tag, so an LR made from the stored pixels is read rotated or flipped against its GT; check that the "
        "pair lines up, or apply the tags to the pixels (e.g. exiftran -ai, or mogrify -auto-orient) before "
        "making the LR",
    )


def _made_upright(gt: ImageInfo, lq: ImageInfo, scale: int | None) -> bool:
    """The LR fits its GT as read upright but would not fit it turned a quarter: it was made from the upright pixels
    (as `upres prepare lr` makes it from a phone photo), not from the stored ones, although one tag turns a quarter
    and the other does not. Every such LR of a tagged photo was warned about, at each training start too."""
    quarter = {5, 6, 7, 8}  # the tags that swap width and height
    if scale is None or (gt.orientation in quarter) == (lq.orientation in quarter):
        return False

    def fits(lq_h: int, lq_w: int) -> bool:
        return (
            lq_h * scale <= gt.height < (lq_h + 1) * scale and lq_w * scale <= gt.width < (lq_w + 1) * scale
        )

    return fits(lq.height, lq.width) and not fits(lq.width, lq.height)


def ratio(pair: Pair, gt: ImageInfo, lq: ImageInfo, scale: int) -> Finding | None:
    if gt.height == lq.height * scale and gt.width == lq.width * scale:
        return None
    size = f"GT {gt.width}x{gt.height}, LR {lq.width}x{lq.height} ({pair.lq})"
    if gt.orientation != lq.orientation and not _made_upright(gt, lq, scale):
        size += f" (EXIF orientation {gt.orientation} and {lq.orientation}: see exif_orientation)"
    if (
        lq.height * scale <= gt.height < (lq.height + 1) * scale
        and lq.width * scale <= gt.width < (lq.width + 1) * scale
    ):
        return Finding(
            "warning", "off_by_few", str(pair.gt), f"{size}: GT is cropped to LR x {scale} when loading"
        )
    return Finding("error", "scale_mismatch", str(pair.gt), f"{size}: ratio is not the scale {scale}")


def multi_frame(infos: list[ImageInfo]) -> list[Finding]:
    return [
        Finding("warning", "multi_frame", str(i.path), f"{i.frames} pages or frames: only the first is read")
        for i in infos
        if i.frames > 1
    ]


def _fits(gt: ImageInfo, lq: ImageInfo, scale: int) -> bool:
    """GT is LR x scale, give or take the mod-crop leftovers the datasets crop away."""
    return (
        lq.height * scale <= gt.height < (lq.height + 1) * scale
        and lq.width * scale <= gt.width < (lq.width + 1) * scale
    )


def scale_fix(pairs: list[tuple[ImageInfo, ImageInfo]], scale: int) -> str | None:
    """The fix when no (GT, LR) pair is of this scale but all of them tell one story: another scale, or the GT and LR
    folders given the wrong way round (each pair's error alone says only "ratio is not the scale")."""
    if not pairs or any(_fits(gt, lq, scale) for gt, lq in pairs):
        return None
    if all(_fits(lq, gt, scale) for gt, lq in pairs):
        return (
            f"every LR is {scale} times larger than its GT: the GT and LR folders are given the wrong way round; "
            "swap dataroot_gt and dataroot_lq"
        )
    gt, lq = pairs[0]
    other = gt.width // max(lq.width, 1)
    if other > 1 and all(_fits(g, lr, other) for g, lr in pairs):
        return (
            f"every pair is x{other}, not x{scale}: set scale: {other} (upres doctor: --scale {other}), or give the LR "
            f"images of x{scale}"
        )
    return None
