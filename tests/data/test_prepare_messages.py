"""`upres prepare`'s messages on hostile input: a damaged record, an output path that is a file, control characters
in names, images too small for the scale, other prepare outputs inside SRC."""

from __future__ import annotations

import numpy as np
import pytest

from upres.cli import main
from upres.io.images import write_image


def _img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "text, why",
    [
        ("[]", "not a JSON object"),
        ("", "empty"),
        ('{"command": "lr", "sca', "not JSON"),
        ("{}", "no command"),
    ],
)
def test_a_damaged_record_is_said_with_the_way_out(tmp_path, capsys, text, why):
    """`[]` gave a traceback; empty or truncated JSON gave "prepared with command None, scale None"."""
    src, out = tmp_path / "src", tmp_path / "out"
    write_image(src / "a.png", _img(16, 16))
    args = ["prepare", "lr", str(src), "-o", str(out), "-s", "2", "-j", "1"]
    assert main(args) == 0
    record = out / ".upres-prepare.json"
    record.write_text(text, encoding="utf-8")
    before = (out / "a.png").read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"error: {record}: this record of an earlier `upres prepare` cannot be read ({why}), so the settings of the "
        f"files in {out} are unknown: remove {out} to start again, or give -o another folder\n"
    )
    assert record.read_text(encoding="utf-8") == text and (out / "a.png").read_bytes() == before


@pytest.mark.parametrize("kind", ["lr", "chunk", "tiff"])
def test_an_output_that_is_a_file_is_said_to_be_one(tmp_path, capsys, kind):
    """`-o afile` said "output folder is not writable (File exists)"."""
    src, afile = tmp_path / "src", tmp_path / "afile"
    write_image(src / "a.png", _img(16, 16))
    afile.write_bytes(b"keep me")
    assert main(["prepare", kind, str(src), "-o", str(afile)]) == 2
    assert capsys.readouterr().err == (
        f"error: {afile}: output folder is not writable: it is a file, not a folder; choose another -o\n"
    )
    assert afile.read_bytes() == b"keep me"


def test_control_characters_in_names_keep_each_line_whole(tmp_path, capsys):
    r"""A newline in a file name split the `[i/n]` progress line and the `failed:` line in two."""
    src = tmp_path / "src"
    write_image(src / "new\nline.png", _img(16, 16))
    (src / "new\nzero.png").write_bytes(b"")
    assert main(["prepare", "lr", str(src), "-o", str(tmp_path / "out"), "-s", "2", "-j", "1"]) == 1
    captured = capsys.readouterr()
    s = str(src).replace("\\", "\\\\")
    assert captured.out.splitlines()[:2] == [
        f"[1/2] done {s}/new\\nline.png",
        f"[2/2] failed {s}/new\\nzero.png",
    ]
    (failed,) = captured.err.splitlines()
    assert failed.startswith(f"failed: {s}/new\\nzero.png: cannot read image")


def test_images_smaller_than_the_scale_are_named_and_lr_exits_1(tmp_path, capsys):
    """'2 too small', exit 0, never named: training then stopped on their missing LR partners."""
    src = tmp_path / "sm"
    write_image(src / "good.png", _img(16, 16))
    write_image(src / "one.png", _img(1, 1))
    write_image(src / "thin.png", _img(3, 64))
    assert main(["prepare", "lr", str(src), "-o", str(tmp_path / "lr"), "-s", "4", "-j", "1"]) == 1
    captured = capsys.readouterr()
    assert "1 done, 0 already finished, 2 too small, 0 failed" in captured.out
    assert captured.err.splitlines() == [
        f"small: {src / 'one.png'}: 1x1 is smaller than the scale 4; no LR written",
        f"small: {src / 'thin.png'}: 64x3 is smaller than the scale 4; no LR written",
    ]
    assert [p.name for p in (tmp_path / "lr").glob("*.png")] == ["good.png"]


def test_chunk_names_the_images_under_min_size_and_exits_0(tmp_path, capsys):
    """--min-size is the user's choice: named in the summary, not an error."""
    src = tmp_path / "src"
    write_image(src / "big.png", _img(32, 32))
    write_image(src / "tiny.png", _img(6, 7))
    args = ["prepare", "chunk", str(src), "-o", str(tmp_path / "out"), "--size", "32", "--step", "32"]
    assert main([*args, "--min-size", "8", "-j", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == (
        f"small: {src / 'tiny.png'}: 7x6 is smaller than --min-size 8; no sub-image written"
    )
    assert captured.err == ""


def test_another_prepare_output_inside_src_is_left_out_with_a_note(tmp_path, capsys):
    """`prepare lr nest -o nest/x4`, then `-o nest/x2 -s 2` made x2 LRs of the x4 LRs (nest/x2/x4/a.png)."""
    nest = tmp_path / "nest"
    write_image(nest / "a.png", _img(16, 16, 1))
    write_image(nest / "sub" / "b.png", _img(16, 16, 2))
    assert main(["prepare", "lr", str(nest), "-o", str(nest / "x4"), "-s", "4", "-j", "1"]) == 0
    assert main(["prepare", "chunk", str(nest / "sub"), "-o", str(nest / "sub" / "ch"), "--size", "8"]) == 0
    capsys.readouterr()
    assert main(["prepare", "lr", str(nest), "-o", str(nest / "x2"), "-s", "2", "-j", "1"]) == 0
    captured = capsys.readouterr()
    assert "2 done, 0 already finished" in captured.out
    assert sorted(p.relative_to(nest / "x2").as_posix() for p in (nest / "x2").rglob("*.png")) == [
        "a.png",
        "sub/b.png",
    ]
    assert captured.err == (
        f"note: left out 2 folders under {nest} that an earlier `upres prepare` wrote (they hold "
        f".upres-prepare.json): {nest / 'sub' / 'ch'}, {nest / 'x4'}\n"
    )
    # SRC itself made by prepare (chunk, then lr of the chunks) is read as usual.
    assert main(["prepare", "lr", str(nest / "x4"), "-o", str(tmp_path / "x4x2"), "-s", "2", "-j", "1"]) == 0
    assert (tmp_path / "x4x2" / "a.png").exists() and "note" not in capsys.readouterr().err


def test_a_chunk_step_longer_than_the_size_says_what_it_leaves_out(tmp_path, capsys):
    """--step 24 --size 16 left 8 px between tiles out of every image without a word."""
    src, out = tmp_path / "src", tmp_path / "out"
    write_image(src / "a.png", _img(64, 64))
    args = ["prepare", "chunk", str(src), "-o", str(out), "--size", "16", "--min-size", "16", "-j", "1"]
    assert main([*args, "--step", "24"]) == 0
    err = capsys.readouterr().err
    assert err == (
        "note: --step 24 is more than --size 16: a 8 px band between tiles is left out of every image (a step of "
        "half the size overlaps them, as BasicSR does)\n"
    )
    assert main([*args, "-o", str(tmp_path / "other"), "--step", "16"]) == 0
    assert "note:" not in capsys.readouterr().err


@pytest.mark.parametrize("kind, stale", [("chunk", "gone_s001.png"), ("lr", "gone.png")])
def test_outputs_of_a_removed_source_are_named_on_a_rerun(tmp_path, capsys, kind, stale):
    """A photo removed from SRC (a duplicate doctor found) kept its tiles or LR in DST without a word, and training
    read them; the rerun now names them (and keeps them: they may come from another SRC prepared into DST)."""
    src, out = tmp_path / "src", tmp_path / "out"
    write_image(src / "keep.png", _img(16, 16, 1))
    write_image(src / "gone.png", _img(16, 16, 2))
    args = ["prepare", kind, str(src), "-o", str(out), "-j", "1"] + (
        ["-s", "2"] if kind == "lr" else ["--size", "16", "--step", "8"]
    )
    assert main(args) == 0
    assert main(args) == 0
    assert "note" not in capsys.readouterr().err  # an unchanged rerun
    (src / "gone.png").unlink()
    assert main(args) == 0
    assert capsys.readouterr().err == (
        f"note: {out} holds 1 image that no source under {src} gives ({out / stale} first): outputs of a source "
        "removed or renamed since, or of another SRC; training reads them too, so remove them if their source is "
        "gone\n"
    )
    assert (out / stale).is_file()


def test_src_inside_dst_is_no_removed_source(tmp_path, capsys):
    data = tmp_path / "data"
    write_image(data / "hr" / "a.png", _img(16, 16, 1))
    args = ["prepare", "lr", str(data / "hr"), "-o", str(data), "-s", "2", "-j", "1"]
    assert main(args) == 0 and main(args) == 0
    assert "note" not in capsys.readouterr().err and (data / "a.png").is_file()


@pytest.mark.parametrize("kind", ["chunk", "lr", "tiff"])
def test_a_source_with_several_frames_is_noted(tmp_path, capsys, kind):
    """An animated GIF or a multi-page TIFF gave its first frame without a word (only `doctor` said it)."""
    from PIL import Image

    src = tmp_path / "src"
    write_image(src / "still.png", _img(32, 32))
    frames = [Image.fromarray(_img(32, 32, i)) for i in range(3)]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:], duration=40)
    args = {"chunk": ["--size", "16", "--step", "16", "--min-size", "8"], "lr": ["-s", "2"], "tiff": []}[kind]
    assert main(["prepare", kind, str(src), "-o", str(tmp_path / "out"), "-j", "1", *args]) == 0
    out = capsys.readouterr().out
    assert f"note: {src / 'anim.gif'}: 3 frames or pages, only the first used\n" in out
    assert "still.png: " not in out
