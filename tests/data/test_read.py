"""Reading for training: gray, alpha, 16-bit into float32 RGB."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch

from upres.data.read import read_rgb
from upres.io.images import write_image


def test_gray_becomes_rgb(tmp_path):
    g = np.arange(12, dtype=np.uint8).reshape(3, 4, 1) * 20
    write_image(tmp_path / "g.png", g)
    t = read_rgb(tmp_path / "g.png")
    assert t.shape == (3, 3, 4) and t.dtype == torch.float32
    assert torch.equal(t[0], t[2]) and torch.allclose(t[1], torch.from_numpy(g[..., 0]).float() / 255)


def test_alpha_composited_or_dropped(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = [[0, 255], [51, 255]]
    write_image(tmp_path / "a.png", rgba)
    white = read_rgb(tmp_path / "a.png", alpha="white")
    black = read_rgb(tmp_path / "a.png", alpha="black")
    drop = read_rgb(tmp_path / "a.png", alpha="drop")
    assert white.shape == black.shape == drop.shape == (3, 2, 2)
    assert white[:, 0, 0].tolist() == [1.0, 1.0, 1.0]  # transparent -> background
    assert black[:, 0, 0].tolist() == [0.0, 0.0, 0.0]
    assert abs(white[0, 1, 0].item() - (200 / 255 * 0.2 + 0.8)) < 1e-6
    assert drop[0, 0, 0].item() == np.float32(200 / 255) and torch.equal(white[:, :, 1], drop[:, :, 1])


def _png16(path, arr: np.ndarray) -> None:
    """Minimal 16-bit RGB PNG writer (Pillow cannot write 16-bit RGB)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def test_16_bit_precision_kept(tmp_path):
    pytest.importorskip("av", reason="all 16 bits of RGB PNGs need PyAV (upres[video])")
    arr = (np.arange(16 * 3, dtype=np.uint16).reshape(4, 4, 3) * 1001 + 7).astype(np.uint16)
    _png16(tmp_path / "deep.png", arr)
    t = read_rgb(tmp_path / "deep.png")
    back = (t * 65535).round().to(torch.int64).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(back, arr.astype(np.int64))


def test_16_bit_rgba_file(shared_data):
    pytest.importorskip("av", reason="all 16 bits of RGB PNGs need PyAV (upres[video])")
    t = read_rgb(shared_data / "inputs" / "tree_alpha_16bit.png", alpha="drop")
    levels = (t * 65535).round()
    assert t.shape[0] == 3 and torch.allclose(levels, t * 65535, atol=1e-2)
    assert (levels % 257 != 0).any()  # real 16-bit levels, not 8-bit values widened


def test_corrupt_file_raises_image_read_error(tmp_path):
    from upres.io.images import ImageReadError

    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    with pytest.raises(ImageReadError, match="bad.png"):
        read_rgb(tmp_path / "bad.png")


def test_a_16_bit_png_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    """It was decoded whole by PyAV first: a 429-byte file claiming 15000x15000 took 1.9 GB (and FFmpeg's message)."""
    from upres.data.read import read_array

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", 15000, 15000, 16, 2, 0, 0, 0)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(Exception) as exc:
        read_array(bomb, max_pixels=1_000_000)
    assert str(exc.value).startswith(f"{bomb}: 15000x15000 exceeds the pixel limit 1000000")


def test_a_png_without_read_permission_is_one_unreadable_image(tmp_path, monkeypatch, capsys):
    """The 16-bit header check opened every .png outside the image-error handling: one file without permission
    ended doctor, eval and training (a .jpg was reported as unreadable)."""
    import builtins

    from upres.cli import main
    from upres.data.read import read_array
    from upres.io.images import ImageReadError

    for name in ("a.png", "b.png"):
        write_image(tmp_path / "hr" / name, np.full((8, 8, 3), 100, np.uint8))
    locked = tmp_path / "hr" / "b.png"
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):  # chmod 000 does not stop root (CI): fail as the system would
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    with pytest.raises(ImageReadError, match=r"b.png: cannot read image \(Permission denied\)"):
        read_array(locked)
    assert main(["doctor", str(tmp_path / "hr"), "-s", "2", "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert f"{locked}: cannot read image (Permission denied)" in out and "unreadable" in out
