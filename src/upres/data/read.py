"""Image files -> float32 RGB tensors in [0, 1] for training and evaluation.

Gray is replicated to RGB; alpha is composited on white/black or dropped; 16-bit files keep their precision
(float32 holds every 16-bit level exactly). Decoding is `upres.io.images.read_image`, so EXIF orientation applies;
plain 8-bit PNGs (no palette, colour key, orientation or colour chunks), the tiles training folders hold, go
straight to libpng (`upres.io.plain_png`), which gives the same pixels in less time.

`ImageSource` lets a dataset choose its crop from the image size and then read only that rectangle: tiled or
stripped TIFFs decode just the tiles/strips under it (`upres.io.tiff_regions`); PNG, JPEG and WebP cannot be decoded
a region at a time, so they are decoded whole and sliced. Both give the same pixels for the same rectangle.

16-bit RGB(A) PNGs: `read_image` (through imageio's Pillow plugin) returns their high bytes only, so they are
decoded here with PyAV (FFmpeg's PNG decoder keeps all 16 bits) when it is installed (`upres[video]`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from upres.io.images import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    gray_alpha_as_rgba,
    over_pixel_limit,
    read_image,
)
from upres.io.plain_png import read_plain_png
from upres.io.tiff_regions import open_tiff_regions

log = logging.getLogger("upres.data")
_warned_no_av = False

AlphaMode = Literal["white", "black", "drop"]
ColorMode = Literal["rgb", "y"]

# MATLAB rgb2ycbcr luma on [0, 1] values, scaled back to [0, 1] (the Y that the metrics and `color: y` use).
_Y = torch.tensor([65.481, 128.553, 24.966]).view(3, 1, 1) / 255.0


def _png16_color_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a 16-bit RGB(A) PNG, from its header; None for any other file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
    except OSError as exc:  # a file without read permission is one bad image, not the end of the command
        raise ImageReadError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    # PNG signature, then IHDR: width, height (big-endian), bit depth at byte 24, colour type (2 RGB, 6 RGBA) at 25.
    if len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16 and head[25] in (2, 6):
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None


def _read_png16_av(path: Path) -> np.ndarray:
    import av

    from upres.io.video import ffmpeg_name

    try:
        with av.open(ffmpeg_name(path)) as container:
            frame = next(container.decode(video=0))
            fmt = "rgba64le" if frame.format.name.startswith(("rgba", "ya")) else "rgb48le"
            return frame.to_ndarray(format=fmt).astype(np.uint16, copy=False)
    except (av.FFmpegError, StopIteration, ValueError) as exc:
        raise ImageReadError(f"{path}: cannot read image ({exc})") from None


def read_array(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """`read_image`, with every bit of 16-bit RGB(A) PNGs."""
    global _warned_no_av
    path = Path(path)
    if path.suffix.lower() == ".png" and (arr := read_plain_png(path, max_pixels)) is not None:
        return arr
    size = _png16_color_size(path) if path.suffix.lower() == ".png" and path.is_file() else None
    if size is not None:
        if max_pixels and size[0] * size[1] > max_pixels:
            # from the header, before PyAV decodes it all (a 429-byte file can claim 15000x15000)
            raise over_pixel_limit(path, size[0], size[1], max_pixels)
        try:
            arr = _read_png16_av(path)
        except ImportError:
            if not _warned_no_av:
                log.warning(
                    "16-bit RGB PNGs are read at 8-bit precision; install upres[video] (PyAV) for all 16 bits"
                )
                _warned_no_av = True
        else:
            return arr
    return read_image(path, max_pixels)


class ImageSource:
    """One image file opened for cropping: `height`, `width`, `bits`, then `read(top, left, h, w)`.

    `read` returns what `read_array(path)[top:top + h, left:left + w]` would, decoding only the region when the
    format allows (`region_reads`). The whole-image pixel limit does not apply to region reads: only the region is
    held in memory. Use as a context manager (a region reader keeps its file open).
    """

    def __init__(self, path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
        self.path = Path(path)
        self._regions = open_tiff_regions(self.path)
        self._whole: np.ndarray | None = None
        if self._regions is None:
            self._whole = read_array(self.path, max_pixels)
            self.height, self.width = self._whole.shape[:2]
            self.bits = 16 if self._whole.dtype == np.uint16 else 8
        else:
            self.height, self.width = self._regions.height, self._regions.width
            self.bits = 16 if self._regions.dtype == np.uint16 else 8

    @property
    def region_reads(self) -> bool:
        return self._regions is not None

    def read(
        self, top: int = 0, left: int = 0, height: int | None = None, width: int | None = None
    ) -> np.ndarray:
        """H x W x C uint8/uint16 (C in 1, 3, 4); the whole image by default."""
        height = self.height - top if height is None else height
        width = self.width - left if width is None else width
        if self._whole is not None:
            return self._whole[top : top + height, left : left + width]
        return gray_alpha_as_rgba(self._regions.read(top, left, height, width))

    def close(self) -> None:
        if self._regions is not None:
            self._regions.close()

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def array_to_rgb(arr: np.ndarray, alpha: AlphaMode = "white") -> torch.Tensor:
    """H x W x C uint8/uint16 array (C in 1..4) -> (3, H, W) float32 in [0, 1]."""
    peak = 65535.0 if arr.dtype == np.uint16 else 255.0
    t = torch.from_numpy(arr.transpose(2, 0, 1).astype(np.float32)).div_(peak)
    c = t.shape[0]
    if c in (2, 4):
        color, a = t[:-1], t[-1:]
        if alpha != "drop":
            bg = 1.0 if alpha == "white" else 0.0
            color = color * a + bg * (1.0 - a)
        t = color
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    return t.contiguous()


def rgb_to_y(t: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] -> (1, H, W) BT.601 luma in [16/255, 235/255]."""
    return (t * _Y.to(t.device, t.dtype)).sum(0, keepdim=True) + 16.0 / 255.0


def read_rgb(
    path: str | Path,
    alpha: AlphaMode = "white",
    color: ColorMode = "rgb",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> torch.Tensor:
    """Read an image file as a (3, H, W) float32 tensor in [0, 1] ((1, H, W) luma with color="y").

    Raises `upres.io.images.ImageReadError` for unreadable or corrupt files.
    """
    t = array_to_rgb(read_array(path, max_pixels), alpha)
    return rgb_to_y(t) if color == "y" else t


def bit_depth(path: str | Path) -> int:
    """8 or 16: the precision LR images made from this file are quantised to."""
    return 16 if read_array(path).dtype == np.uint16 else 8
