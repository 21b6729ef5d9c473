"""`upres doctor` finds each planted fault and passes a clean dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from upres.cli import main
from upres.data.doctor import check_folders
from upres.data.doctor_block import check_dataset
from upres.data.options import parse_dataset_options
from upres.io.images import write_image
from upres.train.sampler import ResumableBatchSampler


def _img(h, w, seed, c=3):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _clean(root, n=5, scale=2):
    for i in range(n):
        lq = _img(20, 24, i)
        write_image(root / "gt" / f"{i}.png", lq.repeat(scale, 0).repeat(scale, 1))
        write_image(root / "lq" / f"{i}.png", lq)
    return root / "gt", root / "lq"


def test_clean_dataset_passes(tmp_path, capsys):
    gt, lq = _clean(tmp_path)
    r = check_folders([gt], [lq], scale=2, lq_size=16, batch_size=2)
    assert r.ok and r.findings == []
    # as training counts them: whole steps (5 pairs in batches of 2 make 2 steps an epoch; the fifth waits)
    assert (r.images, r.pairs) == (10, 5)
    assert r.iterations_per_epoch == ResumableBatchSampler(5, 2, seed=0).steps_per_epoch == 2
    assert r.min_size == r.max_size == (48, 40)
    assert main(["doctor", str(gt), "--lq", str(lq), "-s", "2", "--lq-size", "16"]) == 0
    assert "OK: 0 errors, 0 warnings" in capsys.readouterr().out


def test_each_planted_fault_is_found(tmp_path, capsys):
    gt, lq = _clean(tmp_path, n=8)
    (gt / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # corrupt
    (lq / "1.png").unlink()  # missing LR partner
    write_image(lq / "orphan.png", _img(20, 24, 50))  # LR without GT
    write_image(lq / "2.png", _img(15, 24, 2))  # wrong ratio
    write_image(gt / "3.png", _img(41, 49, 3))  # off by one after mod-crop (LR 20x24 -> GT 40x48)
    write_image(gt / "4.png", _img(20, 20, 4).repeat(2, 0).repeat(2, 1))  # smaller than the crop
    write_image(lq / "4.png", _img(20, 20, 4))
    write_image(
        gt / "5.png", np.concatenate([_img(40, 48, 5), np.full((40, 48, 1), 255, np.uint8)], 2)
    )  # alpha
    write_image(gt / "6.png", _img(40, 48, 6, c=1))  # grayscale
    lq7 = _img(20, 24, 7)
    write_image(gt / "7.png", lq7.repeat(2, 0).repeat(2, 1))
    write_image(lq / "7.png", lq7)
    write_image(gt / "8.png", lq7.repeat(2, 0).repeat(2, 1))  # duplicate of 7
    write_image(lq / "8.png", lq7)
    r = check_folders([gt], [lq], scale=2, lq_size=22)
    kinds = {(f.severity, f.kind, f.path.rsplit("/", 1)[-1]) for f in r.findings}
    assert ("error", "unreadable", "0.png") in kinds
    assert ("error", "missing_lr", "1.png") in kinds
    assert ("warning", "missing_gt", "orphan.png") in kinds
    assert ("error", "scale_mismatch", "2.png") in kinds
    assert ("warning", "off_by_few", "3.png") in kinds
    assert ("error", "too_small", "4.png") in kinds
    assert any(k == ("warning", "mixed_alpha", "5.png") for k in kinds)
    assert any(k == ("warning", "mixed_grayscale", "6.png") for k in kinds)
    assert any(k[:2] == ("warning", "duplicate") and k[2] in ("7.png", "8.png") for k in kinds)
    assert not r.ok
    assert main(["doctor", str(gt), "--lq", str(lq), "-s", "2", "--lq-size", "22", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)[0]
    assert out["counts"]["unreadable"] == 1 and out["ok"] is False


def test_mixed_bit_depth_and_gt_only_crop(tmp_path):
    write_image(tmp_path / "a.png", _img(64, 64, 0))
    write_image(tmp_path / "b.png", (_img(64, 64, 1, c=1).astype(np.uint16) * 257))
    write_image(tmp_path / "c.png", _img(30, 64, 2))
    r = check_folders([tmp_path], scale=4, lq_size=8)
    kinds = {(f.kind, f.path.rsplit("/", 1)[-1]) for f in r.findings}
    assert ("mixed_bit_depth", "b.png") in kinds
    assert ("too_small", "c.png") in kinds  # 28 rows after mod-crop < 32


def test_config_file(tmp_path, capsys):
    gt, lq = _clean(tmp_path)
    opts = {
        "name": "x",
        "scale": 2,
        "network_g": {"type": "compact"},
        "datasets": {
            "train": {
                "type": "pairedimagedataset",
                "dataroot_gt": str(gt),
                "dataroot_lq": str(lq),
                "lq_size": 8,
                "batch_size_per_gpu": 5,
            },
            "val": {"type": "pairedimagedataset", "dataroot_gt": str(gt)},
        },
    }
    cfg = tmp_path / "opt.yml"
    cfg.write_text(yaml.safe_dump(opts))
    assert main(["doctor", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "datasets.train" in out and "iterations per epoch: 1 (batch 5)" in out and "datasets.val" in out
    r = check_dataset(parse_dataset_options(opts["datasets"]["train"]), 2)
    assert r.ok and r.pairs == 5
    opts["datasets"]["train"]["lq_size"] = -3
    cfg.write_text(yaml.safe_dump(opts))
    assert main(["doctor", "-c", str(cfg)]) == 2
    assert "datasets.train.lq_size: Input should be greater than 0" in capsys.readouterr().err
    # The whole file is validated as `upres train` would, before any image is decoded.
    opts["datasets"]["train"]["lq_size"] = 8
    opts["train"] = {"total_iter": "many"}
    cfg.write_text(yaml.safe_dump(opts))
    assert main(["doctor", "-c", str(cfg)]) == 2
    captured = capsys.readouterr()
    assert "train.total_iter: Input should be a valid integer" in captured.err
    assert "datasets.train" not in captured.out


def test_usage_errors(tmp_path, capsys):
    assert main(["doctor"]) == 2
    assert main(["doctor", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["scale: 0\ndatasets: {}\n", "- a\n"])
def test_bad_config(tmp_path, bad):
    cfg = tmp_path / "o.yml"
    cfg.write_text(bad)
    assert main(["doctor", "-c", str(cfg)]) == 2


def test_large_whole_decoded_images_get_a_hint_tiled_tiffs_do_not(tmp_path, capsys):
    from upres.io.tiff_regions import write_tiled_tiff

    # A smooth 1200x1000 photo stand-in (1.2 MP): large enough that decoding it whole for each crop costs time.
    yy, xx = np.mgrid[0:1000, 0:1200]
    big = np.stack([(xx // 5) % 256, (yy // 4) % 256, (xx + yy) % 256], -1).astype(np.uint8)
    write_image(tmp_path / "png" / "a.png", big)
    write_tiled_tiff(tmp_path / "tif" / "a.tif", big)
    r = check_folders(
        [tmp_path / "png"], scale=4, lq_size=32
    )  # 128 px crops: 73x fewer pixels than the image
    assert r.ok and r.findings == []
    assert r.hints == [
        "1 GT images are decoded whole for every 128x128 crop (73x the crop's pixels at the median): `upres prepare "
        "tiff` copies them to tiled TIFFs, which training reads crop by crop (docs/data.md#large-photos-read-only-the-crop in upres's source tree)"
    ]
    assert check_folders([tmp_path / "tif"], scale=4, lq_size=32).hints == []
    assert (
        check_folders([tmp_path / "png"], scale=4, lq_size=128).hints == []
    )  # 4.6x: decoding is not dominant
    assert main(["doctor", str(tmp_path / "png"), "-s", "4", "--lq-size", "32"]) == 0
    assert capsys.readouterr().out.count("hint: 1 GT images are decoded whole") == 1


def test_small_tiles_get_no_tiff_hint_however_small_the_crop(tmp_path):
    # `upres prepare chunk --size 256` then 64 px crops (lq_size 32, x2): 16x the crop's pixels, but a 256 px tile
    # decodes in about a millisecond, as fast as a crop from a tiled TIFF, so the hint would not pay.
    for i in range(3):
        write_image(tmp_path / "chunks" / f"c{i}.png", _img(256, 256, i))
    assert check_folders([tmp_path / "chunks"], scale=2, lq_size=32).hints == []
    assert check_folders([tmp_path / "chunks"], scale=4, lq_size=2).hints == []  # 8 px crops: 1024x


def test_otf_dataset_block_pads_small_images_and_reads_meta_info_across_roots(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_image(a / "big.png", _img(64, 64, 0))
    write_image(b / "small.png", _img(20, 64, 1))
    (b / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n nope")
    meta = tmp_path / "meta.txt"
    meta.write_text("big.png\nsmall.png\n")
    block = {
        "type": "realesrgandataset",
        "dataroot_gt": [str(a), str(b)],
        "meta_info": str(meta),
        "lq_size": 8,
    }
    r = check_dataset(parse_dataset_options(block), 4)
    assert r.images == 2 and r.ok  # the meta_info list only: broken.png is not part of the dataset
    (finding,) = r.findings
    assert (finding.severity, finding.kind) == (
        "warning",
        "too_small",
    ) and "padded to the crop" in finding.detail
    del block["meta_info"]
    r = check_dataset(parse_dataset_options(block), 4)
    assert not r.ok and [f.kind for f in r.errors] == ["unreadable"]


def test_otf_crop_larger_than_every_image_is_an_error(tmp_path):
    write_image(tmp_path / "a.png", _img(40, 50, 0))
    write_image(tmp_path / "b.png", _img(60, 30, 1))
    block = {"type": "realesrgandataset", "dataroot_gt": str(tmp_path), "lq_size": 16}  # 64 px GT crops
    r = check_dataset(parse_dataset_options(block), 4)
    assert [f.kind for f in r.errors] == ["crop_too_large"]
    assert "the 64x64 crop is larger than every image (largest 50x40)" in r.errors[0].detail
    write_image(tmp_path / "c.png", _img(64, 64, 2))  # one image fits: the small ones are padded, a warning
    r = check_dataset(parse_dataset_options(block), 4)
    assert r.ok and sorted(f.kind for f in r.warnings) == ["too_small", "too_small"]


def test_unchanged_files_are_not_decoded_again(tmp_path, monkeypatch, capsys):
    import os

    from upres.data import doctor, inspect_cache

    gt, lq = _clean(tmp_path / "set", n=3)
    decoded = []
    real = doctor.inspect_image
    monkeypatch.setattr(doctor, "inspect_image", lambda p: decoded.append(p.name) or real(p))
    first = check_folders([gt], [lq], scale=2, lq_size=16)
    assert len(decoded) == 6 and inspect_cache.cache_file().is_file()
    assert inspect_cache.cache_file().parent == Path(os.environ["UPRES_CACHE_DIR"])
    decoded.clear()
    again = check_folders([gt], [lq], scale=2, lq_size=16)
    assert decoded == [] and again.to_dict() == first.to_dict()
    (gt / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken now")  # changed file: decoded again, and found
    r = check_folders([gt], [lq], scale=2, lq_size=16)
    assert decoded == ["1.png"] and [f.kind for f in r.errors] == ["unreadable"]
    decoded.clear()
    assert main(["doctor", str(gt), "--lq", str(lq), "-s", "2", "--no-cache"]) == 1
    assert len(decoded) == 6
    inspect_cache.cache_file().write_text("{not json")  # a damaged cache is ignored, then rewritten
    decoded.clear()
    assert check_folders([gt], [lq], scale=2).to_dict()["counts"] == {"unreadable": 1}
    assert len(decoded) == 6 and isinstance(inspect_cache.load(), dict) and inspect_cache.load()


def test_a_file_rewritten_in_place_with_its_old_mtime_is_checked_again(tmp_path):
    """`cp -p` over an existing file, exiftran -p, an editor keeping times: same size, same inode, same mtime, other
    pixels. ctime cannot be set back, so the stale entry is not used."""
    import os
    import time

    from upres.data import inspect_cache

    target = tmp_path / "a.png"
    write_image(target, _img(32, 32, 0))
    assert [f.kind for f in check_folders([tmp_path], lq_size=16, scale=2).errors] == []
    before = target.stat()
    write_image(tmp_path / "small.png", _img(8, 8, 0))
    small = (tmp_path / "small.png").read_bytes()
    (tmp_path / "small.png").unlink()
    time.sleep(0.01)
    with open(target, "r+b") as f:  # in place: the inode stays
        f.write(small + b"\0" * (before.st_size - len(small)))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert inspect_cache.lookup(inspect_cache.load(), target) is None
    kinds = [f.kind for f in check_folders([tmp_path], lq_size=16, scale=2).findings]
    assert "too_small" in kinds


def test_cache_forgets_deleted_files(tmp_path):
    from upres.data import inspect_cache

    write_image(tmp_path / "a" / "x.png", _img(8, 8, 0))
    write_image(tmp_path / "b" / "y.png", _img(8, 8, 1))
    check_folders([tmp_path / "a"])
    (tmp_path / "a" / "x.png").unlink()
    check_folders([tmp_path / "b"])
    assert list(inspect_cache.load()) == [str((tmp_path / "b" / "y.png").resolve())]


def test_an_interrupted_check_keeps_what_it_learned(tmp_path, monkeypatch):
    from upres.data import doctor, inspect_cache

    for i in range(4):
        write_image(tmp_path / f"{i}.png", _img(8, 8, i))
    real = doctor.inspect_image

    def stop_at_third(path):
        if path.name == "2.png":
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(doctor, "inspect_image", stop_at_third)
    monkeypatch.setattr(doctor.os, "cpu_count", lambda: 1)  # one decoding thread: files in order
    with pytest.raises(KeyboardInterrupt):
        check_folders([tmp_path])
    assert sorted(Path(k).name for k in inspect_cache.load()) == ["0.png", "1.png"]


def test_failures_are_not_cached(tmp_path, monkeypatch):
    from upres.data import doctor

    write_image(tmp_path / "good.png", _img(8, 8, 0))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n nope")
    decoded = []
    real = doctor.inspect_image
    monkeypatch.setattr(doctor, "inspect_image", lambda p: decoded.append(p.name) or real(p))
    check_folders([tmp_path])
    check_folders([tmp_path])
    assert decoded == ["bad.png", "good.png", "bad.png"]  # the good file once, the failing one every time


def test_a_long_check_says_so_before_it_starts(tmp_path, monkeypatch, capsys):
    from upres.data import doctor

    monkeypatch.setattr(doctor, "ANNOUNCE_FROM", 2)
    gt, lq = _clean(tmp_path, n=2)
    assert main(["doctor", str(gt), "--lq", str(lq), "-s", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    assert (
        err.strip()
        == "checking 4 images (0 unchanged since an earlier check); each is decoded once, and later checks reuse the results"
    )
    json.loads(out)  # stdout stays pure JSON
    write_image(gt / "9.png", _img(40, 48, 9))
    write_image(lq / "9.png", _img(20, 24, 9))
    assert main(["doctor", str(gt), "--lq", str(lq), "-s", "2"]) == 0
    assert "checking 2 images (4 unchanged since an earlier check)" in capsys.readouterr().err


@pytest.mark.parametrize("block", ["train", "val"])
def test_a_missing_folder_names_its_block_in_doctor_and_training(tmp_path, capsys, block):
    hr = tmp_path / "hr"
    hr.mkdir()
    for n in range(4):
        write_image(hr / f"{n}.png", np.full((32, 32, 3), 40 * n, np.uint8))
    opts = {
        "name": "t",
        "scale": 2,
        "network_g": {"type": "compact", "num_feat": 4, "num_conv": 1},
        "path": {"experiments_root": str(tmp_path / "exp")},
        "datasets": {
            "train": {
                "type": "pairedimagedataset",
                "dataroot_gt": str(hr),
                "lq_size": 8,
                "batch_size_per_gpu": 2,
            },
            "val": {"type": "pairedimagedataset", "dataroot_gt": str(hr)},
        },
        "val": {
            "val_enabled": True,
            "val_freq": 5,
        },  # training reads datasets.val only while validation is on
    }
    opts["datasets"][block]["dataroot_gt"] = str(tmp_path / "gone")
    cfg = tmp_path / "o.yml"
    cfg.write_text(yaml.safe_dump(opts))
    expected = f"datasets.{block}.dataroot_gt: no such folder {tmp_path / 'gone'}"
    assert main(["doctor", "-c", str(cfg)]) == 2
    assert expected in capsys.readouterr().err
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    assert expected in capsys.readouterr().err


def test_the_pixel_limit_of_the_other_commands_is_set_by_the_environment(tmp_path):
    """Only upscale has --max-pixels; the others named that flag in their refusal and had no way to lift it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    from upres.io.images import write_image

    write_image(tmp_path / "d" / "a.png", np.zeros((30, 40, 3), np.uint8))
    src = Path(__file__).resolve().parents[2] / "src"

    def doctor(limit: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(src), "UPRES_MAX_PIXELS": limit}
        cmd = [sys.executable, "-m", "upres", "doctor", str(tmp_path / "d"), "--no-cache"]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    refused = doctor("1000")
    assert refused.returncode == 1
    assert "40x30 exceeds the pixel limit 1000; raise --max-pixels (upscale) or the environment variable" in (
        refused.stdout
    )
    assert doctor("0").returncode == 0 and doctor("1200").returncode == 0
    bad = doctor("many")
    assert bad.returncode == 2 and "UPRES_MAX_PIXELS='many': must be a whole number of pixels" in bad.stderr


def test_iterations_per_epoch_count_gradient_accumulation_and_a_too_small_set_is_an_error(tmp_path):
    """The doctor said 3 iterations an epoch where training (batch 2 x accum_iter 2 over 5 samples) ran 1."""
    gt, lq = _clean(tmp_path)
    r = check_folders([gt], [lq], scale=2, lq_size=16, batch_size=2, accum_iter=2)
    assert (
        r.ok and r.iterations_per_epoch == ResumableBatchSampler(5, 2, seed=0, accum=2).steps_per_epoch == 1
    )
    r = check_folders([gt], [lq], scale=2, lq_size=16, batch_size=8)
    assert not r.ok and [f.kind for f in r.errors] == ["fewer_than_a_step"]
    assert (
        r.errors[0].detail
        == "5 sample(s), fewer than one step's batch 8 x accum_iter 1; lower the batch size or add images"
    )


def test_an_unreadable_file_is_named_once(tmp_path, capsys):
    """The line read 'x/bad.png: x/bad.png: cannot read image ...' (and the JSON detail repeated the path)."""
    import json

    from upres.cli import main

    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "bad.png").write_text("junk")
    assert main(["doctor", str(folder), "--no-cache", "--json"]) == 1
    finding = json.loads(capsys.readouterr().out)[0]["findings"][0]
    assert finding["path"] == str(folder / "bad.png")
    assert finding["detail"].startswith("cannot read image (")


def test_odd_file_names_keep_findings_on_one_line_and_json_strict(tmp_path, capsys):
    """A newline in a name split a finding over two lines; a name that is not UTF-8 went into --json as a lone
    surrogate, which jq and other strict readers refuse."""
    import json
    import os

    gt = tmp_path / "gt"
    write_image(gt / "ok.png", np.full((16, 16, 3), 90, np.uint8))
    (gt / "new\nline.png").write_bytes(b"")
    (gt / os.fsdecode(b"bad\xffname.png")).write_bytes(b"")
    assert main(["doctor", str(gt), "-s", "2", "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert f"     {gt}/new\\nline.png: " in out and "\nline.png" not in out
    assert main(["doctor", str(gt), "-s", "2", "--no-cache", "--json"]) == 1
    text = capsys.readouterr().out
    text.encode("utf-8")  # no lone surrogate left
    paths = {f["path"] for f in json.loads(text)[0]["findings"]}
    assert f"{gt}/bad\\xffname.png" in paths and f"{gt}/new\nline.png" in paths


def test_a_pair_whose_exif_orientations_differ_is_named(tmp_path, capsys):
    """A phone's JPEG (stored sideways, tag 6) beside an LR made from its stored pixels: read upright, the GT is
    rotated against its LR. A square pair passed without a finding; another named only a wrong ratio."""
    from PIL import Image

    from upres.data.doctor import check_folders

    rng = np.random.default_rng(0)
    for name, (h, w) in (("square", (64, 64)), ("wide", (48, 64))):
        stored = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        exif = stored.getexif()
        exif[0x0112] = 6
        (tmp_path / "hr").mkdir(exist_ok=True)
        stored.save(tmp_path / "hr" / f"{name}.jpg", exif=exif, quality=95)
        write_image(
            tmp_path / "lr" / f"{name}.png", np.asarray(stored.resize((w // 4, h // 4), Image.BICUBIC))
        )
    report = check_folders([tmp_path / "hr"], [tmp_path / "lr"], scale=4, use_cache=False)
    turned = {Path(f.path).name: f for f in report.findings if f.kind == "exif_orientation"}
    assert set(turned) == {"square.jpg", "wide.jpg"}
    assert turned["square.jpg"].severity == "warning"
    assert turned["square.jpg"].detail.startswith(
        f"EXIF orientation 6 but its LR {tmp_path / 'lr' / 'square.png'} has 1: each is turned upright by its own tag"
    )
    (mismatch,) = [f for f in report.findings if f.kind == "scale_mismatch"]
    assert (
        "GT 48x64, LR 16x12" in mismatch.detail
        and "(EXIF orientation 6 and 1: see exif_orientation)" in mismatch.detail
    )


def _div2k_layout(root):
    """DIV2K's names: HR/0001.png beside LR_bicubic/X4/0001x4.png."""
    for i in range(3):
        lq = _img(8, 8, i)
        write_image(root / "hr" / f"000{i}.png", lq.repeat(4, 0).repeat(4, 1))
        write_image(root / "lr" / f"000{i}x4.png", lq)
    return root / "hr", root / "lr"


def test_lr_names_of_another_template_are_said_with_the_filename_tmpl_that_pairs_them(tmp_path, capsys):
    """DIV2K's LR folder (0001x4.png) gave 'no LR partner' for every GT and no word of filename_tmpl, and the
    doctor command had no way to give it."""
    hr, lr = _div2k_layout(tmp_path)
    assert main(["doctor", str(hr), "--lq", str(lr), "-s", "4", "--no-cache"]) == 1
    assert (
        f"   hint: the LR files of {lr} are named as filename_tmpl '{{}}x4' gives, not '{{}}': set filename_tmpl: "
        "'{}x4' in the dataset's options (upres doctor: --filename-tmpl '{}x4')\n"
    ) in capsys.readouterr().out
    assert main(["doctor", str(hr), "--lq", str(lr), "-s", "4", "--no-cache", "--filename-tmpl", "{}x4"]) == 0
    assert "OK: 0 errors, 0 warnings" in capsys.readouterr().out
    assert main(["doctor", str(hr), "--lq", str(lr), "-s", "4", "--filename-tmpl", "x4"]) == 2
    assert "error: --filename-tmpl 'x4': must contain exactly one '{}'" in capsys.readouterr().err
    # one odd name among pairs that match is no template: it would unpair the others
    for i in (0, 1):
        (lr / f"000{i}x4.png").rename(lr / f"000{i}.png")
    assert main(["doctor", str(hr), "--lq", str(lr), "-s", "4", "--no-cache"]) == 1
    assert "hint" not in capsys.readouterr().out


def test_training_names_the_filename_tmpl_that_pairs_the_lr_files(tmp_path):
    from upres.data.options import DatasetOptions
    from upres.data.paired import find_pairs
    from upres.errors import ConfigError

    hr, lr = _div2k_layout(tmp_path)
    opts = DatasetOptions(type="pairedimagedataset", dataroot_gt=str(hr), dataroot_lq=str(lr))
    with pytest.raises(ConfigError) as err:
        find_pairs(opts)
    assert "its LR names follow filename_tmpl: '{}x4' (set it in this dataset); `upres doctor` lists" in str(
        err.value
    )
    assert len(find_pairs(opts.model_copy(update={"filename_tmpl": "{}x4"}))) == 3


def test_lq_size_without_scale_is_refused_not_left_unchecked(tmp_path, capsys):
    """`doctor hr/ --lq-size 64` left the crop check out (no scale) and said OK for images that every x4 crop
    refuses; now it asks for --scale, as --lq does."""
    write_image(tmp_path / "gt" / "a.png", _img(100, 100, 0))
    assert main(["doctor", str(tmp_path / "gt"), "--lq-size", "64", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "error: --lq-size 64 needs --scale: the GT crop it checks is lq_size x scale" in err
    assert main(["doctor", str(tmp_path / "gt"), "--lq-size", "64", "-s", "4", "--no-cache"]) == 1
    assert "GT 100x100 is smaller than the crop 256" in capsys.readouterr().out


def test_an_lr_that_prepare_lr_made_from_a_phone_photo_is_not_warned_about(tmp_path, capsys):
    """`upres prepare lr` writes the LR of a tagged photo upright, with no tag: doctor warned on every such pair
    (exif_orientation, at each training start too), though its size shows it was not made from the stored pixels."""
    from PIL import Image

    rng = np.random.default_rng(0)
    stored = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    exif = stored.getexif()
    exif[0x0112] = 6
    (tmp_path / "hr").mkdir()
    stored.save(tmp_path / "hr" / "phone.jpg", exif=exif, quality=95)
    assert (
        main(["prepare", "lr", str(tmp_path / "hr"), "-o", str(tmp_path / "lr"), "-s", "4", "-j", "1"]) == 0
    )
    capsys.readouterr()
    assert main(["doctor", str(tmp_path / "hr"), "--lq", str(tmp_path / "lr"), "-s", "4", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "OK: 0 errors, 0 warnings" in out and "exif_orientation" not in out


def test_pages_after_the_first_are_named_not_dropped_silently(tmp_path):
    from PIL import Image

    from upres.data.doctor import check_folders

    rng = np.random.default_rng(1)
    pages = [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(3)]
    (tmp_path / "hr").mkdir()
    pages[0].save(tmp_path / "hr" / "scan.tif", save_all=True, append_images=pages[1:])
    write_image(tmp_path / "hr" / "one.png", np.asarray(pages[0]))
    report = check_folders([tmp_path / "hr"], scale=2, use_cache=False)
    assert [(Path(f.path).name, f.detail) for f in report.findings if f.kind == "multi_frame"] == [
        ("scan.tif", "3 pages or frames: only the first is read")
    ]


def test_a_damaged_exif_block_does_not_print_pillow_s_warning(tmp_path):
    import io
    import subprocess
    import sys

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(buf, "JPEG")
    app1 = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + b"\xff" * 40  # an IFD that claims more than there is
    data = buf.getvalue()
    (tmp_path / "hr").mkdir()
    (tmp_path / "hr" / "bad_exif.jpg").write_bytes(
        data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "upres", "doctor", str(tmp_path / "hr"), "-s", "2", "--no-cache"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "UserWarning" not in proc.stderr and "EXIF" not in proc.stderr
