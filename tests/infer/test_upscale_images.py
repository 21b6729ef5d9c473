"""Image files <-> arrays for upscaling: bit depth, channels, orientation, ICC, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from upres.infer.resample import resize_array
from upres.io.images import ImageReadError, decode_image, icc_colour_space, read_image, write_image

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def deep_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """16-bit values an 8-bit file cannot hold (none is a multiple of 257)."""
    arr = rng.integers(0, 65535, shape, dtype=np.uint16)
    arr[arr % 257 == 0] += 1
    return arr


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_round_trip_is_exact(tmp_path, rng, suffix, channels):
    arr = deep_values(rng, (9, 13, channels))
    path = write_image(tmp_path / f"deep{suffix}", arr, icc_profile=SRGB if channels >= 3 else None)
    back = decode_image(path)
    assert back.array.dtype == np.uint16
    np.testing.assert_array_equal(back.array, arr)
    assert back.icc_profile == (SRGB if channels >= 3 else None)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_icc_profile_is_carried(tmp_path, rng, suffix):
    arr = rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)
    path = write_image(tmp_path / f"icc{suffix}", arr, icc_profile=SRGB)
    assert Image.open(path).info.get("icc_profile") == SRGB
    assert decode_image(path).icc_profile == SRGB


def test_icc_profile_of_another_colour_space_is_not_attached(tmp_path, rng):
    gray_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    assert icc_colour_space(SRGB) == "RGB" and icc_colour_space(gray_profile) != "GRAY"
    path = write_image(tmp_path / "g.png", rng.integers(0, 255, (5, 5, 1), dtype=np.uint8), icc_profile=SRGB)
    assert "icc_profile" not in Image.open(path).info  # an RGB profile on a gray image would mislead viewers


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_8_and_16_bit(tmp_path, rng, orientation):
    arr = rng.integers(0, 255, (5, 8, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    Image.fromarray(arr).save(path, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    np.testing.assert_array_equal(decode_image(path).array, expected)
    # 16-bit colour goes through another decoder; the orientation must still be applied the same way.
    deep = deep_values(rng, (5, 8, 3))
    tif = tmp_path / "o.tif"
    import tifffile

    tifffile.imwrite(tif, deep, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    ref = Image.fromarray(np.zeros((5, 8), np.uint8))
    ref_exif = ref.getexif()
    ref_exif[0x0112] = orientation
    turned = np.asarray(ImageOps.exif_transpose(ref)).shape
    got = decode_image(tif).array
    assert got.shape[:2] == turned
    np.testing.assert_array_equal(got[..., 0], _orient_like_pillow(deep[..., 0], orientation))


def _orient_like_pillow(plane: np.ndarray, orientation: int) -> np.ndarray:
    img = Image.fromarray(plane)
    exif = img.getexif()
    exif[0x0112] = orientation
    return np.asarray(ImageOps.exif_transpose(img))


def test_gray_alpha_palette_and_cmyk_are_converted_sensibly(tmp_path, rng):
    la = rng.integers(0, 255, (6, 7, 2), dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert decode_image(tmp_path / "la.png").array.shape == (6, 7, 2)  # gray stays gray, alpha kept
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), la[..., [0, 0, 0, 1]])  # historic contract

    rgb = rng.integers(0, 255, (6, 7, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb).quantize(16)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png", transparency=0)
    p = decode_image(tmp_path / "p.png").array
    assert p.shape == (6, 7, 4) and set(np.unique(p[..., 3])) <= {0, 255}

    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg")
    c = decode_image(tmp_path / "c.jpg")
    assert c.array.shape == (6, 7, 3) and c.icc_profile is None
    assert np.abs(c.array.astype(int) - rgb).mean() < 12  # JPEG loss only


def test_16bit_gray_png_stays_16bit_gray(tmp_path, rng):
    arr = deep_values(rng, (8, 9, 1))
    Image.fromarray(arr[..., 0]).save(tmp_path / "g16.png")
    back = decode_image(tmp_path / "g16.png").array
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, arr)


def test_pixel_limit_refuses_before_decoding(tmp_path, rng):
    write_image(tmp_path / "big.png", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    with pytest.raises(
        ImageReadError, match=r"big.png: 40x30 exceeds the pixel limit 1000; raise --max-pixels"
    ):
        decode_image(tmp_path / "big.png", max_pixels=1000)


def test_truncated_and_non_image_files_raise_image_read_error(tmp_path, rng):
    good = write_image(tmp_path / "good.png", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:200])
    (tmp_path / "text.jpg").write_text("not an image")
    for name in ("cut.png", "text.jpg"):
        with pytest.raises(ImageReadError, match=rf"{name}: cannot read image"):
            decode_image(tmp_path / name)


def test_jpeg_output_drops_alpha_and_16bit_becomes_8bit(tmp_path, rng):
    arr = deep_values(rng, (6, 5, 4))
    path = write_image(tmp_path / "a.jpg", arr)
    img = Image.open(path)
    assert img.mode == "RGB" and img.size == (5, 6)


def test_resample_keeps_dtype_channels_and_constant_planes(rng):
    for dtype, peak in ((np.uint8, 255), (np.uint16, 65535)):
        arr = np.full((10, 12, 4), peak // 3, dtype)
        arr[..., 3] = peak
        out = resize_array(arr, 30, 25)
        assert out.shape == (25, 30, 4) and out.dtype == dtype
        # Independent planes: the colour of a constant image does not bleed into or out of alpha.
        assert (out[..., :3] == peak // 3).all() and (out[..., 3] == peak).all()


def test_pillow_bomb_limit_does_not_override_an_allowed_size(tmp_path, rng, monkeypatch):
    write_image(tmp_path / "big.png", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # as if the image were far above Pillow's limit
    assert decode_image(tmp_path / "big.png", max_pixels=None).array.shape == (30, 40, 3)


def test_gray_and_alpha_images_upscale_without_python_warnings(tmp_path, rng):
    """A decoder's read-only gray plane made torch warn ("The given NumPy array is not writable") on the terminal."""
    import warnings

    from upres.archs import build_network
    from upres.cli import main
    from upres.io.model_files import save_model

    net, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    model = save_model(tmp_path / "m.safetensors", net, info)
    Image.fromarray(rng.integers(0, 255, (6, 7), dtype=np.uint8), "L").save(tmp_path / "g.png")
    Image.fromarray(rng.integers(0, 255, (6, 7, 2), dtype=np.uint8), "LA").save(tmp_path / "la.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["upscale", "-m", str(model), str(tmp_path / "g.png"), str(tmp_path / "la.png"),
                     "-o", str(tmp_path / "out"), "--device", "cpu"])  # fmt: skip
    assert code == 0


def test_32_bit_integer_pixels_beyond_16_bits_are_refused_not_clipped(tmp_path):
    arr = np.array([[0, 70000], [5, 10]], dtype=np.int32)
    Image.fromarray(arr, "I").save(tmp_path / "i32.tif")
    with pytest.raises(
        ImageReadError, match=r"i32.tif: signed 32-bit integer pixels from 0 to 70000, outside 0..65535"
    ):
        decode_image(tmp_path / "i32.tif")
    Image.fromarray(np.array([[0, 65535], [5, 10]], dtype=np.int32), "I").save(tmp_path / "fits.tif")
    assert decode_image(tmp_path / "fits.tif").array[..., 0].tolist() == [[0, 65535], [5, 10]]


def test_tiff_samples_upres_cannot_read_are_described_as_they_are(tmp_path):
    """int16 was called "32-bit integer pixels", uint32 showed negative values (Pillow's int32 wraps them), and a
    float RGB TIFF got "unsupported TIFF layout float32" with no way on."""
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "i16.tif", np.array([[-2000, 5], [7, 2095]], dtype=np.int16))
    tifffile.imwrite(tmp_path / "u32.tif", np.array([[0, 3_000_000_000], [7, 9]], dtype=np.uint32))
    tifffile.imwrite(tmp_path / "rgbf.tif", np.full((4, 4, 3), 0.5, np.float32))
    said = {
        "i16.tif": "signed 16-bit integer pixels from -2000 to 2095, outside 0..65535; convert the image to unsigned "
        "16-bit first",
        "u32.tif": "unsigned 32-bit integer pixels, beyond 16 bits; convert the image to unsigned 16-bit first",
        "rgbf.tif": "floating-point pixels with 3 channels, which upres reads only as 8- or 16-bit unsigned; convert "
        "the image to 16-bit first",
    }
    for name, message in said.items():
        with pytest.raises(ImageReadError) as exc:
            decode_image(tmp_path / name)
        assert str(exc.value) == f"{tmp_path / name}: {message}"


def test_float_pixels_outside_0_1_are_refused_not_clipped(tmp_path):
    Image.fromarray(np.array([[-1.0, 4.0], [0.5, 0.25]], dtype=np.float32), "F").save(tmp_path / "f.tif")
    with pytest.raises(ImageReadError, match=r"f.tif: floating-point pixels from -1.0 to 4.0, outside 0..1"):
        decode_image(tmp_path / "f.tif")
    Image.fromarray(np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32), "F").save(tmp_path / "fits.tif")
    assert decode_image(tmp_path / "fits.tif").array[..., 0].tolist() == [[0, 65535], [32768, 16384]]


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_trns_colour_key_makes_its_pixels_transparent(tmp_path, rng, mode):
    """8-bit RGB/gray PNGs with a tRNS key lost it (16-bit ones and palettes kept theirs)."""
    arr = rng.integers(20, 255, (6, 7, 3), dtype=np.uint8)
    arr[:2, :3] = (10, 20, 30)
    arr = arr if mode == "RGB" else arr[..., 0]
    key = (10, 20, 30) if mode == "RGB" else 10
    Image.fromarray(arr).save(tmp_path / "k.png", transparency=key)
    got = decode_image(tmp_path / "k.png").array
    assert got.shape[2] == (4 if mode == "RGB" else 2)
    assert np.array_equal(got[..., :-1].reshape(arr.shape), arr)
    keyed = (arr == np.asarray(key)).reshape(6, 7, -1).all(axis=2)
    assert np.array_equal(got[..., -1], np.where(keyed, 0, 255))


def test_a_trns_colour_key_of_a_16_bit_gray_png_makes_its_pixels_transparent(tmp_path, rng):
    """Pillow reads it as I;16 with the key in its info, which was ignored: the keyed pixels came out opaque."""
    arr = deep_values(rng, (6, 7))
    arr[:2, :3] = 1000
    Image.fromarray(arr).save(tmp_path / "k16.png", transparency=1000)
    got = decode_image(tmp_path / "k16.png").array
    assert got.dtype == np.uint16 and got.shape == (6, 7, 2)
    assert np.array_equal(got[..., 0], arr)
    assert np.array_equal(got[..., 1], np.where(arr == 1000, 0, 65535))


def test_16_bit_tiffs_planar_multi_page_and_associated_alpha(tmp_path, rng):
    """Layouts only tifffile reads at 16 bits: planes were refused, a stack refused (its first page is the image),
    and premultiplied colours were kept but labelled unassociated on writing (darker)."""
    import tifffile

    rgb = rng.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate"
    )
    assert np.array_equal(decode_image(tmp_path / "planar.tif").array, rgb)
    tifffile.imwrite(tmp_path / "pages.tif", np.stack([rgb, 65535 - rgb]), photometric="rgb")
    assert np.array_equal(decode_image(tmp_path / "pages.tif").array, rgb)
    alpha = np.full((5, 6, 1), 32768, np.uint16)
    straight = np.full((5, 6, 3), 40000, np.uint16)
    premultiplied = np.round(straight * (32768 / 65535)).astype(np.uint16)
    tifffile.imwrite(
        tmp_path / "assoc.tif",
        np.concatenate([premultiplied, alpha], -1),
        photometric="rgb",
        extrasamples=[1],
    )
    got = decode_image(tmp_path / "assoc.tif").array
    assert np.array_equal(got[..., 3:], alpha)
    assert np.abs(got[..., :3].astype(int) - straight).max() <= 2


def test_a_nan_picture_converts_without_numpy_s_warning(recwarn):
    """A diverged model's validation picture printed 'RuntimeWarning: invalid value encountered in cast'."""
    import torch

    from upres.io.images import tensor_to_array

    t = torch.tensor([[[float("nan"), 0.5], [1.5, -1.0]]])
    assert tensor_to_array(t)[..., 0].tolist() == [[0, 128], [255, 0]]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
