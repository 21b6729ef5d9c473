"""A folder with no image upres reads: "no images found" said nothing of the files that were there."""

from __future__ import annotations

import pytest
import yaml

from upres.cli import main
from upres.io.image_files import other_files_hint

HINT = " (there are other files: 2 .heic, 1 .avif; upres reads .png .jpg .jpeg .jfif .jpe .webp .bmp .tif .tiff .tga .gif)"


def _phone_folder(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in ("IMG_1.HEIC", "IMG_2.heic", "sub/x.avif", ".DS_Store", "._IMG_1.HEIC"):
        (folder / name).write_bytes(b"not read")
    return folder


def test_the_hint_counts_other_files_by_extension_and_leaves_hidden_ones_out(tmp_path):
    assert other_files_hint([_phone_folder(tmp_path)]) == HINT
    (tmp_path / "empty").mkdir()
    assert other_files_hint([tmp_path / "empty", tmp_path / "missing"]) == ""


@pytest.mark.parametrize("command", ["upscale", "eval", "prepare", "train"])
def test_commands_say_what_the_folder_holds(tmp_path, capsys, command):
    folder = _phone_folder(tmp_path)
    argv = {
        "upscale": ["upscale", "-m", "m.pth", str(folder), "-o", str(tmp_path / "out"), "--device", "cpu"],
        "eval": ["eval", "--bicubic", str(folder), "--scale", "2"],
        "prepare": ["prepare", "lr", str(folder), "-o", str(tmp_path / "out"), "--scale", "2", "-j", "1"],
        "train": ["train", "-c", str(tmp_path / "o.yml"), "--dry-run"],
    }[command]
    options = {"name": "x", "scale": 2, "network_g": {"type": "compact"}}
    options["datasets"] = {"train": {"type": "pairedimagedataset", "dataroot_gt": str(folder), "lq_size": 4}}
    (tmp_path / "o.yml").write_text(yaml.safe_dump(options))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no images found" in err and HINT in err


def test_hidden_images_are_counted_with_the_way_to_read_them(tmp_path, capsys):
    """Images whose names start with '.' (an export tool's temporary names, a `cp` to `.x.png`) were skipped without a
    word: "no images found" in a folder the user sees images in. macOS's `._` metadata files are not images."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for name in (".a.png", ".b.JPG", "._c.png", ".notes.txt"):
        (folder / name).write_bytes(b"x")
    hint = " (2 hidden image files (names starting with '.') are skipped; rename them)"
    assert other_files_hint([folder]) == hint
    (folder / "d.heic").write_bytes(b"x")
    assert other_files_hint([folder]).endswith(
        "; 2 hidden image files (names starting with '.') are skipped; rename them)"
    )
    (folder / "d.heic").unlink()
    assert main(["upscale", "-m", "m.pth", str(folder), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip() == f"error: no images found in {folder}{hint}"


def test_an_empty_image_file_is_named_as_empty(tmp_path, capsys):
    """A 0-byte file (a failed copy or download) said Pillow's "cannot identify image file"."""
    from upres.io.images import ImageReadError, read_image

    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(ImageReadError) as err:
        read_image(tmp_path / "a.png")
    assert str(err.value) == f"{tmp_path / 'a.png'}: cannot read image (the file is empty: 0 bytes)"
