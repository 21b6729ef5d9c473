"""`upres upscale` end to end: properties of the files it writes, exit codes, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms
from upscale_helpers import (
    make_identity_model,
    make_random_model,
    nearest,
    run_upscale,
    upscale,
    upscale_subprocess,
)

from upres.archs import build_network
from upres.cli import main
from upres.io.images import decode_image, write_image
from upres.io.model_files import save_model

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _png(path, arr):
    return write_image(path, arr)


def test_tiled_equals_untiled(tmp_path, rng):
    model = make_random_model(tmp_path / "m.safetensors", scale=2)
    _png(tmp_path / "in" / "a.png", rng.integers(0, 255, (70, 53, 3), dtype=np.uint8))
    assert upscale("-m", model, tmp_path / "in", "-o", tmp_path / "whole", "--tile", "0") == 0
    assert upscale("-m", model, tmp_path / "in", "-o", tmp_path / "tiled", "--tile", "24") == 0
    whole = decode_image(tmp_path / "whole" / "a.png").array.astype(int)
    tiled = decode_image(tmp_path / "tiled" / "a.png").array.astype(int)
    assert whole.shape == tiled.shape == (140, 106, 3)
    assert np.abs(whole - tiled).max() <= 1
    assert whole.std() > 5  # a real picture, not a constant that would match trivially


def test_outscale_sizes_and_same_scale_is_untouched(tmp_path, rng, identity_x2):
    arr = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    _png(tmp_path / "a.png", arr)
    for outscale, size in (("3", (90, 60)), ("1", (30, 20)), ("1.5", (45, 30)), ("0.5", (15, 10))):
        out = tmp_path / f"o{outscale}"
        assert upscale("-m", identity_x2, tmp_path / "a.png", "-o", out, "--outscale", outscale) == 0
        assert Image.open(out / "a.png").size == size
    assert upscale("-m", identity_x2, tmp_path / "a.png", "-o", tmp_path / "o2", "--outscale", "2") == 0
    np.testing.assert_array_equal(decode_image(tmp_path / "o2" / "a.png").array, nearest(arr, 2))
    # Other factors: Pillow's Lanczos applied to the model's output.
    reference = Image.fromarray(nearest(arr, 2)).resize((45, 30), Image.Resampling.LANCZOS)
    np.testing.assert_array_equal(decode_image(tmp_path / "o1.5" / "a.png").array, np.asarray(reference))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_round_trip_keeps_values_8bit_cannot_hold(tmp_path, rng, identity_x2, suffix):
    arr = rng.integers(0, 65535, (12, 9, 3), dtype=np.uint16)
    arr[arr % 257 == 0] += 1
    write_image(tmp_path / f"deep{suffix}", arr, icc_profile=SRGB)
    assert upscale("-m", identity_x2, tmp_path / f"deep{suffix}", "-o", tmp_path / "out", "--tile", "8") == 0
    out = decode_image(tmp_path / "out" / f"deep{suffix}")
    assert out.array.dtype == np.uint16
    np.testing.assert_array_equal(out.array, nearest(arr, 2))
    assert out.icc_profile == SRGB


def test_grayscale_stays_grayscale_with_rgb_and_gray_models(tmp_path, rng, identity_x2):
    gray = rng.integers(0, 255, (15, 11, 1), dtype=np.uint8)
    _png(tmp_path / "in" / "g.png", gray)
    assert upscale("-m", identity_x2, tmp_path / "in", "-o", tmp_path / "rgbmodel") == 0
    out = Image.open(tmp_path / "rgbmodel" / "g.png")
    assert out.mode == "L"
    np.testing.assert_array_equal(np.asarray(out)[..., None], nearest(gray, 2))
    # A gray model fed an RGB image runs each plane through it and keeps the colour.
    gray_model = make_identity_model(tmp_path / "gray.safetensors", 2, channels=1)
    rgb = rng.integers(0, 255, (7, 8, 3), dtype=np.uint8)
    _png(tmp_path / "in2" / "c.png", rgb)
    assert upscale("-m", gray_model, tmp_path / "in2", "-o", tmp_path / "graymodel") == 0
    np.testing.assert_array_equal(decode_image(tmp_path / "graymodel" / "c.png").array, nearest(rgb, 2))


def test_rgba_keeps_alpha_and_size_in_every_alpha_mode(tmp_path, rng, identity_x2):
    rgba = rng.integers(0, 255, (10, 14, 4), dtype=np.uint8)
    _png(tmp_path / "a.png", rgba)
    assert upscale("-m", identity_x2, tmp_path / "a.png", "-o", tmp_path / "model") == 0
    np.testing.assert_array_equal(decode_image(tmp_path / "model" / "a.png").array, nearest(rgba, 2))
    assert upscale("-m", identity_x2, tmp_path / "a.png", "-o", tmp_path / "resize", "--alpha", "resize") == 0
    resized = decode_image(tmp_path / "resize" / "a.png").array
    assert resized.shape == (20, 28, 4)
    np.testing.assert_array_equal(resized[..., :3], nearest(rgba, 2)[..., :3])
    assert (
        upscale("-m", identity_x2, tmp_path / "a.png", "-o", tmp_path / "discard", "--alpha", "discard") == 0
    )
    assert Image.open(tmp_path / "discard" / "a.png").mode == "RGB"


def test_folder_structure_is_mirrored_and_other_files_ignored(tmp_path, rng, identity_x1):
    src = tmp_path / "in"
    for rel in ("a.png", "sub/b.jpg", "sub/deeper/c.webp", "sub/d.bmp"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(src / rel)
    (src / "notes.txt").write_text("not an image")
    assert upscale("-m", identity_x1, src, "-o", tmp_path / "out") == 0
    found = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*"))
    assert found == ["a.png", "sub", "sub/b.jpg", "sub/d.png", "sub/deeper", "sub/deeper/c.webp"]


def test_output_inside_input_folder_is_not_picked_up_again(tmp_path, rng, identity_x1):
    _png(tmp_path / "a.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    assert upscale("-m", identity_x1, tmp_path, "-o", tmp_path / "out") == 0
    assert upscale("-m", identity_x1, tmp_path, "-o", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["a.png"]


def test_an_input_folder_inside_the_output_folder_is_upscaled(tmp_path, rng, identity_x1):
    """Only OUT inside an input folder holds earlier results to leave out; an input folder inside OUT was skipped
    whole (exit 0 with the other inputs, or 'no images found')."""
    pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    _png(tmp_path / "out" / "new" / "b.png", pixels)
    assert upscale("-m", identity_x1, tmp_path / "out" / "new", "-o", tmp_path / "out") == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "b.png")), pixels)


@pytest.mark.slow
def test_skip_existing_skips(tmp_path, rng, identity_x1):
    for name in ("a", "b"):
        _png(tmp_path / "in" / f"{name}.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"keep me")
    result = upscale_subprocess("-m", identity_x1, tmp_path / "in", "-o", tmp_path / "out", "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "a.png").read_bytes() == b"keep me"
    assert (tmp_path / "out" / "b.png").is_file()
    assert "upscaled 1, skipped 1, failed 0" in result.stdout
    assert f"skipped: {tmp_path / 'in' / 'a.png'}: output exists (--skip-existing)" in result.stdout


def test_corrupt_files_do_not_stop_the_batch_and_exit_1(tmp_path, rng, identity_x1, capsys):
    src = tmp_path / "in"
    good = _png(src / "a_good.png", rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    (src / "b_cut.png").write_bytes(good.read_bytes()[:300])
    (src / "c_text.jpg").write_text("hello")
    _png(src / "d_good.png", rng.integers(0, 255, (9, 9, 3), dtype=np.uint8))
    code, out, err = run_upscale(capsys, "-m", identity_x1, src, "-o", tmp_path / "out")
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_good.png", "d_good.png"]
    assert "upscaled 2, skipped 0, failed 2" in out
    for name in ("b_cut.png", "c_text.jpg"):
        assert f"failed: {src / name}: cannot read image" in out
        assert f"failed: {src / name}: cannot read image" in err  # reported as it happens


def test_json_summary_lists_each_file(tmp_path, rng, identity_x1, capsys):
    import json

    src = tmp_path / "in"
    _png(src / "a.png", rng.integers(0, 255, (10, 12, 3), dtype=np.uint8))
    (src / "b.png").write_text("not an image")
    code, out, _ = run_upscale(capsys, "-m", identity_x1, src, "-o", tmp_path / "out", "--json")
    assert code == 1
    report = json.loads(out)
    assert (report["done"], report["skipped"], report["failed"]) == (1, 0, 1)
    by_name = {Path(f["source"]).name: f for f in report["files"]}
    assert by_name["a.png"]["status"] == "done" and by_name["a.png"]["size"] == [12, 10]
    assert by_name["b.png"]["status"] == "failed" and "cannot read image" in by_name["b.png"]["reason"]


def test_pixel_limit_refuses_large_inputs_unless_raised(tmp_path, rng, identity_x1, capsys):
    _png(tmp_path / "a.png", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    code, out, err = run_upscale(
        capsys, "-m", identity_x1, tmp_path / "a.png", "-o", tmp_path / "o", "--max-pixels", "1000"
    )
    assert code == 1
    assert (
        "40x30 exceeds the pixel limit 1000; raise --max-pixels (upscale) or the environment variable "
        "UPRES_MAX_PIXELS (other commands; 0: no limit) to allow it"
    ) in out
    assert upscale("-m", identity_x1, tmp_path / "a.png", "-o", tmp_path / "o", "--max-pixels", "1200") == 0


def test_unwritable_output_fails_before_any_work(tmp_path, rng, identity_x1, capsys):
    _png(tmp_path / "a.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    (tmp_path / "file").write_text("x")
    assert upscale("-m", identity_x1, tmp_path / "a.png", "-o", tmp_path / "file" / "out") == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'file' / 'out'}: output folder is not writable" in err


def test_bad_model_and_missing_input_are_usage_errors(tmp_path, rng, identity_x1, capsys):
    _png(tmp_path / "a.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    assert upscale("-m", tmp_path / "none.safetensors", tmp_path / "a.png", "-o", tmp_path / "o") == 2
    assert "no such model file" in capsys.readouterr().err
    assert upscale("-m", identity_x1, tmp_path / "missing.png", "-o", tmp_path / "o") == 2
    assert "missing.png: no such file or folder" in capsys.readouterr().err


def test_no_temporary_files_are_left_behind(tmp_path, rng, identity_x1):
    src = tmp_path / "in"
    _png(src / "a.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    (src / "bad.png").write_text("x")
    upscale("-m", identity_x1, src, "-o", tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]


def _overflowing_compact(path):
    """Finite in fp32, inf in fp16: the first conv multiplies by 3e4 (sums exceed 65504); the tail is zero."""
    net, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.body[0].weight.fill_(3e4)
    return save_model(path, net, info)


def test_fp16_fallback_triggers_for_a_model_that_overflows_in_fp16(tmp_path, rng, capsys):
    model = _overflowing_compact(tmp_path / "overflow.safetensors")
    arr = rng.integers(128, 255, (12, 10, 3), dtype=np.uint8)
    _png(tmp_path / "a.png", arr)
    code, out, err = run_upscale(
        capsys,
        "-m",
        model,
        tmp_path / "a.png",
        "-o",
        tmp_path / "o",
        "--precision",
        "fp16",
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert "half precision gave non-finite or black results for 1 file(s)" in out
    assert "1 tile(s) redone in fp32" in out
    np.testing.assert_array_equal(decode_image(tmp_path / "o" / "a.png").array, nearest(arr, 2))


def test_exif_orientation_is_applied(tmp_path, rng, identity_x2):
    arr = rng.integers(0, 255, (6, 10, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(arr).save(tmp_path / "r.png", exif=exif.tobytes())
    assert upscale("-m", identity_x2, tmp_path / "r.png", "-o", tmp_path / "o") == 0
    out = decode_image(tmp_path / "o" / "r.png").array
    np.testing.assert_array_equal(out, nearest(np.rot90(arr, -1), 2))


def test_icc_profile_is_carried_to_the_output(tmp_path, rng, identity_x2):
    Image.fromarray(rng.integers(0, 255, (6, 7, 3), dtype=np.uint8)).save(
        tmp_path / "c.jpg", icc_profile=SRGB
    )
    assert upscale("-m", identity_x2, tmp_path / "c.jpg", "-o", tmp_path / "o", "--format", "png") == 0
    assert Image.open(tmp_path / "o" / "c.png").info.get("icc_profile") == SRGB


def test_shared_edge_cases(shared_data, tmp_path, identity_x2, capsys):
    inputs = shared_data / "inputs"
    names = ["children-alpha.png", "tree_alpha_16bit.png", "wolf_gray.jpg", "00017_gray.png", "0014.jpg"]
    code, out, err = run_upscale(
        capsys, "-m", identity_x2, *[inputs / n for n in names], "-o", tmp_path / "o"
    )
    assert code == 0, out + err
    for name in names:
        src = decode_image(inputs / name)
        out = decode_image(tmp_path / "o" / name)
        assert out.array.dtype == src.array.dtype
        assert out.array.shape == (src.array.shape[0] * 2, src.array.shape[1] * 2, src.array.shape[2])
        assert out.icc_profile == src.icc_profile
        if not name.endswith(".jpg"):
            np.testing.assert_array_equal(out.array, nearest(src.array, 2))
    assert decode_image(tmp_path / "o" / "tree_alpha_16bit.png").array.dtype == np.uint16


def test_animated_gif_upscales_its_first_frame_and_says_so(tmp_path, rng, identity_x2, capsys):
    frames = [rng.integers(0, 255, (6, 8, 3), dtype=np.uint8) for _ in range(3)]
    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE) for f in frames]
    images[0].save(tmp_path / "anim.gif", save_all=True, append_images=images[1:])
    code, out, err = run_upscale(capsys, "-m", identity_x2, tmp_path / "anim.gif", "-o", tmp_path / "out")
    assert code == 0
    assert "3 frames or pages: only the first is upscaled" in out + err
    first = np.asarray(Image.open(tmp_path / "anim.gif").convert("RGB"))
    np.testing.assert_array_equal(decode_image(tmp_path / "out" / "anim.png").array, nearest(first, 2))
    # -q and --json silence the progress lines, not what a user must know of a result: the note goes to stderr,
    # and into the JSON of that file
    for flag in ("-q", "--json"):
        code, out, err = run_upscale(
            capsys, "-m", identity_x2, tmp_path / "anim.gif", "-o", tmp_path / f"out{flag}", flag
        )
        assert code == 0
        assert (
            f"{tmp_path / 'anim.gif'} -> " in err and "3 frames or pages: only the first is upscaled" in err
        )
    assert json.loads(out)["files"][0]["notes"] == ["3 frames or pages: only the first is upscaled"]


def test_hidden_files_in_input_folders_are_not_upscaled(tmp_path, rng, identity_x1):
    src = tmp_path / "in"
    _png(src / "a.png", rng.integers(0, 255, (6, 6, 3), dtype=np.uint8))
    (src / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    assert upscale("-m", identity_x1, src, "-o", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


def test_an_outscale_too_large_for_one_image_fails_that_image_only_with_the_size(
    tmp_path, rng, identity_x2, capsys
):
    """--outscale 2000 takes a 30x20 image to 60000x40000 (2,400 MP, over the 2^31-pixel ceiling) and a 2x2 one to
    4000x4000: the first fails with its size named before the model runs, the second is written, exit 1."""
    _png(tmp_path / "in" / "big.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    _png(tmp_path / "in" / "small.png", rng.integers(0, 255, (2, 2, 3), dtype=np.uint8))
    code, _, err = run_upscale(
        capsys, "-m", identity_x2, tmp_path / "in", "-o", tmp_path / "out", "--outscale", "2000"
    )
    assert code == 1
    assert "--outscale 2000 would make a 60000x40000 output (2,400 MP), over the 2,147 MP upres writes" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "big.png").exists()
    assert Image.open(tmp_path / "out" / "small.png").size == (4000, 4000)


def test_json_summary_says_where_the_time_went(tmp_path, rng, identity_x2, capsys, monkeypatch):
    """Seconds per stage (summed over its threads) and the thread counts, so a slow run shows its limiting stage:
    writes made slow here show as encode time covering every file's delay, above the model's time."""
    import json
    import time

    import upres.infer.batch as batch
    from upres.infer.batch import default_writers

    src = tmp_path / "in"
    for i in range(4):
        _png(src / f"{i}.png", rng.integers(0, 255, (10, 12, 3), dtype=np.uint8))
    real_write = batch.write_image

    def slow_write(*a, **k):
        time.sleep(0.2)
        return real_write(*a, **k)

    monkeypatch.setattr(batch, "write_image", slow_write)
    code, out, _ = run_upscale(capsys, "-m", identity_x2, src, "-o", tmp_path / "out", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["threads"] == {"readers": 2, "devices": 1, "writers": default_writers()}
    stages = report["stages"]
    assert set(stages) == {
        "decode",
        "model",
        "model_waiting_for_input",
        "model_waiting_for_writers",
        "encode",
    }
    assert stages["encode"] >= 4 * 0.2 and all(v >= 0 for v in stages.values())
    assert stages["encode"] > stages["model"]
    # Each file's finish time, from the batch's start: what a steady-state rate inside one run is read from.
    finished = sorted(f["finished_s"] for f in report["files"])
    assert len(finished) == 4 and finished[0] > 0 and finished[-1] <= report["seconds"]
    writes_in_a_row = -(-4 // default_writers())  # each writer sleeps 0.2 s per file
    assert finished[-1] >= writes_in_a_row * 0.2


def test_a_bad_model_leaves_no_empty_output_folder(tmp_path, capsys):
    """The output folder was made (for its writability check) before the model was read."""
    (tmp_path / "bad.pth").write_bytes(b"not a model")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "deep" / "out"
    assert (
        main(["upscale", "-m", str(tmp_path / "bad.pth"), str(tmp_path / "a.png"), "-o", str(out), "-q"]) == 2
    )
    assert not (tmp_path / "deep").exists()


def test_a_full_disk_names_the_output_and_the_way_on(tmp_path, rng, identity_x1, capsys, monkeypatch):
    """The failure named the input and the bare OS text ('x.png: [Errno 28] No space left on device')."""
    import errno

    import upres.infer.batch as batch

    for name in ("a", "b"):
        _png(tmp_path / "in" / f"{name}.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    real = batch.write_image

    def full_for_b(target, *args, **kwargs):
        if target.name == "b.png":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(target, *args, **kwargs)

    monkeypatch.setattr(batch, "write_image", full_for_b)
    code, out, _ = run_upscale(capsys, "-m", identity_x1, tmp_path / "in", "-o", tmp_path / "out")
    assert code == 1
    assert (
        f"failed: {tmp_path / 'in' / 'b.png'}: cannot write {tmp_path / 'out' / 'b.png'} (No space left on device); "
        "free space there (or raise the file size limit) and run again with --skip-existing" in out
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


def test_a_device_given_as_input_is_not_called_missing(tmp_path, identity_x1, capsys):
    code, _, err = run_upscale(capsys, "-m", identity_x1, "/dev/null", "-o", tmp_path / "out")
    assert code == 2
    assert (
        err
        == "error: /dev/null: not an image file or a folder (a device or a pipe); give image files or folders\n"
    )


def test_a_folder_that_cannot_be_listed_fails_as_one_entry_while_the_rest_runs(
    tmp_path, rng, identity_x1, capsys, monkeypatch
):
    import os

    src = tmp_path / "in"
    _png(src / "a.png", rng.integers(0, 255, (6, 6, 3), dtype=np.uint8))
    _png(src / "locked" / "b.png", rng.integers(0, 255, (6, 6, 3), dtype=np.uint8))
    real = os.scandir
    # chmod 000 does not stop root (CI): the listing fails as the system's would
    monkeypatch.setattr(
        os,
        "scandir",
        lambda p=".": (
            (_ for _ in ()).throw(PermissionError(13, "Permission denied", str(p)))
            if Path(p) == src / "locked"
            else real(p)
        ),
    )
    code, out, err = run_upscale(capsys, "-m", identity_x1, src, "-o", tmp_path / "out", "--json")
    assert code == 1
    by_name = {Path(f["source"]).name: f for f in json.loads(out)["files"]}
    assert by_name["a.png"]["status"] == "done" and (tmp_path / "out" / "a.png").is_file()
    assert by_name["locked"]["status"] == "failed"
    assert by_name["locked"]["reason"] == (
        "cannot read this folder (Permission denied); its images are not upscaled: make it readable"
    )
    assert f"failed: {src / 'locked'}: cannot read this folder (Permission denied)" in err


def test_a_newline_in_a_file_name_keeps_each_message_on_one_line(tmp_path, rng, identity_x1, capsys):
    """A failure line or error split at a file name's newline read as two messages (the second no `error:`)."""
    src = tmp_path / "in"
    _png(src / "good.png", rng.integers(0, 255, (6, 6, 3), dtype=np.uint8))
    (src / "two\nlines.png").write_text("not an image")
    code, out, err = run_upscale(capsys, "-m", identity_x1, src, "-o", tmp_path / "out")
    assert code == 1
    shown = f"failed: {src}/two\\nlines.png: cannot read image"
    (reported,) = [line for line in err.splitlines() if "lines.png" in line]  # as it happened
    assert f"] {shown}" in reported
    assert any(line.startswith(shown) for line in out.splitlines())  # the summary
    assert "\nlines.png" not in out + err
    assert main(["info", str(tmp_path / "no\nmodel.pth")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}/no\\nmodel.pth: no such model file\n"
