"""`upres prepare` resumes only finished work: an output counts as finished when it is a whole image of the size
its source gives, not older than the source; files of unknown origin in a folder prepare did not make are refused."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from upres.cli import main
from upres.data.resize import imresize
from upres.io.images import read_image, write_image


def _img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _lr(src, dst, capsys=None):
    code = main(["prepare", "lr", str(src), "-o", str(dst), "-s", "4", "-j", "1"])
    return code, capsys.readouterr().out if capsys else ""


def _newer(path):
    """The source changed after the run (mtime later than its outputs')."""
    t = os.stat(path).st_mtime + 10
    os.utime(path, (t, t))


def test_a_changed_source_gets_a_new_lr(tmp_path, capsys):
    """A GT replaced after the run kept its old LR ("already finished"), and doctor passed the unrelated pair."""
    src, out = tmp_path / "src", tmp_path / "lr"
    write_image(src / "a.png", _img(32, 32, 1))
    write_image(src / "b.png", _img(32, 32, 2))
    assert _lr(src, out)[0] == 0
    for new in (_img(32, 32, 3), _img(48, 40, 4)):  # same size, then another size
        write_image(src / "a.png", new)
        _newer(src / "a.png")
        code, text = _lr(src, out, capsys)
        assert code == 0 and "1 done, 1 already finished" in text
        np.testing.assert_array_equal(read_image(out / "a.png"), imresize(new, 0.25))
    np.testing.assert_array_equal(read_image(out / "b.png"), imresize(_img(32, 32, 2), 0.25))


def test_a_source_replaced_by_an_older_file_gets_a_new_lr(tmp_path, capsys):
    """`cp -p` / `rsync -a` put back a file with its old mtime, older than the LR made from the file it replaced: the
    LR counted as finished and stayed, made from other pixels."""
    src, out = tmp_path / "src", tmp_path / "lr"
    write_image(src / "a.png", _img(32, 32, 1))
    assert _lr(src, out)[0] == 0
    time.sleep(0.05)  # file times tick coarsely: the replacement must come after the LR was written
    write_image(tmp_path / "old.png", _img(32, 32, 3))
    hour_ago = os.stat(out / "a.png").st_mtime - 3600
    os.utime(tmp_path / "old.png", (hour_ago, hour_ago))
    os.replace(tmp_path / "old.png", src / "a.png")
    code, text = _lr(src, out, capsys)
    assert code == 0 and "1 done, 0 already finished" in text
    np.testing.assert_array_equal(read_image(out / "a.png"), imresize(_img(32, 32, 3), 0.25))
    code, text = _lr(src, out, capsys)  # and once remade, it is finished work again
    assert code == 0 and "0 done, 1 already finished" in text


@pytest.mark.parametrize("damage", ["empty", "truncated", "other size"])
def test_a_broken_output_is_made_again(tmp_path, capsys, damage):
    """An empty, truncated or wrong-size LR counted as finished and stayed."""
    src, out = tmp_path / "src", tmp_path / "lr"
    write_image(src / "a.png", _img(32, 32, 1))
    assert _lr(src, out)[0] == 0
    if damage == "empty":
        (out / "a.png").write_bytes(b"")
    elif damage == "truncated":  # the header (and so the size) is whole, the pixels are not
        (out / "a.png").write_bytes((out / "a.png").read_bytes()[:100])
    else:
        write_image(out / "a.png", _img(4, 4, 5))
    code, text = _lr(src, out, capsys)
    assert code == 0 and "1 done, 0 already finished" in text
    np.testing.assert_array_equal(read_image(out / "a.png"), imresize(_img(32, 32, 1), 0.25))


def test_chunk_remakes_each_broken_or_stale_tile(tmp_path, capsys):
    """Only the last tile's existence was checked: an empty middle tile stayed; a changed source kept old tiles."""
    src, out = tmp_path / "src", tmp_path / "ch"
    a = _img(64, 64, 1)
    write_image(src / "a.png", a)
    args = ["prepare", "chunk", str(src), "-o", str(out), "--size", "32", "--step", "32", "--min-size", "8"]
    args += ["-j", "1"]
    assert main(args) == 0
    (out / "a_s002.png").write_bytes(b"")
    capsys.readouterr()
    assert main(args) == 0
    assert "1 done, 0 already finished, 0 too small, 0 failed; 1 files written" in capsys.readouterr().out
    np.testing.assert_array_equal(read_image(out / "a_s002.png"), a[0:32, 32:64])
    smaller = _img(32, 64, 2)  # two tiles now: the old third and fourth are not this image's
    write_image(src / "a.png", smaller)
    _newer(src / "a.png")
    assert main(args) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["a_s001.png", "a_s002.png"]
    np.testing.assert_array_equal(read_image(out / "a_s002.png"), smaller[:, 32:64])


def test_tiff_remakes_a_truncated_copy(tmp_path, capsys):
    src, out = tmp_path / "src", tmp_path / "t"
    write_image(src / "a.png", _img(64, 64, 1))
    args = ["prepare", "tiff", str(src), "-o", str(out), "--tile", "16", "-j", "1"]
    assert main(args) == 0
    whole = (out / "a.tif").read_bytes()
    (out / "a.tif").write_bytes(whole[: len(whole) // 2])
    capsys.readouterr()
    assert main(args) == 0 and "1 done, 0 already finished" in capsys.readouterr().out
    np.testing.assert_array_equal(read_image(out / "a.tif"), _img(64, 64, 1))


@pytest.mark.parametrize("kind", ["lr", "chunk"])
def test_files_with_output_names_in_a_folder_prepare_did_not_make_are_refused(tmp_path, capsys, kind):
    """LRs made earlier by another tool into lr_x4/ were taken as finished work, and the folder then marked as
    prepare's own."""
    src, out = tmp_path / "src", tmp_path / "x2"
    write_image(src / "a.png", _img(64, 64, 1))
    write_image(src / "b.png", _img(64, 64, 2))
    names = ["a.png", "b.png"] if kind == "lr" else ["a_s001.png", "b_s003.png"]
    for name in names:
        write_image(out / name, _img(16, 16, 3))
    write_image(out / "unrelated.png", _img(16, 16, 3))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    args = ["prepare", kind, str(src), "-o", str(out), "-j", "1"]
    args += ["-s", "4"] if kind == "lr" else ["--size", "32", "--step", "32"]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: holds 2 files named as this run's outputs ({out / names[0]} first) but no "
        ".upres-prepare.json, so `upres prepare` did not write them: they would be taken for finished work or "
        "written over; give -o another folder, or remove them\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_rotated_tiff_source_counts_as_finished(tmp_path, capsys):
    """Pillow gives a TIFF's size with its orientation already applied, and the header read turned it once more:
    the LR never had the size expected of it, so every rerun made it again."""
    from PIL import Image

    src, out = tmp_path / "src", tmp_path / "lr"
    src.mkdir()
    Image.fromarray(_img(48, 64, 1)).save(src / "rot.tif", tiffinfo={274: 6})
    assert read_image(src / "rot.tif").shape == (64, 48, 3)
    assert _lr(src, out)[0] == 0
    np.testing.assert_array_equal(read_image(out / "rot.tif"), imresize(read_image(src / "rot.tif"), 0.25))
    code, text = _lr(src, out, capsys)
    assert code == 0 and "0 done, 1 already finished" in text


@pytest.mark.parametrize("kind", ["lr", "chunk"])
def test_a_source_now_too_small_loses_its_earlier_outputs(tmp_path, capsys, kind):
    """A GT replaced by one too small for the scale (or --min-size) kept the LR / tiles of what it was: training paired
    them with the new GT."""
    src, out = tmp_path / "src", tmp_path / "out"
    write_image(src / "a.png", _img(32, 32, 1))
    args = ["prepare", kind, str(src), "-o", str(out), "-j", "1"]
    args += ["-s", "4"] if kind == "lr" else ["--size", "16", "--step", "16", "--min-size", "16"]
    assert main(args) == 0
    made = sorted(p.name for p in out.glob("a*.png"))
    assert made == (["a.png"] if kind == "lr" else [f"a_s{i:03d}.png" for i in range(1, 5)])
    write_image(src / "a.png", _img(3, 3, 2))
    _newer(src / "a.png")
    capsys.readouterr()
    assert main(args) == (1 if kind == "lr" else 0)
    text = capsys.readouterr()
    assert f"(its {len(made)} earlier output(s) removed)" in text.err + text.out
    assert not list(out.glob("a*.png"))
