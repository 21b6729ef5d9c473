"""`upres prepare`: tile positions, exact tile content, bicubic LR equals imresize, resuming, failures."""

from __future__ import annotations

import os

import numpy as np
import pytest

from upres.cli import main
from upres.data.prepare import prepare_chunks, prepare_lr, tile_starts
from upres.data.resize import imresize
from upres.io.images import read_image, write_image


def _img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_tile_starts():
    assert tile_starts(1000, 512, 256, 128) == [0, 256, 488]  # remainder 232 > 128: edge tile
    assert tile_starts(800, 512, 256, 128) == [0, 256]  # remainder 32: dropped
    assert tile_starts(300, 512, 256, 128) == [0]  # smaller than a tile but above min size: kept whole
    assert tile_starts(100, 512, 256, 128) == []


def test_chunk_contents_and_resume(tmp_path, capsys):
    src = tmp_path / "src"
    a = _img(70, 90, 1)
    write_image(src / "sub" / "a.png", a)
    write_image(src / "b.jpg", _img(6, 6, 2))  # smaller than --min-size: nothing
    dst = tmp_path / "dst"
    assert (
        main(
            [
                "prepare",
                "chunk",
                str(src),
                "-o",
                str(dst),
                "--size",
                "32",
                "--step",
                "24",
                "--min-size",
                "8",
                "-j",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "1 done, 0 already finished, 1 too small" in out
    files = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*.png"))
    # rows 0, 24, 38 (edge, remainder 14 > 8); cols 0, 24, 48, 58 (remainder 10 > 8)
    assert len(files) == 12 and files[0] == "sub/a_s001.png"
    np.testing.assert_array_equal(read_image(dst / "sub" / "a_s006.png"), a[24:56, 24:56])
    np.testing.assert_array_equal(read_image(dst / "sub" / "a_s012.png"), a[38:70, 58:90])
    mtime = os.stat(dst / "sub" / "a_s001.png").st_mtime_ns
    res = prepare_chunks(src, dst, 32, 24, 8, workers=1)
    assert res.skipped == 1 and res.written == 0
    assert os.stat(dst / "sub" / "a_s001.png").st_mtime_ns == mtime
    # An interrupted run (last tile missing) is completed, earlier tiles kept.
    (dst / "sub" / "a_s012.png").unlink()
    res = prepare_chunks(src, dst, 32, 24, 8, workers=1)
    assert res.done == 1 and res.written == 1
    assert not list(dst.rglob("*.tmp*"))


def test_lr_equals_imresize_and_failures_exit_1(tmp_path, capsys):
    src = tmp_path / "src"
    gt = _img(41, 50, 3)
    write_image(src / "x.png", gt)
    write_image(src / "y.jpg", _img(16, 16, 4), quality=90)
    dst = tmp_path / "lr"
    assert main(["prepare", "lr", str(src), "-o", str(dst), "--scale", "4", "-j", "1"]) == 0
    lr = read_image(dst / "x.png")
    np.testing.assert_array_equal(lr, imresize(gt[:40, :48], 0.25))
    assert (dst / "y.png").exists()  # lossy sources become PNG
    (src / "z.png").write_bytes(b"broken")
    capsys.readouterr()
    res = prepare_lr(src, dst, 4, workers=1)
    assert res.skipped == 2 and [p for p, _ in res.failed] == [str(src / "z.png")]
    assert main(["prepare", "lr", str(src), "-o", str(dst), "--scale", "4", "-j", "1"]) == 1
    captured = capsys.readouterr()
    assert "[3/3]" in captured.out and "z.png" in captured.err


@pytest.mark.slow
def test_spawned_workers_give_the_same_files(tmp_path):
    """Windows and macOS start workers by spawning: jobs must be importable top-level functions."""
    import multiprocessing

    from upres.data.prepare import lr_one, run_jobs

    src = tmp_path / "src"
    for i in range(3):
        write_image(src / f"{i}.png", _img(16, 20, i))
    jobs = [(str(src / f"{i}.png"), f"{i}.png", str(tmp_path / "out"), 2) for i in range(3)]
    res = run_jobs(lr_one, jobs, 2, mp_context=multiprocessing.get_context("spawn"))
    assert res.done == 3 and not res.failed
    for i in range(3):
        np.testing.assert_array_equal(
            read_image(tmp_path / "out" / f"{i}.png"), imresize(_img(16, 20, i), 0.5)
        )


def test_prepare_lr_with_degradation_pipeline_is_reproducible(tmp_path):
    import numpy as np
    import yaml
    from PIL import Image

    from upres.cli import main
    from upres.io.images import read_image

    src = tmp_path / "hr"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((64, 48, 3)) * 255).astype(np.uint8)).save(src / f"{i}.png")
    cfg = tmp_path / "otf.yml"
    cfg.write_text(yaml.safe_dump({"scale": 4, "jpeg_prob": 1.0, "gaussian_noise_prob": 1.0}))
    for out, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert (
            main(
                [
                    "prepare",
                    "lr",
                    str(src),
                    "-o",
                    str(tmp_path / out),
                    "-c",
                    str(cfg),
                    "--seed",
                    seed,
                    "-j",
                    "1",
                ]
            )
            == 0
        )
    assert main(["prepare", "lr", str(src), "-o", str(tmp_path / "bic"), "--scale", "4", "-j", "1"]) == 0
    for name in ("0.png", "1.png"):
        a, b, c = (read_image(tmp_path / d / name) for d in "abc")
        assert a.shape == (16, 12, 3)
        assert np.array_equal(a, b)  # same seed, same file -> same degradation
        assert not np.array_equal(a, c)
        assert not np.array_equal(a, read_image(tmp_path / "bic" / name))


@pytest.mark.parametrize("kind", ["lr", "chunk"])
def test_an_output_folder_inside_the_sources_is_not_read_as_sources(tmp_path, capsys, kind):
    """Run twice into src/out, the second run took its own outputs for sources (src/out/out/..., chunks of chunks)."""
    src = tmp_path / "src"
    write_image(src / "a.png", _img(64, 64, 1))
    args = ["prepare", kind, str(src), "-o", str(src / "out")]
    args += ["--scale", "2"] if kind == "lr" else ["--size", "32", "--step", "32", "--min-size", "8"]
    assert main(args) == 0
    first = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.png"))
    assert main(args) == 0
    assert sorted(p.relative_to(src).as_posix() for p in src.rglob("*.png")) == first
    assert "0 done, 1 already finished" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["lr", "chunk", "tiff"])
@pytest.mark.parametrize("single_file", [False, True])
def test_the_source_folder_as_output_is_refused(tmp_path, capsys, kind, single_file):
    """`prepare lr src -o src` took the sources for finished outputs ("0 done, 3 already finished") and wrote nothing."""
    src = tmp_path / "src"
    write_image(src / "a.png", _img(64, 64, 1))
    before = (src / "a.png").read_bytes()
    target = src / "a.png" if single_file else src
    args = ["prepare", kind, str(target), "-o", str(src)] + (["--scale", "2"] if kind == "lr" else [])
    assert main(args) == 2
    assert (
        capsys.readouterr().err
        == f"error: {src}: the output folder is the source folder; give -o another folder\n"
    )
    assert [p.name for p in src.iterdir()] == ["a.png"] and (src / "a.png").read_bytes() == before


@pytest.mark.parametrize(
    "kind, first, second",
    [
        ("lr", ["--scale", "4"], ["--scale", "2"]),
        ("chunk", ["--size", "32", "--step", "32"], ["--size", "16", "--step", "16"]),
        ("tiff", ["--tile", "16"], ["--tile", "32"]),
    ],
)
def test_a_rerun_with_other_settings_is_refused_the_same_resumes(tmp_path, capsys, kind, first, second):
    """A rerun into the folder with --scale 2 after --scale 4 said '3 already finished' over x4 copies."""
    src, out = tmp_path / "src", tmp_path / "out"
    write_image(src / "a.png", _img(64, 64, 1))
    assert main(["prepare", kind, str(src), "-o", str(out), *first]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["prepare", kind, str(src), "-o", str(out), *second]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: {out}: prepared with ") and "(.upres-prepare.json), this run asks for " in err
    )
    assert err.endswith("give -o another folder, or remove this one to start again\n")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["prepare", kind, str(src), "-o", str(out), *first]) == 0
    assert "0 done, 1 already finished" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["lr", "chunk"])
def test_two_sources_with_one_output_name_are_refused(tmp_path, capsys, kind):
    """photo.png and photo.jpg both give photo.png: the second was 'already finished' with the first's output."""
    src = tmp_path / "src"
    write_image(src / "a.png", _img(64, 64, 1))
    write_image(src / "a.jpg", _img(64, 64, 2))
    args = ["prepare", kind, str(src), "-o", str(tmp_path / "out")]
    args += ["--scale", "2"] if kind == "lr" else ["--size", "32", "--step", "32"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {src / 'a.jpg'} and {src / 'a.png'} would both be written as ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["lr", "chunk", "tiff"])
def test_sources_whose_names_differ_in_case_are_refused_on_a_disk_that_ignores_it(
    tmp_path, capsys, monkeypatch, kind
):
    """IMG.png and img.png (a folder made on Linux) prepared onto a macOS or Windows disk: one name there, so one
    output replaced the other or the second was 'already finished' with the first's. On Linux they stay two."""
    src, out = tmp_path / "src", tmp_path / "out"
    write_image(src / "IMG.png", _img(64, 64, 1))
    write_image(src / "img.png", _img(64, 64, 2))
    args = ["prepare", kind, str(src), "-o", str(out)]
    args += {"lr": ["--scale", "2"], "chunk": ["--size", "32", "--step", "32"], "tiff": []}[kind]
    monkeypatch.setattr("upres.data.prepare_record.folds_case", lambda folder: folder == out, raising=False)
    assert main(args) == 2
    output = {"lr": "img.png", "chunk": "img_sNNN.png", "tiff": "img.tif"}[kind]
    assert capsys.readouterr().err == (
        f"error: {src / 'IMG.png'} and {src / 'img.png'} would both be written as {output} (this disk ignores the "
        "case of names); rename one\n"
    )
    assert not out.exists()
    monkeypatch.setattr("upres.data.prepare_record.folds_case", lambda folder: False)
    assert main(args) == 0
    assert len(list(out.iterdir())) == {"lr": 2, "chunk": 8, "tiff": 2}[kind] + 1  # and the record


def test_a_source_folder_inside_the_output_folder_is_read(tmp_path, capsys):
    """`prepare lr q/src -o q` said 'no images found': only an output folder inside the sources holds outputs."""
    src = tmp_path / "q" / "src"
    write_image(src / "a.png", _img(64, 64, 1))
    assert main(["prepare", "lr", str(src), "-o", str(tmp_path / "q"), "--scale", "2"]) == 0
    assert np.array_equal(read_image(tmp_path / "q" / "a.png"), imresize(_img(64, 64, 1), 0.5))


@pytest.mark.parametrize("channels", [3, 1])
def test_prepare_lr_with_the_pipeline_keeps_16_bit_sources_16_bit(tmp_path, capsys, channels):
    """Every 16-bit PNG failed with 'invalid data shape, strides, or dtype': the degraded array was a transposed
    view, which the 16-bit PNG encoder refuses."""
    src = tmp_path / "hr"
    src.mkdir()
    shape = (32, 24, 3) if channels == 3 else (32, 24)
    write_image(src / "a.png", np.random.default_rng(0).integers(0, 65535, shape, dtype=np.uint16))
    cfg = tmp_path / "otf.yml"
    cfg.write_text("scale: 2\n")
    assert main(["prepare", "lr", str(src), "-o", str(tmp_path / "lr"), "-c", str(cfg), "-j", "1"]) == 0
    lr = read_image(tmp_path / "lr" / "a.png")
    assert lr.dtype == np.uint16 and lr.shape[:2] == (16, 12)


def test_an_output_that_is_another_source_is_refused(tmp_path, capsys):
    """SRC inside DST: d/x/x/a.png's LR is d/x/a.png, itself a source, which was then counted "already finished"
    and never made (exit 0)."""
    src = tmp_path / "d" / "x"
    for rel in ("a.png", "x/a.png"):
        write_image(src / rel, np.zeros((8, 8, 3), np.uint8))
    assert main(["prepare", "lr", str(src), "-o", str(tmp_path / "d"), "-s", "2", "-j", "1"]) == 2
    assert capsys.readouterr().err == (
        f"error: {src / 'x' / 'a.png'}: its output {tmp_path / 'd' / 'x' / 'a.png'} is the source {src / 'a.png'}; "
        "choose a DST that holds no source\n"
    )


WORKER_SCRIPT = """
import os, sys, time
from upres.data.prepare import run_jobs

def job(i, folder):
    open(os.path.join(folder, str(os.getpid())), "w").close()
    time.sleep(60)
    return "done", 0

if __name__ == "__main__":
    run_jobs(job, [(i, sys.argv[1]) for i in range(8)], 2, None)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process states from /proc (Linux)")
def test_workers_end_with_a_killed_parent(tmp_path):
    """After `kill -9` of `upres prepare -j 2`, its workers went on writing, then waited for work for ever."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = tmp_path / "pool.py"
    script.write_text(WORKER_SCRIPT)
    pids = tmp_path / "pids"
    pids.mkdir()
    src = Path(__file__).resolve().parents[2] / "src"
    parent = subprocess.Popen(
        [sys.executable, str(script), str(pids)], env={**os.environ, "PYTHONPATH": str(src)}
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()

    def alive(pid: int) -> bool:
        try:
            return "\tZ" not in Path(f"/proc/{pid}/status").read_text().split("State:")[1].splitlines()[0]
        except (FileNotFoundError, IndexError):
            return False

    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers)


def test_prepare_lr_with_the_pipeline_keeps_alpha_and_gray_as_the_bicubic_lr_does(tmp_path):
    """`prepare lr -c` dropped alpha and made gray GTs RGB: under the loader's `alpha: white` the GT's transparent
    parts read white and the LR's the hidden colours beneath them (a red the model then learnt to turn white)."""
    import yaml

    from upres.data.read import array_to_rgb

    rgba = _img(64, 64, 3)
    rgba = np.concatenate([rgba, np.full((64, 64, 1), 255, np.uint8)], axis=2)
    rgba[32:, :, :3] = (200, 0, 0)
    rgba[32:, :, 3] = 0  # the lower half transparent, red beneath
    write_image(tmp_path / "rgba" / "a.png", rgba)
    write_image(tmp_path / "rgb" / "a.png", rgba[..., :3])
    gray = _img(64, 64, 4)[..., :1]
    write_image(tmp_path / "gray" / "a.png", gray)
    write_image(tmp_path / "gray3" / "a.png", np.repeat(gray, 3, axis=2))
    cfg = tmp_path / "otf.yml"
    cfg.write_text(yaml.safe_dump({"scale": 2, "jpeg_prob": 0.0, "noise_prob": 0.0, "noise_prob2": 0.0}))
    for name in ("rgba", "rgb", "gray", "gray3"):
        argv = [
            "prepare",
            "lr",
            str(tmp_path / name),
            "-o",
            str(tmp_path / f"lr_{name}"),
            "-c",
            str(cfg),
            "-j",
            "1",
        ]
        assert main(argv) == 0
    lr = read_image(tmp_path / "lr_rgba" / "a.png")
    assert lr.shape == (32, 32, 4)
    assert np.array_equal(
        lr[..., :3], read_image(tmp_path / "lr_rgb" / "a.png")
    )  # the colour degraded as before
    assert np.array_equal(lr[..., 3:], imresize(rgba[..., 3:], 0.5))  # the alpha as the bicubic LR's
    gt_white = array_to_rgb(rgba, "white")
    lr_white = array_to_rgb(lr, "white")
    assert (gt_white[:, 40:] == 1).all() and (lr_white[:, 20:] == 1).all()  # transparent: white in both
    lr_gray = read_image(tmp_path / "lr_gray" / "a.png")
    lr_gray3 = read_image(tmp_path / "lr_gray3" / "a.png")
    assert lr_gray.shape == (32, 32, 1) and not np.array_equal(lr_gray, imresize(gray, 0.5))
    assert np.array_equal(
        lr_gray3, np.repeat(lr_gray, 3, axis=2)
    )  # without noise and JPEG: one plane of the RGB
