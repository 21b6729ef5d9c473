"""A fault in the model stage of `upres upscale` fails its file, never the batch: `--outscale 1e308` killed that
thread with an OverflowError traceback, and the command then waited for its result for ever."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image
from upscale_helpers import run_upscale

import upres.infer.batch as batch


def _images(folder, n=3):
    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.full((6, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    return folder


def _in_thread(fn, timeout=120):
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("r", fn()), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "the command hung"
    return out["r"]


def test_an_outscale_no_image_fits_is_refused_before_any_work(tmp_path, capsys, identity_x2):
    src = _images(tmp_path / "in")
    code, _, err = _in_thread(
        lambda: run_upscale(capsys, "-m", identity_x2, src, "-o", tmp_path / "out", "--outscale", "1e308")
    )
    assert code == 2
    assert err == (
        "error: --outscale 1e+308: even a 1x1 image would be over the 2,147 MP upres writes; use at most 46340\n"
    )
    assert not (tmp_path / "out").exists()


def test_an_unexpected_fault_in_the_model_stage_fails_that_file_and_the_rest_are_done(
    tmp_path, capsys, identity_x2, monkeypatch
):
    src = _images(tmp_path / "in")
    real = batch._oversized

    def flaky(w, h, outscale):
        if flaky.calls == 1:
            flaky.calls += 1
            raise OverflowError("cannot convert float infinity to integer")
        flaky.calls += 1
        return real(w, h, outscale)

    flaky.calls = 0
    monkeypatch.setattr(batch, "_oversized", flaky)
    code, _, err = _in_thread(
        lambda: run_upscale(capsys, "-m", identity_x2, src, "-o", tmp_path / "out", "--outscale", "1.5")
    )
    assert code == 1
    assert "cannot convert float infinity to integer" in err and "Traceback" not in err
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


def test_an_output_wider_than_its_format_holds_fails_before_the_model(
    tmp_path, identity_x2, capsys, monkeypatch
):
    # WebP stores at most 16383 pixels a side: the encoder's 'encoding error 5' came after the model had run.
    Image.fromarray(np.zeros((4, 8200, 3), np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.zeros((4, 8, 3), np.uint8)).save(tmp_path / "small.png")
    ran = []
    render = batch.render_image
    monkeypatch.setattr(
        batch, "render_image", lambda engine, arr, alpha: ran.append(arr.shape) or render(engine, arr, alpha)
    )
    code, out, _ = run_upscale(
        capsys,
        "-m",
        identity_x2,
        tmp_path / "wide.png",
        tmp_path / "small.png",
        "-o",
        tmp_path / "out",
        "--format",
        "webp",
    )
    assert code == 1
    assert (
        f"failed: {tmp_path / 'wide.png'}: the output would be 16400x8, over the 16383 pixels a side WebP can "
        "store; write PNG or TIFF (--format png, or -o NAME.png for one image) or use a smaller --outscale"
    ) in out.splitlines()
    assert ran == [(4, 8, 3)]  # only the small image went through the model
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small.webp"]
    # --outscale sets the output's size: at 1 the same image fits
    assert (
        run_upscale(
            capsys, "-m", identity_x2, tmp_path / "wide.png", "-o", tmp_path / "w.webp", "--outscale", "1"
        )[0]
        == 0
    )
    assert Image.open(tmp_path / "w.webp").size == (8200, 4)


def test_alpha_into_jpeg_is_not_run_through_the_model(tmp_path, identity_x2, capsys, monkeypatch):
    # JPEG drops the alpha: its pass through the model (as long as the colour's) was thrown away.
    rgba = np.random.default_rng(0).integers(0, 255, (6, 8, 4), np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    passes = []
    planes = batch.ImageEngine.render_planes
    monkeypatch.setattr(
        batch.ImageEngine,
        "render_planes",
        lambda self, src, dst: passes.append(src.shape) or planes(self, src, dst),
    )
    assert run_upscale(capsys, "-m", identity_x2, tmp_path / "a.png", "-o", tmp_path / "a.jpg")[0] == 0
    assert passes == [(6, 8, 3)]
    assert (
        run_upscale(
            capsys, "-m", identity_x2, tmp_path / "a.png", "-o", tmp_path / "d.jpg", "--alpha", "discard"
        )[0]
        == 0
    )
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "d.jpg").read_bytes()
