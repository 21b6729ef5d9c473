"""Plain 8-bit PNGs are decoded by libpng on their bytes (no Pillow), with the pixels Pillow's route gives; every
other PNG, and every broken one, still goes through that route with its result or message."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, PngImagePlugin

import upres.data.read as read_mod
from upres.data import build_dataset
from upres.data.options import parse_dataset_options
from upres.data.read import read_array
from upres.io.images import ImageReadError, write_image
from upres.io.plain_png import plain_png_size, read_plain_png


def _pixels(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png(path, arr: np.ndarray, colour: int, extra: bytes = b"", depth: int = 8) -> None:
    """A PNG written by hand: `extra` chunks go after IHDR."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + extra
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _pillow_route(path, monkeypatch) -> np.ndarray:
    with monkeypatch.context() as m:
        m.setattr(read_mod, "read_plain_png", lambda *a: None)
        return read_array(path)


def _variants(tmp_path) -> dict[str, tuple[object, bool]]:
    """name -> (path, whether the libpng route takes it)."""
    rgb, rgba = _pixels(23, 37, 3), _pixels(23, 37, 4, 1)
    gray, la = _pixels(23, 37, 1, 2), _pixels(23, 37, 2, 3)
    files: dict[str, tuple[object, bool]] = {}

    def add(name: str, plain: bool, write) -> None:
        path = tmp_path / f"{name}.png"
        write(path)
        files[name] = (path, plain)

    add("rgb", True, lambda p: write_image(p, rgb))
    add("rgba", True, lambda p: write_image(p, rgba))
    add("gray", True, lambda p: write_image(p, gray))
    add("gray_alpha", True, lambda p: _png(p, la, 4))
    add("with_phys", True, lambda p: Image.fromarray(rgb).save(p, dpi=(300, 300)))
    add("hand_rgb", True, lambda p: _png(p, rgb, 2, _chunk(b"tIME", bytes(7))))
    add("palette", False, lambda p: Image.fromarray(rgb).quantize(16).save(p))
    add(
        "colour_key",
        False,
        lambda p: Image.fromarray(rgb).save(p, transparency=tuple(int(v) for v in rgb[0, 0])),
    )
    add("gray_key", False, lambda p: Image.fromarray(gray[..., 0]).save(p, transparency=int(gray[0, 0, 0])))
    add("interlaced", False, lambda p: Image.fromarray(rgb).save(p, interlace=1) or _interlace(p, rgb))
    exif = Image.Exif()
    exif[0x0112] = 6
    add("exif_rotated", False, lambda p: Image.fromarray(rgb).save(p, exif=exif.tobytes()))
    xmp = PngImagePlugin.PngInfo()
    xmp.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>')
    add("xmp_rotated", False, lambda p: Image.fromarray(rgb).save(p, pnginfo=xmp))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    add("icc", False, lambda p: Image.fromarray(rgb).save(p, icc_profile=srgb))
    add("gamma", False, lambda p: _png(p, rgb, 2, _chunk(b"gAMA", struct.pack(">I", 45455))))
    add("sixteen_bit_gray", False, lambda p: write_image(p, (gray.astype(np.uint16) * 257)))
    add("sixteen_bit_rgb", False, lambda p: write_image(p, (rgb.astype(np.uint16) * 257 + 3)))
    return files


def _interlace(path, arr: np.ndarray) -> None:
    """Adam7 by hand when this Pillow writes no interlaced PNGs."""
    with Image.open(path) as img:
        if img.info.get("interlace"):
            return
    h, w = arr.shape[:2]
    passes = (
        (0, 0, 8, 8),
        (0, 4, 8, 8),
        (4, 0, 8, 4),
        (0, 2, 4, 4),
        (2, 0, 4, 2),
        (0, 1, 2, 2),
        (1, 0, 2, 1),
    )
    raw = b""
    for y0, x0, dy, dx in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def test_every_png_reads_as_pillows_route_gives_it(tmp_path, monkeypatch):
    for name, (path, plain) in _variants(tmp_path).items():
        expected = _pillow_route(path, monkeypatch)
        got = read_array(path)
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
        assert (read_plain_png(path, None) is not None) == plain, name


def test_a_plain_png_is_read_without_pillow(tmp_path, monkeypatch):
    write_image(tmp_path / "tile.png", _pixels(40, 40, 3))

    def refuse(*a, **k):
        raise AssertionError("Pillow opened a plain 8-bit PNG")

    monkeypatch.setattr("upres.io.images.Image.open", refuse)
    assert read_array(tmp_path / "tile.png").shape == (40, 40, 3)


@pytest.mark.parametrize(
    "damage",
    [
        "truncated_idat",
        "truncated_file",
        "bad_phys_checksum",
        "bad_zlib",
        "no_iend",
        "bad_idat_checksum",
    ],
)
def test_a_broken_png_gets_the_message_it_had(tmp_path, monkeypatch, damage):
    arr = _pixels(30, 30, 3)
    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(30))
    idat = zlib.compress(raw)
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 30, 30, 8, 2, 0, 0, 0))
    phys = _chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
    if damage == "truncated_idat":
        data = ihdr + _chunk(b"IDAT", idat[: len(idat) // 2]) + _chunk(b"IEND", b"")
    elif damage == "truncated_file":
        data = (ihdr + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))[:-30]
    elif damage == "bad_phys_checksum":
        data = ihdr + phys[:-1] + bytes([phys[-1] ^ 1]) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    elif damage == "bad_zlib":
        data = ihdr + _chunk(b"IDAT", idat[:10] + bytes(len(idat) - 10)) + _chunk(b"IEND", b"")
    elif damage == "no_iend":
        data = ihdr + _chunk(b"IDAT", idat)
    else:
        data = ihdr + _chunk(b"IDAT", idat)[:-1] + b"\x00" + _chunk(b"IEND", b"")
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)

    def outcome(fn):
        try:
            return fn(path)
        except ImageReadError as exc:
            return str(exc)

    before = outcome(lambda p: _pillow_route(p, monkeypatch))
    after = outcome(read_array)
    if isinstance(before, str):
        assert after == before
    else:
        np.testing.assert_array_equal(after, before)


def test_over_the_pixel_limit_keeps_its_message(tmp_path, monkeypatch):
    write_image(tmp_path / "big.png", _pixels(20, 30, 3))
    with pytest.raises(ImageReadError, match=r"big.png: 30x20 exceeds the pixel limit 100; raise"):
        read_array(tmp_path / "big.png", max_pixels=100)


def test_plain_png_size_reads_the_header(tmp_path):
    write_image(tmp_path / "a.png", _pixels(7, 11, 3))
    assert plain_png_size((tmp_path / "a.png").read_bytes()) == (11, 7)
    assert plain_png_size(b"not a png") is None


def test_paired_samples_are_those_of_pillows_route(tmp_path, monkeypatch):
    """Same seed, same samples, bit for bit: GT/LR folders of RGB, gray and RGBA tiles, crops and the whole image."""
    gt, lq = tmp_path / "gt", tmp_path / "lq"
    gt.mkdir()
    lq.mkdir()
    for i, c in enumerate((3, 3, 1, 4)):
        big = _pixels(48, 40, c, i)
        write_image(gt / f"{i}.png", big)
        small = np.ascontiguousarray(big[::2, ::2])
        write_image(lq / f"{i}.png", small)
    cases = [
        {"dataroot_lq": str(lq), "lq_size": 12},
        {"lq_size": 8},
        {"dataroot_lq": str(lq)},
    ]

    def samples(opts: dict) -> list[torch.Tensor]:
        ds = build_dataset(
            parse_dataset_options(
                {
                    "type": "pairedimagedataset",
                    "dataroot_gt": str(gt),
                    "use_hflip": True,
                    "use_rot": True,
                    **opts,
                }
            ),
            2,
            seed=5,
        )
        return [t for i in range(len(ds)) for t in (ds[i]["lq"], ds[i]["gt"])]

    for opts in cases:
        fast = samples(opts)
        with monkeypatch.context() as m:
            m.setattr(read_mod, "read_plain_png", lambda *a: None)
            slow = samples(opts)
        assert all(torch.equal(a, b) for a, b in zip(fast, slow, strict=True)), opts


def test_a_png_the_usual_decode_takes_is_not_read_whole_first(tmp_path, monkeypatch):
    """A 16-bit or palette file goes to the usual decode: its header says so, and the rest of the file (a 16-bit
    photo of tens of MB) was read once for nothing before that decode read it again."""
    import upres.io.plain_png as plain_png

    read = []

    class Counting:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def read(self, n=-1):
            data = self.fh.read(n)
            read.append(len(data))
            return data

    counting = lambda p, mode: Counting(open(p, mode))  # noqa: E731, SIM115 - Counting closes the file
    monkeypatch.setattr(plain_png, "open", counting, raising=False)
    path16 = tmp_path / "deep.png"
    Image.fromarray(np.zeros((64, 64), dtype=np.uint16)).save(path16)
    palette = tmp_path / "palette.png"
    Image.fromarray(_pixels(64, 64, 3)).convert("P").save(palette)
    for path in (path16, palette):
        read.clear()
        assert read_plain_png(path, None) is None
        assert sum(read) == 33 < path.stat().st_size
    plain = tmp_path / "plain.png"
    _png(plain, _pixels(8, 8, 3), 2)
    read.clear()
    assert read_plain_png(plain, None) is not None and sum(read) == plain.stat().st_size
