"""Image files <-> arrays: 8/16-bit, gray, RGB, alpha, with EXIF orientation applied and the ICC profile kept.

Arrays are HxWxC (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) of uint8 or uint16; tensors are float32 (C, H, W) in
[0, 1]. `read_image` keeps its historic contract (C in 1, 3, 4: gray+alpha comes back as RGBA); `decode_image`
returns gray+alpha as two channels plus the ICC profile, for callers that write the image back.

Pillow cannot hold 16-bit colour, so 16-bit RGB(A)/LA PNGs go through imagecodecs (libpng) and 16-bit colour
TIFFs through tifffile; everything else through Pillow.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps

from upres.errors import UpresError
from upres.io.atomic import atomic_path
from upres.io.pillow_limit import pillow_limit_lifted
from upres.io.sample_formats import integer_samples_text, tiff_samples

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jfif", ".jpe", ".webp", ".bmp", ".tif", ".tiff", ".tga", ".gif")
WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")


def _limit_from_environment(default: int) -> int | None:
    """The pixel limit of every command but upscale (which has --max-pixels): UPRES_MAX_PIXELS, 0 for none."""
    text = os.environ.get("UPRES_MAX_PIXELS", "").strip()
    try:
        value = int(text) if text else default
    except ValueError:
        raise UpresError(
            f"UPRES_MAX_PIXELS={text!r}: must be a whole number of pixels (0: no limit)"
        ) from None
    return value if value > 0 else None


DEFAULT_MAX_PIXELS = _limit_from_environment(400_000_000)


def over_pixel_limit(path: Path, width: int, height: int, limit: int) -> ImageReadError:
    """A decompression-bomb guard's refusal, saying how to lift it for a real image this large."""
    return ImageReadError(
        f"{path}: {width}x{height} exceeds the pixel limit {limit}; raise --max-pixels (upscale) or the "
        "environment variable UPRES_MAX_PIXELS (other commands; 0: no limit) to allow it"
    )


_ORIENTATION_TAG = 0x0112
# zlib level of 8-bit PNGs written (Pillow's default is 6).
PNG_COMPRESS_LEVEL = 6


class ImageReadError(UpresError):
    exit_code = 1


@dataclass
class DecodedImage:
    """Pixels plus what is needed to write them back faithfully."""

    array: np.ndarray  # HxWxC, C in 1..4, uint8 or uint16
    icc_profile: bytes | None = None
    format: str = ""  # Pillow's format name of the source ("PNG", "JPEG", ...)
    frames: int = 1  # frames or pages in the file; only the first is decoded

    @property
    def has_alpha(self) -> bool:
        return self.array.shape[2] in (2, 4)


def icc_colour_space(profile: bytes | None) -> str | None:
    """'RGB', 'GRAY', 'CMYK', ... from the ICC header (bytes 16-19), or None."""
    if not profile or len(profile) < 20:
        return None
    return profile[16:20].decode("ascii", "replace").strip()


def _icc_fits(profile: bytes | None, channels: int) -> bytes | None:
    """A profile only describes images of its own colour space; attaching it to another would mislead viewers."""
    space = icc_colour_space(profile)
    want = "GRAY" if channels in (1, 2) else "RGB"
    return profile if space == want else None


def _cmyk_to_rgb(img: Image.Image, profile: bytes | None) -> Image.Image:
    """Colour-managed when the file carries a CMYK profile (print files do); Pillow's naive formula otherwise."""
    if profile and icc_colour_space(profile) == "CMYK":
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            return ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass
    return img.convert("RGB")


def _pil_to_array(
    img: Image.Image,
    profile: bytes | None = None,
    path: Path | None = None,
    samples: tuple[int, bool] = (32, False),
) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img)
        if mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
            # Signed or 32-bit integer pixels (scientific TIFFs): clipping them changed the picture without a word.
            raise ImageReadError(
                f"{path}: {integer_samples_text(samples, arr)}; convert the image to unsigned 16-bit first"
            )
        arr = arr.astype(np.uint16)[..., None]
        key = img.info.get("transparency")
        if isinstance(key, int):  # a 16-bit gray PNG's tRNS key: those pixels are transparent, as for 8-bit
            arr = np.concatenate([arr, np.where(arr == key, 0, 65535).astype(np.uint16)], axis=2)
        return arr
    if mode == "F":
        arr = np.asarray(img)
        if arr.size and not (np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1):
            # Clipping float pixels to 0..1 changed the picture without a word, as 32-bit integers did.
            raise ImageReadError(
                f"{path}: floating-point pixels from {arr.min()} to {arr.max()}, outside 0..1; convert the image to "
                "16-bit first"
            )
        return (arr * 65535 + 0.5).astype(np.uint16)[..., None]
    if mode in ("L", "RGB") and "transparency" in img.info:
        img = img.convert("LA" if mode == "L" else "RGBA")  # a tRNS colour key: those pixels are transparent
    elif mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "CMYK":
        img = _cmyk_to_rgb(img, profile)
    elif mode in ("YCbCr", "LAB", "HSV", "RGBX"):
        img = img.convert("RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode in ("PA", "RGBa"):
        img = img.convert("RGBA")
    elif mode == "La":
        img = img.convert("LA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in mode else "RGB")
    arr = np.asarray(img)
    return arr[..., None] if arr.ndim == 2 else arr


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation (1-8) applied to an HxWxC array, as ImageOps.exif_transpose does for Pillow images."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    return ops[orientation](arr) if orientation in ops else arr


def _deep_colour_source(img: Image.Image, path: Path) -> str | None:
    """'png' or 'tiff' when the file is 16-bit colour/gray+alpha that Pillow would cut to 8 bits."""
    if img.format == "PNG" and img.mode in ("RGB", "RGBA", "LA"):
        with open(path, "rb") as fh:
            head = fh.read(26)
        # PNG IHDR: bit depth at byte 24, colour type at byte 25 (2 RGB, 4 gray+alpha, 6 RGBA).
        if len(head) == 26 and head[24] == 16 and head[25] in (2, 4, 6):
            return "png"
    if img.format == "TIFF" and img.mode in ("RGB", "RGBA", "LA"):
        bits = img.tag_v2.get(258, (8,))
        if 16 in tuple(bits):
            return "tiff"
    return None


def _read_deep(path: Path, kind: str) -> np.ndarray:
    if kind == "png":
        import imagecodecs

        arr = imagecodecs.png_decode(path.read_bytes())
    else:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            arr = tiff_page_pixels(tif.pages[0])
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"unexpected {kind} layout {arr.dtype} {arr.shape}")
    return arr


def tiff_page_pixels(page) -> np.ndarray:
    """A tifffile page as HxW or HxWxC: the first page only (a multi-page file is a stack), planes of a planar file
    moved to channels, and colours divided by an associated (premultiplied) alpha, which every writer here labels
    unassociated (Pillow does the same for 8-bit files)."""
    arr = page.asarray()
    axes = page.axes[-arr.ndim :] if arr.ndim <= len(page.axes) else page.axes
    if arr.ndim == 3 and axes.startswith("S"):
        arr = np.moveaxis(arr, 0, -1)
    if 1 in tuple(int(e) for e in page.extrasamples) and arr.ndim == 3 and arr.shape[2] in (2, 4):
        peak = float(np.iinfo(arr.dtype).max) if arr.dtype.kind == "u" else 1.0
        alpha = arr[..., -1:].astype(np.float64)
        colour = np.where(alpha > 0, arr[..., :-1] * (peak / np.maximum(alpha, 1e-12)), 0)
        colour = np.clip(np.round(colour), 0, peak) if arr.dtype.kind == "u" else colour
        arr = np.concatenate([colour.astype(arr.dtype), arr[..., -1:]], axis=-1)
    return arr


def _pillow_can_open(path: Path) -> bool:
    try:
        with Image.open(path):
            return True
    except (Image.UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def _decode_tiff_with_tifffile(path: Path, max_pixels: int | None) -> DecodedImage:
    """TIFF layouts Pillow does not open (16-bit gray+alpha, for example)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            height, width = page.shape[:2]
            if max_pixels and width * height > max_pixels:
                raise over_pixel_limit(path, width, height, max_pixels)
            arr = tiff_page_pixels(page)
            tags = page.tags
            orientation = tags[274].value if 274 in tags else 1
            profile = tags[34675].value if 34675 in tags else None
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype.kind == "f" and arr.ndim == 3 and arr.shape[2] <= 4:
        raise ImageReadError(
            f"{path}: floating-point pixels with {arr.shape[2]} channels, which upres reads only as 8- or 16-bit "
            "unsigned; convert the image to 16-bit first"
        )
    if arr.dtype not in (np.uint8, np.uint16) or arr.ndim != 3 or arr.shape[2] > 4:
        raise ImageReadError(f"{path}: cannot read image (unsupported TIFF layout {arr.dtype} {arr.shape})")
    arr = np.ascontiguousarray(_orient(arr, int(orientation)))
    return DecodedImage(arr, _icc_fits(bytes(profile) if profile else None, arr.shape[2]), "TIFF")


def decode_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode with EXIF orientation applied; 16-bit PNG/TIFF stay 16-bit, gray stays gray, LA stays 2 channels.

    CMYK is converted to RGB (colour-managed when it carries a profile, which is then dropped: the result is sRGB);
    palette images become RGB or RGBA; any other ICC profile is returned unchanged when it fits the channels.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        from upres.io.image_files import broken_link

        raise ImageReadError(f"{path}: {broken_link(path)}")
    with pillow_limit_lifted():  # our max_pixels check, before decoding, stands in for Pillow's
        return _decode(path, max_pixels)


def _decode(path: Path, max_pixels: int | None) -> DecodedImage:
    try:
        if path.suffix.lower() in (".tif", ".tiff") and not _pillow_can_open(path):
            return _decode_tiff_with_tifffile(path, max_pixels)
        with Image.open(path) as img:
            if max_pixels and img.width * img.height > max_pixels:
                raise over_pixel_limit(path, img.width, img.height, max_pixels)
            profile = img.info.get("icc_profile") or None
            fmt = img.format or ""
            frames = int(getattr(img, "n_frames", 1) or 1)
            deep = _deep_colour_source(img, path)
            if deep:
                orientation = img.getexif().get(_ORIENTATION_TAG, 1)
                arr = _orient(_read_deep(path, deep), orientation)
            else:
                src_mode, samples = img.mode, tiff_samples(img)
                ImageOps.exif_transpose(img, in_place=True)
                arr = _pil_to_array(img, profile, path, samples)
                if src_mode == "CMYK":
                    profile = None
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, struct.error, zlib.error, Image.DecompressionBombError) as exc:
        # A failed copy or download: Pillow only says "cannot identify".
        empty = path.is_file() and path.stat().st_size == 0
        raise ImageReadError(
            f"{path}: cannot read image ({'the file is empty: 0 bytes' if empty else exc})"
        ) from None
    except Exception as exc:  # codecs raise their own types for corrupt data
        raise ImageReadError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    arr = np.ascontiguousarray(arr)
    return DecodedImage(arr, _icc_fits(profile, arr.shape[2]), fmt, frames)


def read_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file to an HxWxC uint8/uint16 array (C in 1, 3, 4); 16-bit PNG/TIFF stay 16-bit."""
    return gray_alpha_as_rgba(decode_image(path, max_pixels).array)


def gray_alpha_as_rgba(arr: np.ndarray) -> np.ndarray:
    """read_image's channel contract (1, 3 or 4): gray with alpha becomes RGBA, which keeps the alpha and the look."""
    return np.ascontiguousarray(arr[..., [0, 0, 0, 1]]) if arr.shape[2] == 2 else arr


def array_to_tensor(arr: np.ndarray) -> torch.Tensor:
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(scale)


def tensor_to_array(t: torch.Tensor, dtype: np.dtype = np.uint8) -> np.ndarray:
    """NaN is written black (numpy's cast of it warned); C order: the 16-bit PNG encoder refused a transposed one."""
    arr = (
        t.detach().float().nan_to_num(0.0).clamp(0, 1).mul(65535.0 if np.dtype(dtype) == np.uint16 else 255.0)
    )
    return arr.round_().to("cpu").numpy().transpose(1, 2, 0).astype(dtype, order="C")


def to_8bit(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _png_with_icc(data: bytes, profile: bytes | None) -> bytes:
    """Insert an iCCP chunk right after IHDR (the PNG spec wants it before PLTE/IDAT)."""
    if not profile:
        return data
    body = b"ICC Profile\x00\x00" + zlib.compress(profile)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    ihdr_end = 8 + 8 + 13 + 4
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def _write_deep(tmp: Path, arr: np.ndarray, suffix: str, profile: bytes | None, png_level: int) -> None:
    data = arr[..., 0] if arr.shape[2] == 1 else arr
    if suffix == ".png":
        import imagecodecs

        tmp.write_bytes(_png_with_icc(imagecodecs.png_encode(data, level=png_level), profile))
        return
    import tifffile

    photometric = "minisblack" if arr.shape[2] in (1, 2) else "rgb"
    extra = {"extrasamples": [2]} if arr.shape[2] in (2, 4) else {}  # 2: unassociated alpha
    tifffile.imwrite(
        tmp, data, photometric=photometric, compression="zlib", iccprofile=profile, **extra, metadata=None
    )


def write_image(
    path: str | Path,
    arr: np.ndarray,
    quality: int = 95,
    icc_profile: bytes | None = None,
    png_level: int = PNG_COMPRESS_LEVEL,
) -> Path:
    """Write atomically. 16-bit arrays stay 16-bit in PNG/TIFF (8-bit elsewhere); alpha is dropped for JPEG.

    `arr` may have 1-4 channels (2 = gray+alpha). An ICC profile is written when it fits the channels.
    `png_level` is the zlib level of PNGs (1 is about 5x faster than 6 for files about 15% larger).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if arr.ndim == 2:
        arr = arr[..., None]
    profile = _icc_fits(icc_profile, arr.shape[2])
    if arr.dtype == np.uint16 and suffix in (".png", ".tif", ".tiff"):
        with atomic_path(path) as tmp:
            _write_deep(tmp, arr, suffix, profile, png_level)
        return path
    arr = to_8bit(arr)
    if suffix in (".jpg", ".jpeg") and arr.shape[2] in (2, 4):
        arr = arr[..., : arr.shape[2] - 1]  # JPEG has no alpha
    img = Image.fromarray(np.ascontiguousarray(arr[..., 0] if arr.shape[2] == 1 else arr))
    params: dict = {}
    if suffix in (".jpg", ".jpeg", ".webp"):
        params["quality"] = quality
    if suffix == ".webp" and img.mode == "LA":
        img = img.convert("RGBA")
    if suffix == ".png":
        params["compress_level"] = png_level
    if profile:
        params["icc_profile"] = profile
    fmt = Image.registered_extensions().get(suffix)
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **params)
    return path
