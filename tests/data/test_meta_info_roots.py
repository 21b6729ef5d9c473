"""One `meta_info` list over several `dataroot_gt` folders: each line is the file of the first folder holding it, in
pairedimagedataset as in realesrgandataset. The paired set wanted every line in every folder ("2 listed files are not
in B/hr" for a list naming files of A and of B), and took a name both folders hold twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from upres.data.doctor_block import check_dataset
from upres.data.options import parse_dataset_options
from upres.data.otf_dataset import gather_paths
from upres.data.paired import find_pairs
from upres.errors import ConfigError
from upres.io.images import write_image


def _folders(tmp_path):
    rng = np.random.default_rng(0)
    for root, names in (("A", ["a0", "a1", "both"]), ("B", ["b0", "both"])):
        for name in names:
            write_image(
                tmp_path / root / "hr" / f"{name}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            )
            write_image(
                tmp_path / root / "lr" / f"{name}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            )
    (tmp_path / "meta.txt").write_text("a1.png\nb0.png\nboth.png\n")
    return {
        "type": "pairedimagedataset",
        "dataroot_gt": [str(tmp_path / "A" / "hr"), str(tmp_path / "B" / "hr")],
        "dataroot_lq": [str(tmp_path / "A" / "lr"), str(tmp_path / "B" / "lr")],
        "meta_info": str(tmp_path / "meta.txt"),
        "batch_size_per_gpu": 1,
    }


def test_each_listed_file_pairs_in_the_first_folder_that_holds_it(tmp_path):
    opts = _folders(tmp_path)
    pairs = find_pairs(parse_dataset_options(opts))
    a, b = tmp_path / "A", tmp_path / "B"
    assert [(p.gt, p.lq) for p in pairs] == [
        (a / "hr" / "a1.png", a / "lr" / "a1.png"),
        (a / "hr" / "both.png", a / "lr" / "both.png"),
        (b / "hr" / "b0.png", b / "lr" / "b0.png"),
    ]
    assert sorted(p.gt for p in pairs) == sorted(gather_paths(opts["dataroot_gt"], opts["meta_info"]))
    report = check_dataset(parse_dataset_options(opts), scale=2, name="train", use_cache=False)
    assert report.pairs == 3 and not report.findings


def test_a_line_in_no_folder_is_named(tmp_path):
    opts = _folders(tmp_path)
    (tmp_path / "meta.txt").write_text("a1.png\nnowhere.png\n")
    roots = ", ".join(opts["dataroot_gt"])
    with pytest.raises(ConfigError) as caught:
        find_pairs(parse_dataset_options(opts))
    assert (
        str(caught.value)
        == f"meta_info {tmp_path / 'meta.txt'}: 1 listed files are not in {roots}, e.g. nowhere.png"
    )


def _sub_pair(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # folders as written in an option file, relative to where training starts
    rng = np.random.default_rng(1)
    for root, side in (("hr", 16), ("lr", 8)):
        write_image(tmp_path / root / "sub" / "a.png", rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
    return {"type": "pairedimagedataset", "dataroot_gt": "hr", "dataroot_lq": "lr", "meta_info": "meta.txt"}


@pytest.mark.parametrize("line", ["sub\\a.png\r\n", "{hr}/sub/a.png\n"])
def test_windows_separators_and_absolute_paths_inside_the_root_are_the_listed_file(
    tmp_path, monkeypatch, line
):
    """A list written on Windows (sub\\a.png) was "not in" the folder elsewhere; an absolute path inside dataroot_gt
    stopped the paired set with a ValueError traceback (no relative path to pair by)."""
    opts = _sub_pair(tmp_path, monkeypatch)
    (tmp_path / "meta.txt").write_bytes(line.format(hr=tmp_path / "hr").encode())
    pairs = find_pairs(parse_dataset_options(opts))
    assert [(p.gt, p.lq) for p in pairs] == [(Path("hr/sub/a.png"), Path("lr/sub/a.png"))]
    assert gather_paths(opts["dataroot_gt"], opts["meta_info"]) == [Path("hr/sub/a.png")]


def test_an_absolute_path_outside_the_root_cannot_pair_and_is_named(tmp_path, monkeypatch):
    opts = _sub_pair(tmp_path, monkeypatch)
    outside = tmp_path / "elsewhere.png"
    write_image(outside, np.zeros((16, 16, 3), np.uint8))
    (tmp_path / "meta.txt").write_text(f"{outside}\n")
    with pytest.raises(ConfigError) as caught:
        find_pairs(parse_dataset_options(opts))
    assert str(caught.value) == f"meta_info meta.txt: 1 listed files are not in hr, e.g. {outside}"


@pytest.mark.parametrize("kind", ["pairedimagedataset", "realesrgandataset"])
def test_a_real_esrgan_gt_lr_pair_list_says_to_list_the_gts_only(tmp_path, monkeypatch, kind):
    """Real-ESRGAN's paired meta_info ("gt.png, lr.png" lines) read as "listed files are not in hr, e.g. ...": the
    file is right there, the line just holds two names."""
    opts = {**_sub_pair(tmp_path, monkeypatch), "type": kind, "lq_size": 4}
    (tmp_path / "meta.txt").write_text("sub/a.png, sub/a.png\n")
    hint = (
        ": a 'GT, LR' line of Real-ESRGAN's paired lists; upres pairs each GT with its LR by name, so list the GT "
        "paths only, one a line"
    )
    with pytest.raises(ConfigError) as caught:
        if kind == "pairedimagedataset":
            find_pairs(parse_dataset_options(opts))
        else:
            gather_paths(opts["dataroot_gt"], opts["meta_info"])
    said = {
        "pairedimagedataset": "meta_info meta.txt: 1 listed files are not in hr, e.g. sub/a.png, sub/a.png",
        "realesrgandataset": "meta_info: meta.txt line 1: sub/a.png, sub/a.png is not in hr",
    }
    assert str(caught.value) == said[kind] + hint


@pytest.mark.parametrize("text", ["", "\r\n  \n\n"])
@pytest.mark.parametrize("kind", ["pairedimagedataset", "realesrgandataset"])
def test_an_empty_list_is_named_not_taken_for_an_empty_folder(tmp_path, monkeypatch, kind, text):
    """It said "hr: no images found (there are other files: 1 .png; upres reads .png ...)"."""
    opts = {**_sub_pair(tmp_path, monkeypatch), "type": kind}
    (tmp_path / "meta.txt").write_text(text)
    with pytest.raises(ConfigError) as caught:
        if kind == "pairedimagedataset":
            find_pairs(parse_dataset_options(opts))
        else:
            gather_paths(opts["dataroot_gt"], opts["meta_info"])
    assert str(caught.value) == (
        "meta_info: meta.txt holds no file name; give the GT file names, one a line, or remove meta_info to use "
        "every image of dataroot_gt"
    )
