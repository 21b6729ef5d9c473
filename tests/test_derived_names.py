"""Names upres derives from users' names: long legal names where it adds to them (the 255-byte limit made the added
name fail although the user's own name was legal), and images of one name in two sub-folders."""

from __future__ import annotations

import numpy as np
import torch

from upres.archs import build_network
from upres.cli import main
from upres.data import build_dataset
from upres.data.options import parse_dataset_options
from upres.io.images import read_image, write_image
from upres.io.model_files import save_model
from upres.io.names import NAME_MAX, fitted_name
from upres.train.config import ValOptions
from upres.train.validate import run_validation


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_fitted_name_keeps_short_names_and_the_tail_of_long_ones():
    assert fitted_name("photo", "_s001.png") == "photo_s001.png"
    for stem in ("x" * 250, "é" * 126, "🙂" * 63 + "x"):
        name = fitted_name(stem, "_alpha0.25.png")
        assert len(name.encode()) <= NAME_MAX and name.endswith("_alpha0.25.png")
        assert name.startswith(stem[:20])
        assert name == fitted_name(stem, "_alpha0.25.png")  # a rerun finds what it wrote
    # Two long names that differ only past the cut stay two names.
    assert fitted_name("x" * 250 + "a", ".png") != fitted_name("x" * 250 + "b", ".png")


def test_prepare_chunk_cuts_an_image_with_a_long_name_and_resumes_it(tmp_path, capsys):
    """`<stem>_s001.png` of a 250-byte stem failed the image ([Errno 36] File name too long): it was missing from
    the training set."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_image(src / ("p" * 248 + ".png"), _photo(40, 40))
    args = ["prepare", "chunk", str(src), "-o", str(dst), "--size", "20", "--step", "20", "--min-size", "4"]
    assert main([*args, "-j", "1"]) == 0
    tiles = sorted(dst.glob("*.png"))
    assert len(tiles) == 4 and all(len(p.name.encode()) <= NAME_MAX for p in tiles)
    assert [p.name[-9:] for p in tiles] == ["_s001.png", "_s002.png", "_s003.png", "_s004.png"]
    assert np.array_equal(read_image(tiles[3]), _photo(40, 40)[20:, 20:])
    capsys.readouterr()
    assert main([*args, "-j", "1"]) == 0
    assert "0 done, 1 already finished" in capsys.readouterr().out
    assert sorted(dst.glob("*.png")) == tiles


def test_interp_sweep_of_an_image_with_a_long_name(tmp_path, capsys):
    """`<stem>_alpha0.25.png` of a 245-byte stem stopped the sweep with 'File name too long' (exit 2)."""
    torch.manual_seed(0)
    a, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    b, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    pa, pb = save_model(tmp_path / "a.safetensors", a, info), save_model(tmp_path / "b.safetensors", b, info)
    image = tmp_path / ("i" * 245 + ".png")
    write_image(image, _photo(12, 16))
    out = tmp_path / "out"
    sweep = ["interp", str(pa), str(pb), "--sweep", "0,0.25", "--image", str(image), "-o", str(out)]
    assert main([*sweep, "--device", "cpu"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert sorted(n.rsplit("_", 1)[1] for n in names) == ["alpha0.25.png", "alpha0.png", "sweep.png"]
    assert all(len(n.encode()) <= NAME_MAX for n in names)


class _Nearest:
    def __call__(self, lq: torch.Tensor, tile: int = 0, overlap: int = 16) -> torch.Tensor:
        return lq.repeat_interleave(2, -2).repeat_interleave(2, -1)


def test_validation_saves_the_picture_of_an_image_with_a_long_name(tmp_path):
    """`<iteration>_<stem>.png` of a 250-byte stem could not be written: a warning, and no more pictures that
    validation."""
    val_dir = tmp_path / "val"
    write_image(val_dir / ("v" * 250 + ".png"), _photo(16, 16))
    write_image(val_dir / "w.png", _photo(16, 16, 1))
    dataset = build_dataset(
        parse_dataset_options({"type": "pairedimagedataset", "dataroot_gt": str(val_dir)}), 2
    )
    run_validation(_Nearest(), {"val": dataset}, [], ValOptions(), 2, tmp_path / "vis", 5000)
    saved = sorted(p.name for p in (tmp_path / "vis" / "val").iterdir())
    assert len(saved) == 2 and saved[1] == "5000_w.png" and saved[0].startswith("5000_vvv")


def test_validation_images_of_one_stem_in_two_sub_folders_keep_both_pictures_and_scores(tmp_path):
    """`sub1/a.png` and `sub2/a.png` were both "a": one picture overwrote the other and the report had two rows
    of one name."""
    for i, sub in enumerate(("sub1", "sub2")):
        write_image(tmp_path / "val" / sub / "a.png", _photo(16, 16, i))
    opts = {"type": "pairedimagedataset", "dataroot_gt": str(tmp_path / "val")}
    results = run_validation(
        _Nearest(),
        {"val": build_dataset(parse_dataset_options(opts), 2)},
        [],
        ValOptions(),
        2,
        tmp_path / "vis",
        7,
    )
    assert [r.name for r in results["val"].images] == ["sub1/a", "sub2/a"]
    saved = sorted(p.relative_to(tmp_path / "vis") for p in (tmp_path / "vis").rglob("*.png"))
    assert [p.as_posix() for p in saved] == ["val/sub1/7_a.png", "val/sub2/7_a.png"]


def test_upscale_refuses_an_output_name_too_long_before_the_model_runs(tmp_path, capsys):
    """A 255-byte `.png` name upscaled `--format webp` is 256 bytes: the model ran, then the write failed with the
    system's 'File name too long'."""
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    model = save_model(tmp_path / "m.safetensors", net, info)
    long = "y" * 251 + ".png"
    write_image(tmp_path / "in" / long, _photo(8, 8))
    write_image(tmp_path / "in" / "b.png", _photo(8, 8))
    out = tmp_path / "out"
    argv = ["upscale", "-q", "-m", str(model), str(tmp_path / "in"), "-o", str(out), "--format", "webp"]
    assert main([*argv, "--device", "cpu"]) == 1
    assert (
        f"failed: {tmp_path / 'in' / long}: the output name {'y' * 251}.webp is 256 bytes, over the 255 a file name "
        "may have; rename the input, or choose a --format with a shorter extension"
    ) in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["b.webp"]
