"""Paired/single datasets: pairing, aligned crops, determinism, bad samples, option validation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from upres.data import DATASETS, build_dataset
from upres.data.bad_samples import TooManyBadSamples
from upres.data.options import parse_dataset_options
from upres.data.paired import find_pairs
from upres.data.resize import imresize
from upres.errors import ConfigError
from upres.io.images import write_image


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _nearest_pairs(root: Path, n: int = 4, scale: int = 2, lq_ext: str = ".png") -> tuple[Path, Path]:
    """GT made of scale x scale blocks, LR = one pixel per block: every aligned crop pair satisfies gt == up(lq)."""
    gt_dir, lq_dir = root / "gt", root / "lq"
    for i in range(n):
        lq = _photo(20 + i, 24, i)
        sub = "sub/" if i % 2 else ""
        write_image(gt_dir / f"{sub}img{i}.png", lq.repeat(scale, 0).repeat(scale, 1))
        write_image(lq_dir / f"{sub}img{i}{lq_ext}", lq, quality=100)
    return gt_dir, lq_dir


def _opts(**kw):
    base = {"type": "pairedimagedataset"}
    base.update(kw)
    return parse_dataset_options(base)


def test_pairs_by_relative_path_and_stem_and_crops_are_aligned(tmp_path):
    gt_dir, lq_dir = _nearest_pairs(tmp_path)
    ds = build_dataset(_opts(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), lq_size=8), scale=2, seed=1)
    assert len(ds) == 4
    for i in range(len(ds)):
        item = ds[i]
        assert Path(item["lq_path"]).relative_to(lq_dir) == Path(item["gt_path"]).relative_to(gt_dir)
        assert item["lq"].shape == (3, 8, 8) and item["gt"].shape == (3, 16, 16)
        assert item["lq"].dtype == torch.float32
        up = item["lq"].repeat_interleave(2, 1).repeat_interleave(2, 2)
        assert torch.equal(up, item["gt"])  # also after flips and rotations


def test_different_extensions_and_filename_tmpl(tmp_path):
    gt_dir = tmp_path / "gt"
    lq_dir = tmp_path / "lq"
    write_image(gt_dir / "a.png", _photo(16, 16, 0))
    write_image(lq_dir / "ax4.jpg", _photo(4, 4, 0))
    pairs = find_pairs(_opts(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), filename_tmpl="{}x4"))
    assert [(p.gt.name, p.lq.name) for p in pairs] == [("a.png", "ax4.jpg")]


def test_missing_partner_is_refused_with_names(tmp_path):
    gt_dir, lq_dir = _nearest_pairs(tmp_path)
    (lq_dir / "img0.png").unlink()
    with pytest.raises(ConfigError, match=r"no LR partner for 1 GT images .*\(img0.png\)"):
        find_pairs(_opts(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir)))


def test_meta_info_selects_files(tmp_path):
    gt_dir, lq_dir = _nearest_pairs(tmp_path)
    meta = tmp_path / "meta.txt"
    meta.write_text("sub/img1.png (42,48,3)\nimg2.png\n")
    pairs = find_pairs(_opts(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), meta_info=str(meta)))
    assert [p.gt.relative_to(gt_dir).as_posix() for p in pairs] == ["sub/img1.png", "img2.png"]


def test_bicubic_lr_equals_bicubic_of_gt_crop(tmp_path):
    write_image(tmp_path / "gt" / "a.png", _photo(50, 61, 3))
    ds = build_dataset(
        _opts(dataroot_gt=str(tmp_path / "gt"), lq_size=12, use_hflip=False, use_rot=False), scale=4, seed=5
    )
    item = ds[0]
    assert item["gt"].shape == (3, 48, 48)
    want = (imresize(item["gt"], 1 / 4).clamp(0, 1) * 255).round() / 255
    torch.testing.assert_close(item["lq"], want, atol=0, rtol=0)


def test_validation_without_lq_gives_mod_cropped_full_images(tmp_path):
    write_image(tmp_path / "gt" / "a.png", _photo(50, 61, 3))
    ds = build_dataset(_opts(dataroot_gt=str(tmp_path / "gt")), scale=4)
    item = ds[0]
    assert item["gt"].shape == (3, 48, 60) and item["lq"].shape == (3, 12, 15)


def test_same_seed_same_samples_whatever_the_worker_count(tmp_path):
    gt_dir, lq_dir = _nearest_pairs(tmp_path, n=6)
    opts = _opts(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), lq_size=6)
    ds = build_dataset(opts, 2, seed=11)
    one = [b["lq"] for b in DataLoader(ds, batch_size=2, num_workers=0)]
    two = [b["lq"] for b in DataLoader(build_dataset(opts, 2, seed=11), batch_size=2, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(one, two, strict=True))
    other = build_dataset(opts, 2, seed=12)
    assert not all(torch.equal(ds[i]["lq"], other[i]["lq"]) for i in range(6))
    # Epoch is part of the seed: (epoch, index) indexing and set_epoch agree, and epochs differ.
    ds.set_epoch(3)
    assert torch.equal(ds[2]["lq"], build_dataset(opts, 2, seed=11)[(3, 2)]["lq"])
    assert not all(torch.equal(ds[(3, i)]["lq"], ds[(4, i)]["lq"]) for i in range(6))


def test_corrupt_image_is_skipped_then_too_many_stop(tmp_path, caplog):
    gt_dir = tmp_path / "gt"
    for i in range(120):
        write_image(gt_dir / f"{i:03d}.png", _photo(16, 16, i))
    (gt_dir / "005.png").write_bytes(b"not a png")
    ds = build_dataset(_opts(dataroot_gt=str(gt_dir), lq_size=4), scale=2, seed=0)
    item = ds[5]
    assert not item["gt_path"].endswith("005.png")
    assert "005.png" in caplog.text
    (gt_dir / "006.png").write_bytes(b"")
    with pytest.raises(TooManyBadSamples, match=r"2 of 120 samples are bad[\s\S]*006.png"):
        ds[6]


def test_wrong_scale_pair_is_a_bad_sample(tmp_path):
    gt_dir, lq_dir = _nearest_pairs(tmp_path, n=1)
    ds = build_dataset(_opts(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir)), scale=4)
    with pytest.raises(TooManyBadSamples, match="not scale 4"):
        ds[0]


def test_option_errors_name_the_key_path():
    with pytest.raises(ConfigError) as err:
        parse_dataset_options({"type": "pairedimagedataset", "lq_size": 0, "use_flip": True}, "datasets.val")
    assert "datasets.val.lq_size: Input should be greater than 0" in str(err.value)
    assert "datasets.val.use_flip: Extra inputs are not permitted" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_dataset_options({"type": "pairedimagedataset", "dataroot_gt": 5})
    assert str(err.value) == (
        "datasets.train.dataroot_gt: expected a path; write it as text (in quotes for a name YAML reads as a "
        "number, e.g. '2024')"
    )
    with pytest.raises(ConfigError, match="io_backend.type"):
        parse_dataset_options({"type": "pairedimagedataset", "io_backend": {"type": "lmdb"}})
    with pytest.raises(ConfigError, match=r"gt_size 100 != lq_size 32 x scale 4"):
        _opts(gt_size=100, lq_size=32).crop_size(4)
    with pytest.raises(ConfigError, match=r"^gt_size 102 != lq_size 32 x scale 4; give only lq_size$"):
        _opts(gt_size=102, lq_size=32).crop_size(4)  # not "use lq_size instead", with lq_size set
    assert _opts(gt_size=128).crop_size(4) == 32
    with pytest.raises(ConfigError, match="unknown; use one of"):
        build_dataset(parse_dataset_options({"type": "nosuch"}), 4)
    assert set(DATASETS) >= {"pairedimagedataset", "singleimagedataset"}


def test_single_dataset(tmp_path):
    write_image(tmp_path / "a.png", _photo(7, 9, 0))
    ds = build_dataset(parse_dataset_options({"type": "SingleImageDataset", "dataroot_lq": str(tmp_path)}), 4)
    assert ds[0]["lq"].shape == (3, 7, 9) and ds[0]["lq_path"].endswith("a.png")


def test_color_y_gives_luma_of_the_rgb_item(tmp_path):
    from upres.data.read import rgb_to_y

    gt_dir, lq_dir = _nearest_pairs(tmp_path, n=1)
    rgb = build_dataset(_opts(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), lq_size=8), 2, seed=3)[0]
    y = build_dataset(
        _opts(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), lq_size=8, color="y"), 2, seed=3
    )[0]
    assert y["lq"].shape == (1, 8, 8) and y["gt"].shape == (1, 16, 16)
    torch.testing.assert_close(y["gt"], rgb_to_y(rgb["gt"]))


def test_training_sampler_resume_gives_the_same_batches(tmp_path):
    from upres.train.sampler import ResumableBatchSampler

    gt_dir, lq_dir = _nearest_pairs(tmp_path, n=6)
    ds = build_dataset(_opts(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), lq_size=6), 2, seed=4)
    full = [
        b["lq"]
        for b, _ in zip(
            DataLoader(ds, batch_sampler=ResumableBatchSampler(len(ds), 2, seed=4)), range(7), strict=False
        )
    ]
    # Resumed after five batches (into the second epoch), in worker processes this time.
    sampler = ResumableBatchSampler(len(ds), 2, seed=4, start=5)
    resumed = [
        b["lq"] for b, _ in zip(DataLoader(ds, batch_sampler=sampler, num_workers=2), range(2), strict=False)
    ]
    assert all(torch.equal(a, b) for a, b in zip(full[5:], resumed, strict=True))
    shards = [next(iter(ResumableBatchSampler(5, 2, seed=1, rank=r, world_size=2))) for r in range(2)]
    assert (
        len({i for s in shards for _, i in s}) == 4
    )  # the two ranks take disjoint halves of one global batch


def test_meta_info_names_may_hold_spaces_and_shapes_are_dropped(tmp_path):
    from upres.data.paired import read_meta_info

    gt_dir = tmp_path / "gt"
    write_image(gt_dir / "my photo 1.png", _photo(8, 8, 0))
    write_image(gt_dir / "sub" / "0002.png", _photo(8, 8, 1))
    meta = tmp_path / "meta.txt"
    meta.write_text("my photo 1.png (8,8,3)\n\nsub/0002.png\n  \n")
    assert read_meta_info(meta) == [(1, "my photo 1.png"), (3, "sub/0002.png")]
    pairs = find_pairs(_opts(dataroot_gt=str(gt_dir), meta_info=str(meta)))
    assert [p.gt.name for p in pairs] == ["my photo 1.png", "0002.png"]
    with pytest.raises(
        ConfigError, match=r"meta_info: cannot read .*missing.txt \(No such file or directory\)"
    ):
        find_pairs(_opts(dataroot_gt=str(gt_dir), meta_info=str(tmp_path / "missing.txt")))


def test_linked_folders_are_followed_once_and_a_loop_ends(tmp_path):
    """A dataset assembled from links: training, doctor, eval and upscale silently left linked folders out."""
    from upres.io.image_files import list_images

    root = tmp_path / "hr"
    write_image(root / "a.png", _photo(8, 8, 0))
    write_image(tmp_path / "elsewhere" / "e.png", _photo(8, 8, 1))
    (root / "ext").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "ext_again").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # the same folder twice
    (root / "up").symlink_to(root, target_is_directory=True)  # a loop
    assert [p.relative_to(root).as_posix() for p in list_images(root)] == ["a.png", "ext/e.png"]


def test_a_broken_link_is_a_missing_image_not_a_smaller_set(tmp_path, capsys):
    """A link into an unmounted drive was left out without a word: doctor said OK, eval averaged the rest as if
    the set were whole."""
    from upres.cli import main
    from upres.io.image_files import list_images
    from upres.io.images import ImageReadError, read_image

    root = tmp_path / "hr"
    for i in range(2):
        write_image(root / f"{i}.png", _photo(16, 16, i))
    (root / "gone.png").symlink_to(tmp_path / "unmounted" / "c.png")
    said = f"{root / 'gone.png'}: a link to {tmp_path / 'unmounted' / 'c.png'}, which cannot be reached"
    assert [p.name for p in list_images(root)] == ["0.png", "1.png", "gone.png"]
    with pytest.raises(ImageReadError, match=re.escape(said)):
        read_image(root / "gone.png")
    assert main(["doctor", str(root), "-s", "2", "--no-cache"]) == 1
    assert said in capsys.readouterr().out
    assert main(["eval", "--bicubic", str(root), "--scale", "2"]) == 1
    captured = capsys.readouterr()
    assert said in captured.out + captured.err


def test_hidden_files_and_macos_zip_leftovers_are_not_images(tmp_path):
    from upres.io.image_files import list_images

    write_image(tmp_path / "a.png", _photo(8, 8, 0))
    write_image(tmp_path / "sub" / "b.png", _photo(8, 8, 1))
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS resource fork, not a PNG
    write_image(tmp_path / "__MACOSX" / "c.png", _photo(8, 8, 2))
    write_image(tmp_path / ".thumbnails" / "d.png", _photo(8, 8, 3))
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.png", "sub/b.png"]
    assert list_images(tmp_path / "._a.png") == [tmp_path / "._a.png"]  # named explicitly: taken as given


def _refuse_listing(monkeypatch, locked: Path) -> None:
    """A folder without read permission (chmod 000 does not stop root, who runs CI): os.walk lists through
    os.scandir, which fails for it as the system would."""
    import os

    real = os.scandir

    def scandir(path="."):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_a_folder_that_cannot_be_listed_is_an_error_not_a_smaller_dataset(tmp_path, monkeypatch, capsys):
    """os.walk skipped it without a word: a training set lost the images of a sub-folder the user cannot read."""
    from upres.cli import main
    from upres.errors import UpresError
    from upres.io.image_files import list_images

    write_image(tmp_path / "hr" / "a.png", _photo(8, 8, 0))
    write_image(tmp_path / "hr" / "locked" / "b.png", _photo(8, 8, 1))
    _refuse_listing(monkeypatch, tmp_path / "hr" / "locked")
    said = (
        f"{tmp_path / 'hr' / 'locked'}: cannot read this folder (Permission denied); its images would be left out: "
        f"make it readable, or move it out of {tmp_path / 'hr'}"
    )
    with pytest.raises(UpresError) as exc:
        list_images(tmp_path / "hr")
    assert str(exc.value) == said
    unreadable: list = []
    assert list_images(tmp_path / "hr", unreadable) == [tmp_path / "hr" / "a.png"]
    assert unreadable == [(tmp_path / "hr" / "locked", "Permission denied")]
    assert main(["doctor", str(tmp_path / "hr"), "--no-cache"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {said}"


@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""), ("latin-1", b""), ("utf-8", b"")]
)
def test_meta_info_in_the_encodings_editors_save(tmp_path, encoding, bom):
    """A Latin-1 or UTF-16 (Notepad's "Unicode") list ended doctor and training in a UnicodeDecodeError traceback;
    Notepad's UTF-8 byte-order mark became part of the first name."""
    import os

    from upres.errors import ConfigError

    gt_dir = tmp_path / "gt"
    names = ["0001.png", "café.png"]
    # on disk as the encoding's bytes: a Latin-1 name is not UTF-8, and Python holds it as os.fsdecode gives it
    on_disk = [os.fsdecode(n.encode("latin-1" if encoding == "latin-1" else "utf-8")) for n in names]
    for i, name in enumerate(on_disk):
        write_image(gt_dir / name, _photo(8, 8, i))
    (tmp_path / "meta.txt").write_bytes(bom + "".join(f"{n} (8,8,3)\n" for n in names).encode(encoding))
    pairs = find_pairs(_opts(dataroot_gt=str(gt_dir), meta_info=str(tmp_path / "meta.txt")))
    assert [p.gt.name for p in pairs] == on_disk
    (tmp_path / "model.bin").write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(ConfigError, match=r"model.bin is not a text file \(it holds NUL bytes\)"):
        find_pairs(_opts(dataroot_gt=str(gt_dir), meta_info=str(tmp_path / "model.bin")))


def test_doctor_with_meta_info_does_not_call_unlisted_lr_files_orphans(tmp_path, capsys):
    from upres.data.doctor import check_folders

    gt, lq = _nearest_pairs(tmp_path, n=4)
    listed = sorted(p.name for p in gt.iterdir())[:2]
    (tmp_path / "meta.txt").write_text("".join(f"{n}\n" for n in listed))
    report = check_folders([gt], [lq], scale=2, meta_info=str(tmp_path / "meta.txt"))
    assert [f.kind for f in report.findings if f.kind == "missing_gt"] == []
    assert report.pairs == 2
