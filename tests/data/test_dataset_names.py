"""File names in datasets as users' disks hold them: the Unicode forms macOS and other systems write."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import yaml

from upres.cli import main
from upres.data.doctor import check_folders
from upres.data.options import parse_dataset_options
from upres.data.paired import find_pairs
from upres.errors import ConfigError
from upres.io.images import write_image


def _write(path, h: int, w: int) -> None:
    write_image(path, np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_lr_and_gt_pair_whatever_unicode_form_their_names_have(tmp_path):
    """A GT folder copied from a Mac (names decomposed, NFD) and LR made on Linux (NFC): "café.png" had "no LR
    partner" though both folders list it with the same letters, and training stopped."""
    nfd, nfc = (unicodedata.normalize(form, "café") for form in ("NFD", "NFC"))
    assert nfd != nfc
    gt, lq = tmp_path / "gt" / nfd / f"{nfd}.png", tmp_path / "lq" / nfc / f"{nfc}.png"
    _write(gt, 16, 16)
    _write(lq, 8, 8)
    opts = parse_dataset_options(
        {
            "type": "pairedimagedataset",
            "dataroot_gt": str(tmp_path / "gt"),
            "dataroot_lq": str(tmp_path / "lq"),
        }
    )
    assert [(p.gt, p.lq) for p in find_pairs(opts)] == [(gt, lq)]
    report = check_folders([tmp_path / "gt"], [tmp_path / "lq"], scale=2, use_cache=False)
    assert [f.kind for f in report.findings] == [] and report.pairs == 1


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("pairedimagedataset", "dataroot_gt"),
        ("pairedimagedataset", "dataroot_lq"),
        ("realesrgandataset", "dataroot_gt"),
    ],
)
def test_an_image_given_where_a_folder_goes_is_called_a_file(tmp_path, capsys, kind, key):
    """`dataroot_gt: hr/0001.png` was "no such folder hr/0001.png": the user could see the file was there."""
    _write(tmp_path / "hr" / "a.png", 16, 16)
    roots = {"dataroot_gt": str(tmp_path / "hr"), key: str(tmp_path / "hr" / "a.png")}
    options = {"name": "x", "scale": 2, "network_g": {"type": "compact"}}
    options["datasets"] = {"train": {"type": kind, "lq_size": 4, **roots}}
    path = tmp_path / "o.yml"
    path.write_text(yaml.safe_dump(options))
    assert main(["train", "-c", str(path), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: datasets.train.{key}: {tmp_path / 'hr' / 'a.png'} is a file, not a folder; give the folder that "
        "holds the images"
    )


@pytest.mark.parametrize("kind", ["pairedimagedataset", "realesrgandataset"])
def test_a_meta_info_list_finds_files_whatever_unicode_form_their_names_have(tmp_path, kind):
    """A meta_info list written on Linux (NFC) for files copied from a Mac (NFD): "listed files are not in"."""
    nfd, nfc = (unicodedata.normalize(form, "café.png") for form in ("NFD", "NFC"))
    _write(tmp_path / "gt" / nfd, 16, 16)
    _write(tmp_path / "gt" / "b.png", 16, 16)
    (tmp_path / "meta.txt").write_text(f"{nfc}\nb.png\n", encoding="utf-8")
    opts = {"type": kind, "dataroot_gt": str(tmp_path / "gt"), "meta_info": str(tmp_path / "meta.txt")}
    if kind == "pairedimagedataset":
        found = [p.gt for p in find_pairs(parse_dataset_options(opts))]
    else:
        from upres.data.otf_dataset import gather_paths

        found = gather_paths(opts["dataroot_gt"], opts["meta_info"])
    assert found == [tmp_path / "gt" / nfd, tmp_path / "gt" / "b.png"]


def test_on_a_disk_that_ignores_case_lr_pairs_with_a_gt_of_another_case(tmp_path, monkeypatch):
    """GT `IMG_1.png` and LR `img_1.png` on Windows or macOS are one name to the user (and to BasicSR, which opens
    the GT's name in the LR folder): upres said "no LR partner". On Linux they stay two names."""
    _write(tmp_path / "gt" / "IMG_1.png", 16, 16)
    _write(tmp_path / "lq" / "img_1.png", 8, 8)
    opts = parse_dataset_options(
        {
            "type": "pairedimagedataset",
            "dataroot_gt": str(tmp_path / "gt"),
            "dataroot_lq": str(tmp_path / "lq"),
        }
    )
    monkeypatch.setattr("upres.data.paired.folds_case", lambda folder: True, raising=False)
    assert [(p.gt.name, p.lq.name) for p in find_pairs(opts)] == [("IMG_1.png", "img_1.png")]
    monkeypatch.setattr("upres.data.paired.folds_case", lambda folder: False)
    with pytest.raises(ConfigError, match=r"no LR partner for 1 GT images"):
        find_pairs(opts)


def test_two_gts_with_one_stem_are_named_not_one_of_them_said_to_lack_its_lr(tmp_path):
    """GT a.png and a.jpg beside LR a.png: "a.png: no LR partner", though a.png was right there, taken by a.jpg."""
    _write(tmp_path / "gt" / "a.png", 16, 16)
    _write(tmp_path / "gt" / "a.jpg", 16, 16)
    _write(tmp_path / "lq" / "a.png", 8, 8)
    opts = {
        "type": "pairedimagedataset",
        "dataroot_gt": str(tmp_path / "gt"),
        "dataroot_lq": str(tmp_path / "lq"),
    }
    with pytest.raises(ConfigError) as caught:
        find_pairs(parse_dataset_options(opts))
    assert str(caught.value) == (
        f"dataroot_gt {tmp_path / 'gt'}: a.jpg and a.png have the same stem, so one LR file would be the partner of "
        "both (pairs are matched by stem); keep one"
    )
    # Without LR files each GT is its own sample, whatever its stem.
    del opts["dataroot_lq"]
    assert len(find_pairs(parse_dataset_options(opts))) == 2
