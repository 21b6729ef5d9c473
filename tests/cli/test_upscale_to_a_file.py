"""`upres upscale photo.png -o photo_x2.png`: one input image written to the file -o names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from upres.archs import build_network
from upres.cli import main
from upres.io.images import read_image, write_image
from upres.io.model_files import save_model


@pytest.fixture
def workdir(tmp_path):
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    save_model(tmp_path / "m.safetensors", net, info)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        write_image(tmp_path / name, (rng.random((12, 20, 3)) * 255).astype(np.uint8))
    return tmp_path


def _upscale(tmp_path, *args: str) -> int:
    return main(["upscale", "-q", "-m", str(tmp_path / "m.safetensors"), "--device", "cpu", *map(str, args)])


def test_one_image_goes_to_the_file_named_and_equals_the_folder_result(workdir):
    assert _upscale(workdir, workdir / "a.png", "-o", workdir / "folder") == 0
    assert _upscale(workdir, workdir / "a.png", "-o", workdir / "new" / "deeper" / "a_x2.png") == 0
    result = workdir / "new" / "deeper" / "a_x2.png"
    assert result.is_file()
    assert np.array_equal(read_image(result), read_image(workdir / "folder" / "a.png"))
    assert sorted(p.name for p in (workdir / "new" / "deeper").iterdir()) == ["a_x2.png"]


@pytest.mark.parametrize(("name", "pillow_format"), [("x.jpg", "JPEG"), ("x.JPEG", "JPEG"), ("x.webp", "WEBP"),
                                                     ("x.tif", "TIFF")])  # fmt: skip
def test_the_name_picks_the_format(workdir, name, pillow_format):
    assert _upscale(workdir, workdir / "a.png", "-o", workdir / name) == 0
    with Image.open(workdir / name) as im:
        assert im.format == pillow_format and im.size == (40, 24)
    # --format that agrees with the name is accepted (jpeg is jpg, tif is tiff)
    fmt = {"JPEG": "jpg", "WEBP": "webp", "TIFF": "tiff"}[pillow_format]
    assert _upscale(workdir, workdir / "a.png", "-o", workdir / name, "--format", fmt) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "{d}/x.jpg", "--format", "png"],
         "-o {d}/x.jpg names a jpg file but --format is png; drop --format (the name decides) or name the file x.png"),
        (["-o", "{d}/x.gif"],
         "-o {d}/x.gif: upres writes png, jpg, jpeg, webp, tif, tiff files; name the output e.g. x.png"),
    ],
)  # fmt: skip
def test_a_name_upres_cannot_write_is_refused_before_any_work(workdir, capsys, args, message):
    argv = [a.format(d=workdir) for a in args]
    assert _upscale(workdir, workdir / "a.png", *argv) == 2
    assert capsys.readouterr().err.strip() == "error: " + message.format(d=workdir)
    assert sorted(p.name for p in workdir.iterdir()) == ["a.png", "b.png", "m.safetensors"]


def test_several_inputs_still_need_a_folder(workdir, capsys):
    assert _upscale(workdir, workdir / "a.png", workdir / "b.png", "-o", workdir / "x.png") == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "is the output folder, not the output file (the results are written inside it); give a folder, e.g. "
            f"-o {workdir / 'x'} (-o names the output file only for one input image)"
        )
    )
    assert not (workdir / "x.png").exists()


def test_one_image_listed_twice_is_one_input(workdir, monkeypatch):
    """`upscale a.png ./a.png -o x.png` (a shell glob and a name) was refused as several inputs, though it runs once."""
    monkeypatch.chdir(workdir)
    assert _upscale(workdir, workdir / "a.png", "./a.png", "-o", workdir / "x.png") == 0
    assert _upscale(workdir, workdir / "a.png", "-o", workdir / "folder") == 0
    assert np.array_equal(read_image(workdir / "x.png"), read_image(workdir / "folder" / "a.png"))


def test_the_input_itself_is_never_the_output(workdir):
    before = (workdir / "a.png").read_bytes()
    assert _upscale(workdir, workdir / "a.png", "-o", workdir / "a.png") == 1
    assert (workdir / "a.png").read_bytes() == before


def test_the_input_as_the_output_file_is_not_told_to_change_format(workdir, capsys, monkeypatch):
    # --format must agree with the file's name, so it is no way out; the name (here reached by ./a.png) is.
    monkeypatch.chdir(workdir)
    assert _upscale(workdir, "a.png", "-o", "./a.png") == 1
    assert capsys.readouterr().err.strip() == (
        "[1/1] failed: a.png: the output a.png would overwrite its own input; choose another -o"
    )


def test_skip_existing_leaves_the_file(workdir):
    (workdir / "x.png").write_bytes(b"kept")
    assert _upscale(workdir, workdir / "a.png", "-o", workdir / "x.png", "--skip-existing") == 0
    assert (workdir / "x.png").read_bytes() == b"kept"
    assert _upscale(workdir, workdir / "a.png", "-o", workdir / "x.png") == 0  # without it, replaced
    assert read_image(workdir / "x.png").shape == (24, 40, 3)


@pytest.mark.parametrize("under", ["a.png", "notes.txt"])
def test_a_file_where_the_output_folder_should_be_is_named_as_such(workdir, capsys, under):
    (workdir / "notes.txt").write_text("keep")
    target = workdir / under / "x.png"
    assert _upscale(workdir, workdir / "a.png", "-o", target) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {target}: output file is not writable: {workdir / under} is a file, not a folder; "
        "choose another -o"
    )
    assert (workdir / "notes.txt").read_text() == "keep"


def test_a_missing_input_is_named_not_the_output_file(workdir, capsys):
    # A typo in the input's name was reported as '-o x.png: is the output folder, not the output file'.
    assert _upscale(workdir, workdir / "typo.png", "-o", workdir / "new" / "x.png") == 2
    assert capsys.readouterr().err.strip() == f"error: {workdir / 'typo.png'}: no such file or folder"
    assert sorted(p.name for p in workdir.iterdir()) == ["a.png", "b.png", "m.safetensors"]
