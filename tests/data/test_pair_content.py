"""`upres doctor` warns when an LR does not look like its GT made smaller: a pair of two pictures of one size, or an
LR flipped against its GT, which no size shows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from upres.cli import main
from upres.data.doctor import check_folders
from upres.data.pair_content import Outline, detail_correlation

PHOTOS = ("astronaut", "chelsea", "coffee", "camera", "rocket")


def _photos() -> list[Image.Image]:
    import skimage.data

    return [Image.fromarray(getattr(skimage.data, n)()).convert("RGB").crop((0, 0, 256, 192)) for n in PHOTOS]


def _degraded(img: Image.Image, how: str, rng: np.random.Generator) -> Image.Image:
    lr = img.resize((64, 48), Image.BICUBIC)
    if how == "noise":
        a = np.asarray(lr, np.float64) + rng.normal(0, 30, (48, 64, 3))
        lr = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if how == "jpeg":
        buf = io.BytesIO()
        lr.save(buf, "JPEG", quality=10)
        lr = Image.open(buf).convert("RGB")
    return lr


def _dataset(tmp_path: Path, lr_of: dict[int, Image.Image] | None = None) -> tuple[Path, Path]:
    gt, lq = tmp_path / "gt", tmp_path / "lq"
    gt.mkdir()
    lq.mkdir()
    rng = np.random.default_rng(0)
    photos = _photos()
    for i, img in enumerate(photos):
        img.save(gt / f"{i}.png")
        lr = (lr_of or {}).get(i) or _degraded(img, ("bicubic", "noise", "jpeg")[i % 3], rng)
        lr.save(lq / f"{i}.png")
    return gt, lq


def _unlike(report) -> list[str]:
    return [f.path for f in report.findings if f.kind == "lr_content"]


def test_pairs_of_one_picture_through_blur_noise_and_jpeg_say_nothing(tmp_path):
    gt, lq = _dataset(tmp_path)
    report = check_folders([gt], [lq], scale=4, use_cache=False)
    assert report.pairs == len(PHOTOS)
    assert _unlike(report) == []


def test_a_pair_of_two_pictures_and_a_flipped_lr_are_named(tmp_path):
    photos = _photos()
    # 1.png's LR is the LR of 2.png: one size, no size shows it.
    swapped = photos[2].resize((64, 48), Image.BICUBIC)
    flipped = photos[3].transpose(Image.FLIP_LEFT_RIGHT).resize((64, 48), Image.BICUBIC)
    gt, lq = _dataset(tmp_path, {1: swapped, 3: flipped})
    report = check_folders([gt], [lq], scale=4, use_cache=False)
    assert _unlike(report) == [str(lq / "1.png"), str(lq / "3.png")]
    finding = next(f for f in report.findings if f.kind == "lr_content")
    assert finding.severity == "warning"
    assert finding.detail.startswith(
        f"does not look like its GT {gt / '1.png'} made smaller (their outlines correlate"
    )


def test_the_cli_prints_the_warning_and_still_passes(tmp_path, capsys):
    photos = _photos()
    gt, lq = _dataset(tmp_path, {0: photos[4].resize((64, 48), Image.BICUBIC)})
    assert main(["doctor", str(gt), "--lq", str(lq), "--scale", "4"]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "lr_content" in text and str(lq / "0.png") in text


def test_the_outline_does_not_depend_on_the_bands_it_is_read_in():
    rng = np.random.default_rng(1)
    for shape, dtype, peak in (
        ((37, 50, 3), np.uint8, 255),
        ((40, 23, 1), np.uint16, 65535),
        ((16, 16, 4), np.uint8, 255),
    ):
        img = rng.integers(0, peak + 1, shape).astype(dtype)
        whole = Outline(shape[0], shape[1])
        whole.add(img, 0)
        banded = Outline(shape[0], shape[1])
        for y in range(0, shape[0], 7):
            banded.add(img[y : y + 7], y)
        assert banded.encoded() == whole.encoded()
    # 16-bit is read on the 8-bit scale: the same picture at both depths has one outline.
    eight = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    a, b = Outline(32, 32), Outline(32, 32)
    a.add(eight, 0)
    b.add(eight.astype(np.uint16) * 257, 0)
    assert a.encoded() == b.encoded()


def test_flat_outlines_are_not_judged():
    flat = Outline(32, 32)
    flat.add(np.full((32, 32, 3), 128, np.uint8), 0)
    textured = Outline(32, 32)
    textured.add(np.random.default_rng(2).integers(0, 256, (32, 32, 3)).astype(np.uint8), 0)
    assert detail_correlation(flat.encoded(), textured.encoded()) is None
    assert detail_correlation("", textured.encoded()) is None
    assert detail_correlation(textured.encoded(), textured.encoded()) == pytest.approx(1.0)


def test_set14_with_the_lr_prepare_makes_says_nothing(shared_data, tmp_path):
    gt = shared_data / "benchmark" / "Set14"
    lq = tmp_path / "lq"
    assert main(["prepare", "lr", str(gt), "-o", str(lq), "--scale", "4"]) == 0
    report = check_folders([gt], [lq], scale=4, use_cache=False)
    assert report.pairs == 14 and _unlike(report) == []


def test_alpha_is_left_out_of_the_outline():
    rng = np.random.default_rng(3)
    for colour in (3, 1):
        img = rng.integers(0, 256, (20, 30, colour)).astype(np.uint8)
        with_alpha = np.concatenate([img, rng.integers(0, 256, (20, 30, 1)).astype(np.uint8)], axis=2)
        plain, alpha = Outline(20, 30), Outline(20, 30)
        plain.add(img, 0)
        alpha.add(with_alpha, 0)
        assert alpha.encoded() == plain.encoded()
