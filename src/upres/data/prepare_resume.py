"""What `upres prepare` counts as finished work on a rerun: an output that is a whole image of the size its source
gives, written after the source last changed (its status change time: a replacement that kept an older mtime, as
`cp -p` and `rsync -a` make, is a change). Any file with the output's name counted before, so a changed source
kept its old LR, and an empty or truncated output stayed. Header reads only: resuming must not decode finished
images."""

from __future__ import annotations

import os
from pathlib import Path

_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def output_is_finished(path: Path, source_changed_ns: int, size: tuple[int, int]) -> bool:
    """True when `path` is a whole image of `size` (height, width), not older than its source."""
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_mtime_ns < source_changed_ns:
        return False
    return _whole_image_size(path, st.st_size) == size


def _whole_image_size(path: Path, file_size: int) -> tuple[int, int] | None:
    """(height, width) from the header, or None when the file is not an image or ends before its data does."""
    from PIL import Image

    from upres.io.pillow_limit import pillow_limit_lifted

    try:
        with pillow_limit_lifted(), Image.open(path) as img:
            w, h = img.size
            if img.format == "PNG" and _tail(path, file_size, len(_PNG_END)) != _PNG_END:
                return None
            if img.format == "BMP" and int.from_bytes(_head(path, 6)[2:6], "little") > file_size:
                return None
            if img.format == "TIFF" and _tiff_data_end(img) > file_size:
                return None
            return h, w
    except Exception:  # any decoder complaint means "not a finished output": it is made again
        return None


def _tiff_data_end(img) -> int:
    """Where the last strip or tile of the first page ends (0 when the tags do not say)."""
    tags = img.tag_v2
    for offsets_tag, counts_tag in ((324, 325), (273, 279)):  # tiles, strips
        offsets, counts = tags.get(offsets_tag), tags.get(counts_tag)
        if offsets is not None and counts is not None:
            offsets = offsets if isinstance(offsets, tuple) else (offsets,)
            counts = counts if isinstance(counts, tuple) else (counts,)
            return max(o + c for o, c in zip(offsets, counts, strict=False))
    return 0


def _tail(path: Path, file_size: int, n: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(max(0, file_size - n))
        return fh.read(n)


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def source_changed_ns(path: Path) -> int:
    """When the file at `path` last changed. ctime, which no tool can set back, moves on when the file is replaced
    or rewritten; a mere chmod or a copy of the whole tree moves it too, and so costs a remake, never a stale output."""
    st = os.stat(path)
    return max(st.st_mtime_ns, st.st_ctime_ns)
