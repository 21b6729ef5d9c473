"""Image files <-> arrays: 8/16-bit, gray, RGB, alpha, with EXIF orientation applied.

Arrays are HxWxC (C = 1, 3 or 4) of uint8 or uint16; tensors are float32 (C, H, W) in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from upres.errors import UpresError
from upres.io.atomic import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".tga", ".gif")
DEFAULT_MAX_PIXELS = 400_000_000


class ImageReadError(UpresError):
    exit_code = 1


def list_images(root: str | Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _pil_to_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img)
        if mode == "I":
            arr = np.clip(arr, 0, 65535)
        return arr.astype(np.uint16)[..., None]
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode == "F":
        return (np.clip(np.asarray(img), 0, 1) * 65535 + 0.5).astype(np.uint16)[..., None]
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[..., None]
    if img.mode == "LA":
        arr = arr[..., [0, 0, 0, 1]]  # gray with alpha -> RGBA keeps the alpha and the look
    return arr


def read_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file to an HxWxC uint8/uint16 array; 16-bit PNG/TIFF stay 16-bit."""
    path = Path(path)
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as img:
            if max_pixels and img.width * img.height > max_pixels:
                raise ImageReadError(
                    f"{path}: {img.width}x{img.height} exceeds the pixel limit {max_pixels}; raise --max-pixels to allow it"
                )
            img = ImageOps.exif_transpose(img)
            arr = _pil_to_array(img)
            if path.suffix.lower() == ".png" and arr.dtype == np.uint8 and img.mode in ("RGB", "RGBA"):
                arr16 = _read_png16(path)
                if arr16 is not None:
                    arr = arr16
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"{path}: cannot read image ({exc})") from None
    return np.ascontiguousarray(arr)


def _read_png16(path: Path) -> np.ndarray | None:
    """Pillow reads 16-bit RGB(A) PNGs as 8-bit; imageio keeps all 16 bits."""
    with open(path, "rb") as fh:
        head = fh.read(29)
    # PNG IHDR: bit depth at byte 24, colour type at byte 25.
    if len(head) < 26 or head[24] != 16 or head[25] not in (2, 6):
        return None
    import imageio.v3 as iio

    arr = iio.imread(path)
    return arr.astype(np.uint16) if arr.ndim == 3 else None


def array_to_tensor(arr: np.ndarray) -> torch.Tensor:
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(scale)


def tensor_to_array(t: torch.Tensor, dtype: np.dtype = np.uint8) -> np.ndarray:
    peak = 65535.0 if np.dtype(dtype) == np.uint16 else 255.0
    arr = t.detach().float().clamp(0, 1).mul(peak).round_().to("cpu").numpy().transpose(1, 2, 0)
    return arr.astype(dtype)


def write_image(
    path: str | Path, arr: np.ndarray, quality: int = 95, icc_profile: bytes | None = None
) -> Path:
    """Write atomically; 16-bit arrays go to PNG/TIFF at 16 bits."""
    path = Path(path)
    suffix = path.suffix.lower()
    channels = arr.shape[2]
    if arr.dtype == np.uint16 and suffix in (".png", ".tif", ".tiff"):
        import imageio.v3 as iio

        data = arr[..., 0] if channels == 1 else arr
        with atomic_path(path) as tmp:
            iio.imwrite(tmp, data, extension=suffix)
        return path
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    img = Image.fromarray(arr[..., 0] if channels == 1 else arr)
    params: dict = {}
    if suffix in (".jpg", ".jpeg", ".webp"):
        params["quality"] = quality
        if img.mode == "RGBA" and suffix != ".webp":
            img = img.convert("RGB")
    if icc_profile:
        params["icc_profile"] = icc_profile
    fmt = Image.registered_extensions().get(suffix)
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **params)
    return path
