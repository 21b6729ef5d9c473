"""Read a rectangle of a tiled or stripped TIFF by decoding only the segments (tiles or strips) it touches.

A 256x256 training crop from a 4000x3000 tiled TIFF decodes a handful of tiles instead of 12 million pixels. Only
layouts whose pixels `upres.io.images.read_image` returns unchanged are read this way (8/16-bit unsigned gray or RGB,
optional unassociated alpha, interleaved samples, no EXIF rotation, no JPEG compression), so a region is always
bit-identical to the same rectangle of the whole decoded image; `open_tiff_regions` returns None for the others and
callers decode the whole file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from upres.io.images import ImageReadError

TIFF_SUFFIXES = (".tif", ".tiff")
# A segment larger than this is decoded like a whole image (where max_pixels applies): a hostile header could
# otherwise declare one enormous tile.
MAX_SEGMENT_PIXELS = 1 << 26
_MINISBLACK, _RGB = 1, 2
_UNASSOCIATED_ALPHA = 2
# JPEG-in-TIFF (6, 7): Pillow's libtiff and tifffile's libjpeg-turbo may round differently, so those decode whole.
_JPEG = (6, 7, 34892)


class TiffRegions:
    """An open TIFF whose first page can be read one rectangle at a time; use as a context manager."""

    def __init__(self, path: Path, tif) -> None:  # tif: tifffile.TiffFile, imported lazily
        self.path = path
        self._tif = tif
        page = tif.pages[0]
        self._page = page
        self.height, self.width = int(page.imagelength), int(page.imagewidth)
        self.channels = int(page.samplesperpixel)
        self.dtype = np.dtype(page.dtype)
        self._seg_h, self._seg_w = (
            (int(page.tilelength), int(page.tilewidth))
            if page.is_tiled
            else (min(int(page.rowsperstrip), self.height), self.width)
        )
        self._per_row = -(-self.width // self._seg_w)

    def __enter__(self) -> TiffRegions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._tif.close()

    def read(self, top: int, left: int, height: int, width: int) -> np.ndarray:
        """H x W x C uint8/uint16 array of the rectangle (C as stored: 1-4)."""
        if (
            top < 0
            or left < 0
            or height <= 0
            or width <= 0
            or top + height > self.height
            or left + width > self.width
        ):
            raise ValueError(
                f"{self.path}: region {width}x{height} at ({left}, {top}) lies outside the {self.width}x{self.height} image"
            )
        page, fh = self._page, self._tif.filehandle
        out = np.empty((height, width, self.channels), self.dtype)
        decode = page.decode
        bottom, right = top + height, left + width
        try:
            for row in range(top // self._seg_h, (bottom - 1) // self._seg_h + 1):
                for col in range(left // self._seg_w, (right - 1) // self._seg_w + 1):
                    index = row * self._per_row + col
                    fh.seek(page.dataoffsets[index])
                    data = fh.read(page.databytecounts[index])
                    segment, _, shape = decode(data, index, jpegtables=page.jpegtables)
                    y0, x0 = row * self._seg_h, col * self._seg_w
                    ys, xs = max(top, y0), max(left, x0)
                    ye = min(bottom, y0 + shape[1], self.height)
                    xe = min(right, x0 + shape[2], self.width)
                    if (
                        segment is None
                    ):  # an empty (sparse) segment reads as zeros, as tifffile's asarray does
                        out[ys - top : ye - top, xs - left : xe - left] = 0
                        continue
                    out[ys - top : ye - top, xs - left : xe - left] = segment[
                        0, ys - y0 : ye - y0, xs - x0 : xe - x0
                    ]
        except Exception as exc:  # codecs raise their own types for corrupt data
            raise ImageReadError(f"{self.path}: cannot read image ({type(exc).__name__}: {exc})") from None
        return out


def _region_readable(page) -> bool:
    samples = int(page.samplesperpixel)
    extras = tuple(page.extrasamples or ())
    if samples in (2, 4):
        alpha_ok = extras == (_UNASSOCIATED_ALPHA,)
    else:
        alpha_ok = samples in (1, 3) and not extras
    photometric = _MINISBLACK if samples in (1, 2) else _RGB
    orientation = page.tags[274].value if 274 in page.tags else 1
    return (
        alpha_ok
        and int(page.photometric) == photometric
        and int(page.bitspersample) in (8, 16)
        and int(page.sampleformat) == 1
        and (samples == 1 or int(page.planarconfig) == 1)
        and int(page.compression) not in _JPEG
        and not page.is_subsampled
        and int(orientation) == 1
        and int(page.imagedepth) == 1
        and (not page.is_tiled or int(page.tiledepth) == 1)
        and page.dtype is not None
        and np.prod(page.chunks[:2]) <= MAX_SEGMENT_PIXELS
        and len(page.dataoffsets) == len(page.databytecounts) > 0
    )


def open_tiff_regions(path: str | Path) -> TiffRegions | None:
    """A region reader for `path`, or None when it is not a TIFF whose regions read identically to the whole image.

    Unreadable TIFFs also give None: the caller's whole-image decode reports them with its usual message.
    """
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return None
    import tifffile

    try:
        tif = tifffile.TiffFile(path)
    except Exception:
        return None
    try:
        if len(tif.pages) and _region_readable(tif.pages[0]):
            return TiffRegions(path, tif)
    except Exception:
        pass
    tif.close()
    return None


TILED_COMPRESSIONS = ("zlib", "zstd", "lzw", "none")


def write_tiled_tiff(
    path: str | Path,
    arr: np.ndarray,
    tile: int = 128,
    compression: str = "zlib",
    icc_profile: bytes | None = None,
) -> Path:
    """Write an H x W x C (C 1-4, uint8/uint16) array losslessly as a tiled TIFF that `open_tiff_regions` reads by
    region, atomically. Alpha is stored unassociated (straight), as PNG holds it; `tile` must be a multiple of 16."""
    import tifffile

    from upres.io.atomic import atomic_path

    if tile < 16 or tile % 16:
        raise ValueError(f"TIFF tile size must be a positive multiple of 16, not {tile}")
    if compression not in TILED_COMPRESSIONS:
        raise ValueError(f"TIFF compression {compression!r} is not one of {', '.join(TILED_COMPRESSIONS)}")
    if arr.ndim == 2:
        arr = arr[..., None]
    channels = arr.shape[2]
    extra = {"extrasamples": [_UNASSOCIATED_ALPHA]} if channels in (2, 4) else {}
    # Horizontal differencing makes photos compress ~1.5x smaller with deflate/zstd/LZW at almost no decode cost.
    codec = {} if compression == "none" else {"compression": compression, "predictor": True}
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            arr[..., 0] if channels == 1 else arr,
            photometric="minisblack" if channels in (1, 2) else "rgb",
            planarconfig="contig",
            tile=(tile, tile),
            iccprofile=icc_profile,
            metadata=None,
            **extra,
            **codec,
        )
    return Path(path)
