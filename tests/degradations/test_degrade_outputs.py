"""Where `upres degrade` writes: never over an input, never its own earlier samples taken as inputs, and a file it
cannot write fails its image, not the batch (a 250-character name stopped every image with exit 2)."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from upres.cli import main


def _images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(
            folder / name
        )
    return folder


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _degrade(tmp_path, src, out, *extra):
    opt = tmp_path / "opt.yml"
    opt.write_text("scale: 2\n")
    return main(["degrade", "-c", str(opt), str(src), "-o", str(out), "--n", "1", "--crop", "0", *extra])


def test_degrading_into_the_input_folder_never_replaces_an_input(tmp_path, capsys):
    src = _images(tmp_path / "in", ["a.png"])
    assert _degrade(tmp_path, src, src) == 0  # a.png -> a_lr00.png, contact_sheet.png beside it
    before = _digests(src)
    # The second run reads a_lr00.png as an input, and a.png's sample would be written over it.
    assert _degrade(tmp_path, src, src) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {src / 'a_lr00.png'}: is an input, and a sample would replace it; choose an -o that holds no input"
    )
    assert _digests(src) == before


def test_samples_in_a_folder_inside_the_input_are_not_taken_as_inputs(tmp_path, capsys):
    src = _images(tmp_path / "in", ["a.png"])
    out = src / "samples"
    for _ in range(2):
        assert _degrade(tmp_path, src, out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_lr00.png", "contact_sheet.png"]


def test_a_sample_that_cannot_be_written_fails_its_image_only(tmp_path, capsys):
    long = "M" * 250 + ".png"  # its sample's name (+ "_lr00") is over the file system's 255 bytes
    src = _images(tmp_path / "in", ["a.png", long, "z.png"])
    out = tmp_path / "out"
    assert _degrade(tmp_path, src, out) == 1
    err = capsys.readouterr().err
    assert f"error: {out / ('M' * 250 + '_lr00.png')}: cannot write (File name too long)" in err
    assert sorted(p.name for p in out.iterdir()) == ["a_lr00.png", "contact_sheet.png", "z_lr00.png"]
