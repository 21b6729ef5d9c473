"""A fast read of the plain 8-bit PNGs training folders hold: libpng (imagecodecs) on the file's bytes.

Pillow's PNG route costs a training sample about as much again as the decode itself on small tiles (opening the file
three times, parsing chunks in Python, copying the pixels twice), which made `pairedimagedataset` slower than
BasicSR's cv2 reads. A PNG is lossless, so any decoder gives the same pixels when nothing but the pixels is in the
file: `read_plain_png` takes only such files (8-bit gray, gray+alpha, RGB or RGBA, not interlaced, and no chunk
besides IHDR, IDAT, IEND, pHYs and tIME, each ancillary one with its checksum right) and returns None for every
other file, so the caller's usual decode handles it with its usual result or message. Left to that decode: palette
and colour-key transparency (tRNS), EXIF or XMP orientation, ICC profiles and gamma chunks (libpng checks them and
logs its complaints), 1-, 2-, 4- and 16-bit files, and anything libpng refuses.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from upres.io.images import gray_alpha_as_rgba

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that change no pixel for Pillow or libpng (IDAT aside, whose checksum libpng checks itself).
_PLAIN = frozenset((b"IHDR", b"IDAT", b"IEND", b"pHYs", b"tIME"))
_COLOUR_TYPES = (0, 2, 4, 6)  # gray, RGB, gray+alpha, RGBA


_HEADER = 33  # the signature and the IHDR chunk


def _plain_header(data: bytes) -> bool:
    """The first `_HEADER` bytes of `data` are a PNG's of 8 bits per sample, a colour type libpng gives as
    `read_image` does, not interlaced."""
    if len(data) < _HEADER or data[:8] != _SIGNATURE or data[12:16] != b"IHDR":
        return False
    return data[24] == 8 and data[25] in _COLOUR_TYPES and not data[28]


def plain_png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) when `data` is a PNG that `read_plain_png` decodes, else None."""
    if not _plain_header(data):
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    pos, end = 8, len(data)
    while pos + 12 <= end:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        stop = pos + 12 + length
        if kind not in _PLAIN or stop > end:
            return None
        # Pillow refuses a file whose ancillary chunk fails its checksum; libpng only warns and reads on.
        if kind != b"IDAT" and zlib.crc32(data[pos + 4 : stop - 4]) != int.from_bytes(
            data[stop - 4 : stop], "big"
        ):
            return None
        if kind == b"IEND":
            return width, height
        pos = stop
    return None


def read_plain_png(path: Path, max_pixels: int | None) -> np.ndarray | None:
    """H x W x C uint8 (C in 1, 3, 4, as `read_image` gives) of a plain 8-bit PNG; None for any other file, one
    that cannot be read, or one over `max_pixels` (the caller's decode then says why)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEADER)
            # A 16-bit, palette or interlaced file (the usual decode's) is known from its header: not read twice.
            if not _plain_header(head):
                return None
            data = head + fh.read()
    except OSError:
        return None
    size = plain_png_size(data)
    if size is None or (max_pixels and size[0] * size[1] > max_pixels):
        return None
    import imagecodecs

    try:
        arr = imagecodecs.png_decode(data)
    except Exception:  # imagecodecs.PngError and friends: the caller's decode gives its own message
        return None
    return arr[..., None] if arr.ndim == 2 else gray_alpha_as_rgba(arr)
