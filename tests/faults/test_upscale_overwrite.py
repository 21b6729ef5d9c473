"""Issue 14 item 1: an upscale never writes over one of its inputs, nor lets two inputs fight over one output."""

from __future__ import annotations

import pytest
from fault_helpers import compact_model, png
from PIL import Image

from upres.cli import main


def _run(capsys, *args: object) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["upscale", *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return code, out + err


def test_output_of_one_file_never_replaces_another_input(tmp_path, capsys):
    model = compact_model(tmp_path / "m.safetensors", scale=2)
    folder = tmp_path / "same2"
    png_bytes = png(folder / "photo.png", seed=1).read_bytes()
    Image.open(folder / "photo.png").save(folder / "photo.jpg")
    jpg_bytes = (folder / "photo.jpg").read_bytes()
    Image.open(folder / "photo.png").save(folder / "extra.jpg")
    code, text = _run(capsys, "-m", model, folder, "-o", folder, "--format", "png")
    assert code == 1
    assert (folder / "photo.png").read_bytes() == png_bytes
    assert (folder / "photo.jpg").read_bytes() == jpg_bytes
    photo_png, photo_jpg = folder / "photo.png", folder / "photo.jpg"
    assert (
        f"failed: {photo_jpg}: the output {photo_png} would overwrite the input {photo_png}; "
        "choose another -o or --format"
    ) in text
    assert f"failed: {photo_png}: the output {photo_png} would overwrite its own input" in text
    assert Image.open(folder / "extra.png").size == (16, 16)  # the file that collides with nothing still runs
    assert sorted(p.name for p in folder.iterdir()) == ["extra.jpg", "extra.png", "photo.jpg", "photo.png"]


def test_every_input_of_a_shared_output_is_refused(tmp_path, capsys):
    model = compact_model(tmp_path / "m.safetensors", scale=2)
    png(tmp_path / "in" / "a.png", seed=1)
    Image.open(tmp_path / "in" / "a.png").save(tmp_path / "in" / "a.jpg")
    png(tmp_path / "in" / "b.png", seed=2)
    out = tmp_path / "out"
    code, text = _run(capsys, "-m", model, tmp_path / "in", "-o", out, "--format", "png")
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["b.png"]
    a_png, a_jpg = tmp_path / "in" / "a.png", tmp_path / "in" / "a.jpg"
    assert (
        f"failed: {a_jpg}: {a_png} would also be written to {out / 'a.png'}; none of these is written" in text
    )
    assert f"failed: {a_png}: {a_jpg} would also be written to {out / 'a.png'}" in text
    assert "upscaled 1, skipped 0, failed 2" in text


def test_a_file_listed_twice_runs_once(tmp_path, capsys):
    model = compact_model(tmp_path / "m.safetensors", scale=2)
    a = png(tmp_path / "in" / "a.png")
    code, text = _run(capsys, "-m", model, a, a, "-o", tmp_path / "out")
    assert code == 0, text
    assert "upscaled 1, skipped 0, failed 0" in text


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        ("Cat.png", "cat.png", "this disk ignores the case of names"),
        # Linux keeps é as one code point (NFC) and as e + accent (NFD, what macOS writes) apart; a Mac disk does not
        (
            "\u00e9.png",
            "e\u0301.png",
            "this disk does not tell apart names that differ only in their Unicode form",
        ),
    ],
)
def test_outputs_whose_names_differ_only_in_case_are_one_file_on_a_disk_that_ignores_case(
    tmp_path, capsys, first, second, why
):
    """macOS's usual disk: `Cat.png` and `cat.png` from two folders were written one over the other ("upscaled 2").
    Such a disk is simulated by a link `OUT` beside the output folder `out` (what the probe for it sees)."""
    model = compact_model(tmp_path / "m.safetensors", scale=2)
    one, two = png(tmp_path / "a" / first, seed=1), png(tmp_path / "b" / second, seed=2)
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "OUT").symlink_to(out, target_is_directory=True)
    code, text = _run(capsys, "-m", model, tmp_path / "a", tmp_path / "b", "-o", out)
    assert code == 1
    assert list(out.iterdir()) == []
    assert (
        f"failed: {one}: {two} would also be written to {out / first} ({why}); none of these is written: upscale "
        "them separately or use another -o"
    ) in text
    assert f"failed: {two}: {one} would also be written to {out / second} ({why})" in text
    # Where names are told apart (no such link), both are written.
    (tmp_path / "OUT").unlink()
    code, text = _run(capsys, "-m", model, tmp_path / "a", tmp_path / "b", "-o", out)
    assert code == 0, text
    assert sorted(p.name for p in out.iterdir()) == sorted([first, second])


@pytest.mark.parametrize("skip_existing", [False, True])
def test_a_folder_where_an_output_goes_fails_that_file_even_with_skip_existing(
    tmp_path, capsys, skip_existing
):
    # It was 'skipped: output exists' with --skip-existing (exit 0, no result), else a failed write after the model.
    model = compact_model(tmp_path / "m.safetensors", scale=2)
    png(tmp_path / "in" / "a.png", seed=1)
    png(tmp_path / "in" / "b.png", seed=2)
    (tmp_path / "out" / "a.png").mkdir(parents=True)
    flags = ["--skip-existing"] if skip_existing else []
    code, text = _run(capsys, "-m", model, tmp_path / "in", "-o", tmp_path / "out", *flags)
    assert code == 1
    a_in, a_out = tmp_path / "in" / "a.png", tmp_path / "out" / "a.png"
    assert f"failed: {a_in}: the output {a_out} is a folder; move it away or choose another -o" in text
    assert a_out.is_dir() and not any(a_out.iterdir())
    assert Image.open(tmp_path / "out" / "b.png").size == (16, 16)
