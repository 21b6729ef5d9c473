"""Region reads of tiled/stripped TIFFs: identical to the whole decode, only touched tiles decoded, datasets draw
the same crops whatever the format, and `upres prepare tiff` writes files that read by region."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from upres.cli import main
from upres.data import build_dataset
from upres.data.options import parse_dataset_options
from upres.data.otf_dataset import build_realesrgan_dataset
from upres.data.read import ImageSource, read_array
from upres.io.images import ImageReadError, decode_image, write_image
from upres.io.tiff_regions import open_tiff_regions, write_tiled_tiff


def _pixels(h: int, w: int, c: int, dtype, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: compressible like a photo, every pixel still distinct enough to catch shifts."""
    rng = np.random.default_rng(seed)
    peak = np.iinfo(dtype).max
    y, x = np.mgrid[0:h, 0:w]
    base = (y * 7 + x * 3)[..., None] + np.arange(c) * 40
    noise = rng.integers(0, peak // 8, (h, w, c))
    return ((base * (peak // 255) + noise) % (peak + 1)).astype(dtype)


BOXES = [(0, 0, 1, 1), (0, 0, 37, 45), (13, 29, 50, 61), (70, 90, 30, 30), (31, 0, 69, 120), (0, 0, 100, 120)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize(
    "layout",
    [
        {"tile": (32, 48), "compression": "zlib", "predictor": True},
        {"tile": (16, 16)},
        {"rowsperstrip": 7, "compression": "lzw", "predictor": True},
        {"rowsperstrip": 16, "compression": "zstd"},
        {"rowsperstrip": 1000, "compression": "packbits"},
        {"tile": (16, 32), "byteorder": ">", "compression": "zlib"},
        {"tile": (32, 16), "bigtiff": True},
    ],
    ids=[
        "tiled-zlib",
        "tiled-raw",
        "strips-lzw",
        "strips-zstd",
        "one-strip-packbits",
        "big-endian",
        "bigtiff",
    ],
)
def test_regions_equal_the_whole_decode(tmp_path, dtype, channels, layout):
    arr = _pixels(100, 120, channels, dtype)
    path = tmp_path / "img.tif"
    extra = {"extrasamples": [2]} if channels in (2, 4) else {}
    photometric = "minisblack" if channels in (1, 2) else "rgb"
    tifffile.imwrite(path, arr[..., 0] if channels == 1 else arr, photometric=photometric, **extra, **layout)
    whole = read_array(path)  # the path every other reader uses (Pillow or tifffile)
    with ImageSource(path) as src:
        assert src.region_reads
        assert (src.height, src.width, src.bits) == (100, 120, 16 if dtype == np.uint16 else 8)
        for top, left, h, w in BOXES:
            region = src.read(top, left, h, w)
            assert region.dtype == whole.dtype
            np.testing.assert_array_equal(region, whole[top : top + h, left : left + w])
        np.testing.assert_array_equal(src.read(), whole)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("rotated", {"photometric": "rgb", "tile": (16, 16), "extratags": [(274, "H", 1, 6, True)]}),
        ("jpeg", {"photometric": "rgb", "tile": (16, 16), "compression": "jpeg"}),
        ("premultiplied", {"photometric": "rgb", "tile": (16, 16), "extrasamples": [1]}),
        ("planar", {"photometric": "rgb", "tile": (16, 16), "planarconfig": "separate"}),
    ],
)
def test_layouts_that_might_differ_are_decoded_whole(tmp_path, name, kwargs):
    channels = 4 if name == "premultiplied" else 3
    arr = _pixels(48, 64, channels, np.uint8)
    if name == "planar":
        arr = np.ascontiguousarray(arr.transpose(2, 0, 1))
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, arr, **kwargs)
    assert open_tiff_regions(path) is None
    with ImageSource(path) as src:
        assert not src.region_reads
        np.testing.assert_array_equal(src.read(5, 7, 20, 30), read_array(path)[5:25, 7:37])
        assert (src.height, src.width) == read_array(path).shape[:2]


def test_only_the_tiles_under_the_region_are_decoded(tmp_path):
    arr = _pixels(64, 64, 3, np.uint8)
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, arr, photometric="rgb", tile=(32, 32), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages[0].dataoffsets[3], tif.pages[0].databytecounts[3]  # bottom-right tile
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = b"\x00" * count
    path.write_bytes(bytes(data))
    with ImageSource(path) as src:
        np.testing.assert_array_equal(src.read(0, 0, 32, 64), arr[:32])  # top two tiles: intact
        np.testing.assert_array_equal(src.read(10, 5, 40, 20), arr[10:50, 5:25])  # left tiles only
        with pytest.raises(ImageReadError, match="img.tif: cannot read image"):
            src.read(40, 40, 4, 4)
    with pytest.raises(ImageReadError):
        read_array(path)  # the whole decode meets the damaged tile


def test_region_outside_the_image_is_refused(tmp_path):
    path = write_tiled_tiff(tmp_path / "a.tif", _pixels(40, 50, 3, np.uint8), tile=16)
    with open_tiff_regions(path) as reader, pytest.raises(ValueError, match="outside the 50x40 image"):
        reader.read(30, 0, 20, 10)


def test_write_tiled_tiff_round_trips_and_checks_its_arguments(tmp_path):
    for channels in (1, 2, 3, 4):
        for dtype in (np.uint8, np.uint16):
            arr = _pixels(33, 47, channels, dtype, seed=channels)
            path = write_tiled_tiff(
                tmp_path / f"{channels}{dtype.__name__}.tif", arr, tile=16, compression="zstd"
            )
            decoded = decode_image(path).array
            np.testing.assert_array_equal(decoded, arr)
            assert open_tiff_regions(path) is not None
    with pytest.raises(ValueError, match="multiple of 16"):
        write_tiled_tiff(tmp_path / "x.tif", arr, tile=20)
    with pytest.raises(ValueError, match="compression 'jpeg'"):
        write_tiled_tiff(tmp_path / "x.tif", arr, compression="jpeg")
    assert not (tmp_path / "x.tif").exists()


def _convert(src: Path, dst: Path, *extra: str) -> None:
    assert main(["prepare", "tiff", str(src), "-o", str(dst), "-j", "1", "--tile", "16", *extra]) == 0


def test_paired_dataset_draws_the_same_samples_from_tiled_tiffs(tmp_path):
    gt_png, lq_png = tmp_path / "gt", tmp_path / "lq"
    for i in range(3):
        lq = _pixels(40 + i, 52, 3, np.uint8, seed=i)
        write_image(gt_png / f"sub/img{i}.png", _pixels(160 + 4 * i, 208, 3, np.uint8, seed=10 + i))
        write_image(lq_png / f"sub/img{i}.png", lq)
    _convert(gt_png, tmp_path / "gt_tif")
    _convert(lq_png, tmp_path / "lq_tif")
    assert sorted(p.name for p in (tmp_path / "gt_tif" / "sub").iterdir()) == [
        "img0.tif",
        "img1.tif",
        "img2.tif",
    ]

    def dataset(gt: Path, lq: Path | None):
        opts = {"type": "pairedimagedataset", "dataroot_gt": str(gt), "lq_size": 12}
        if lq is not None:
            opts["dataroot_lq"] = str(lq)
        return build_dataset(parse_dataset_options(opts), scale=4, seed=3)

    for with_lq in (True, False):
        png = dataset(gt_png, lq_png if with_lq else None)
        tif = dataset(tmp_path / "gt_tif", tmp_path / "lq_tif" if with_lq else None)
        for epoch in (0, 1):
            for i in range(3):
                a, b = png[(epoch, i)], tif[(epoch, i)]
                assert torch.equal(a["gt"], b["gt"]) and torch.equal(a["lq"], b["lq"])
                assert a["gt"].shape == (3, 48, 48)


def test_otf_dataset_draws_the_same_crops_from_tiled_tiffs(tmp_path):
    png = tmp_path / "hr"
    write_image(png / "big.png", _pixels(150, 170, 3, np.uint16, seed=1))
    write_image(png / "small_gray.png", _pixels(40, 90, 1, np.uint8, seed=2))  # padded: read whole
    write_image(png / "alpha.png", _pixels(120, 120, 4, np.uint8, seed=3))
    _convert(png, tmp_path / "hr_tif", "--compression", "none")
    opts = {"lq_size": 16, "use_hflip": True, "use_rot": True}
    degr = {"gaussian_noise_prob": 0.0, "jpeg_prob": 0.0, "gaussian_noise_prob2": 0.0, "jpeg_prob2": 0.0}
    a = build_realesrgan_dataset({"dataroot_gt": str(png), **opts}, scale=4, seed=5, degradations=degr)
    b = build_realesrgan_dataset(
        {"dataroot_gt": str(tmp_path / "hr_tif"), **opts}, scale=4, seed=5, degradations=degr
    )
    for i in range(3):
        x, y = a[i], b[i]
        assert torch.equal(x["gt"], y["gt"]) and torch.allclose(x["lq"], y["lq"])


def test_damaged_tile_in_training_is_skipped_with_its_path(tmp_path, caplog):
    gt = tmp_path / "gt"
    for i in range(120):  # 1 bad file of 120 stays under the 1% limit
        write_tiled_tiff(gt / f"{i:03d}.tif", _pixels(64, 64, 3, np.uint8, seed=i), tile=32)
    bad = gt / "000.tif"
    with tifffile.TiffFile(bad) as tif:
        offsets, counts = tif.pages[0].dataoffsets, tif.pages[0].databytecounts
    data = bytearray(bad.read_bytes())
    for off, n in zip(offsets, counts, strict=True):
        data[off : off + n] = b"\xff" * n
    bad.write_bytes(bytes(data))
    ds = build_dataset(
        parse_dataset_options({"type": "pairedimagedataset", "dataroot_gt": str(gt), "lq_size": 8}),
        scale=2,
        seed=0,
    )
    item = ds[0]
    assert item["gt_path"] != str(bad) and item["gt"].shape == (3, 16, 16)
    assert str(bad) in caplog.text


def test_prepare_tiff_keeps_depth_alpha_orientation_and_resumes(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    deep = _pixels(30, 40, 4, np.uint16)
    write_image(src / "deep.png", deep)
    rotated = Image.fromarray(_pixels(20, 30, 3, np.uint8))
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.save(src / "rotated.jpg", exif=exif, quality=95)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    dst = tmp_path / "dst"
    assert main(["prepare", "tiff", str(src), "-o", str(dst), "-j", "1"]) == 1
    out = capsys.readouterr()
    assert "2 done" in out.out and "broken.png" in out.err
    np.testing.assert_array_equal(decode_image(dst / "deep.tif").array, deep)
    np.testing.assert_array_equal(
        decode_image(dst / "rotated.tif").array, decode_image(src / "rotated.jpg").array
    )
    assert decode_image(dst / "rotated.tif").array.shape[:2] == (30, 20)
    (src / "broken.png").unlink()
    stamp = (dst / "deep.tif").stat().st_mtime_ns
    assert main(["prepare", "tiff", str(src), "-o", str(dst), "-j", "1"]) == 0
    assert "2 already finished" in capsys.readouterr().out
    assert (dst / "deep.tif").stat().st_mtime_ns == stamp


def test_prepare_tiff_refuses_two_sources_with_one_name_and_bad_tiles(tmp_path, capsys):
    src = tmp_path / "src"
    write_image(src / "a.png", _pixels(8, 8, 3, np.uint8))
    shutil.copy(src / "a.png", src / "a.bmp")
    assert main(["prepare", "tiff", str(src), "-o", str(tmp_path / "o")]) != 0
    assert "would both be written as a.tif" in capsys.readouterr().err
    (src / "a.bmp").unlink()
    assert main(["prepare", "tiff", str(src), "-o", str(tmp_path / "o"), "--tile", "100"]) != 0
    assert "--tile must be a positive multiple of 16" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_doctor_checks_tiled_tiffs_band_by_band_with_the_same_hash(tmp_path, monkeypatch):
    from upres.data import doctor

    monkeypatch.setattr(doctor, "_BAND_PIXELS", 40 * 7)  # bands of 7 rows: several per image
    arr = _pixels(50, 40, 4, np.uint16)
    write_image(tmp_path / "png" / "a.png", arr)
    write_tiled_tiff(tmp_path / "tif" / "a.tif", arr, tile=16)
    png, tif = (
        doctor.inspect_image(tmp_path / "png" / "a.png"),
        doctor.inspect_image(tmp_path / "tif" / "a.tif"),
    )
    assert (tif.height, tif.width, tif.channels, tif.bits) == (png.height, png.width, png.channels, png.bits)
    assert tif.digest == png.digest and tif.error is None  # a PNG and its TIFF copy are found as duplicates
    # The whole-image pixel limit guards whole decodes only: a region-readable file above it still reads by region.
    with ImageSource(tmp_path / "tif" / "a.tif", max_pixels=100) as src:
        np.testing.assert_array_equal(src.read(3, 4, 10, 10), arr[3:13, 4:14])
    with pytest.raises(ImageReadError, match="exceeds the pixel limit 100"):
        ImageSource(tmp_path / "png" / "a.png", max_pixels=100)
    # A damaged tile anywhere is reported, even though a crop elsewhere would still read.
    path = tmp_path / "tif" / "a.tif"
    with tifffile.TiffFile(path) as tif_file:
        offset, count = tif_file.pages[0].dataoffsets[-1], tif_file.pages[0].databytecounts[-1]
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = b"\x00" * count
    path.write_bytes(bytes(data))
    damaged = doctor.inspect_image(path)  # the finding names the file; its detail is the reason alone
    assert damaged.path == path and damaged.error.startswith("cannot read image (")
