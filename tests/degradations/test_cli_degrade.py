from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from upres.cli import main


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    from skimage import data

    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(data.astronaut()[100:200, 180:300]).save(d / "astro.png")
    Image.fromarray(data.camera()[:64, :64]).save(d / "cam.png")
    return d


def write_options(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "opt.yml"
    p.write_text(text)
    return p


TRAINING_FILE = """
name: otf_test
scale: 2
high_order_degradation: true
network_g: {type: compact}
train: {total_iter: 10}
datasets:
  train:
    type: realesrgandataset
    dataroot_gt: nowhere
    lq_size: 24
    kernel_list: [iso, aniso]
    kernel_prob: [0.5, 0.5]
jpeg_range: [50, 90]
"""


def test_writes_samples_and_contact_sheet(tmp_path, inputs, capsys):
    opt = write_options(tmp_path, TRAINING_FILE)
    out = tmp_path / "out"
    assert main(["degrade", "-c", str(opt), str(inputs), "-o", str(out), "--n", "3", "--seed", "5"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{s}_lr{i:02d}.png" for s in ("astro", "cam") for i in range(3)] + ["contact_sheet.png"]
    # crop = lq_size x scale = 48 from the file, LR = 24
    assert Image.open(out / "astro_lr00.png").size == (24, 24)
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    assert sheet.shape == (48 + 4 + 48, 4 * 48 + 3 * 4, 3)
    # the first cell is the HR centre crop itself
    hr = np.asarray(Image.open(inputs / "astro.png"))[26:74, 36:84]
    np.testing.assert_array_equal(sheet[:48, :48], hr)
    # the LR cells are the written LR files enlarged by pixel repetition
    lr0 = np.asarray(Image.open(out / "astro_lr00.png"))
    np.testing.assert_array_equal(sheet[:48, 52:100], lr0.repeat(2, 0).repeat(2, 1))
    assert "wrote 7 files" in capsys.readouterr().out


def test_same_seed_same_files_other_seed_differs(tmp_path, inputs):
    opt = write_options(tmp_path, "scale: 4\n")
    runs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert main(["degrade", "-c", str(opt), str(inputs / "cam.png"), "-o", str(tmp_path / name),
                     "--n", "2", "--seed", str(seed), "--crop", "0"]) == 0  # fmt: skip
        runs.append(np.asarray(Image.open(tmp_path / name / "cam_lr01.png")))
    assert runs[0].shape == (16, 16, 3)
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_bad_option_value_is_one_line_naming_the_key(tmp_path, inputs, capsys):
    opt = write_options(tmp_path, "scale: 4\nresize_range: [1.5, 0.15]\n")
    assert main(["degrade", "-c", str(opt), str(inputs), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {opt}: resize_range: range [1.5, 0.15] is backwards; write it as [0.15, 1.5]\n"


def test_missing_input_gives_exit_1_but_writes_the_rest(tmp_path, inputs, capsys):
    opt = write_options(tmp_path, "scale: 2\n")
    code = main(["degrade", "-c", str(opt), str(inputs / "cam.png"), str(tmp_path / "nope.png"),
                 "-o", str(tmp_path / "o"), "--n", "1"])  # fmt: skip
    assert code == 1
    assert (tmp_path / "o" / "cam_lr00.png").is_file()
    assert f"error: {tmp_path / 'nope.png'}: no such file or folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just\n- a list\n", "expected a mapping of option keys at the top level"),
        ("scale: [4\n", "not valid YAML"),
        ("scale: four\n", "scale: must be a positive integer, got 'four'"),
        ("datasets: {train: {sinc_prob: 0.5}}\nsinc_prob: 0.1\n",
         "`sinc_prob` is set both at the top level (0.1) and in the dataset (0.5)"),
        # these ended in tracebacks (repeat_interleave, int())
        ("scale: true\n", "scale: must be a positive integer, got True"),
        ("scale: 2\ndatasets: {train: {lq_size: abc}}\n", "datasets.train.lq_size: must be a positive integer"),
        ("scale: 2\ndatasets: {train: {lq_size: -4}}\n", "datasets.train.lq_size: must be a positive integer"),
    ],
)  # fmt: skip
def test_unusable_option_files_are_refused(tmp_path, inputs, capsys, text, message):
    opt = write_options(tmp_path, text)
    assert main(["degrade", "-c", str(opt), str(inputs), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {opt}: {message}") and err.count("\n") == 1


def test_inputs_of_one_stem_are_refused_before_anything_is_written(tmp_path, inputs, capsys):
    """a/pic.png and b/pic.jpg both wrote pic_lr00.png...: the second replaced the first's samples."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "cam.jpg").write_bytes((inputs / "astro.png").read_bytes())
    opt = write_options(tmp_path, "scale: 2\n")
    assert (
        main(["degrade", "-c", str(opt), str(inputs), str(other), "-o", str(tmp_path / "o"), "--n", "1"]) == 2
    )
    assert capsys.readouterr().err == (
        f"error: {inputs / 'cam.png'} and {other / 'cam.jpg'} would both be written as cam_lrNN.png; rename one\n"
    )
    assert not (tmp_path / "o").exists()


def test_inputs_whose_stems_differ_in_case_are_refused_on_a_disk_that_ignores_it(
    tmp_path, inputs, capsys, monkeypatch
):
    """Cam.png and cam.png onto a macOS or Windows disk: one name there, so the second's samples replaced the
    first's."""
    (inputs / "Cam.png").write_bytes((inputs / "astro.png").read_bytes())
    out = tmp_path / "o"
    monkeypatch.setattr("upres.data.degrade_preview.folds_case", lambda folder: folder == out)
    opt = write_options(tmp_path, "scale: 2\n")
    assert main(["degrade", "-c", str(opt), str(inputs), "-o", str(out), "--n", "1"]) == 2
    assert capsys.readouterr().err == (
        f"error: {inputs / 'Cam.png'} and {inputs / 'cam.png'} would both be written as cam_lrNN.png (this disk "
        "ignores the case of names); rename one\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("scale", ["0", "-2"])
def test_a_scale_below_one_is_refused(tmp_path, inputs, capsys, scale):
    """--scale -2 raised a traceback after writing a sample; --scale 0 was ignored for the file's scale."""
    opt = write_options(tmp_path, "scale: 2\n")
    # Refused by the argument parser, as every command's --scale is (tests/cli/test_flag_spelling.py).
    with pytest.raises(SystemExit) as stop:
        main(["degrade", "-c", str(opt), str(inputs), "-o", str(tmp_path / "o"), "--scale", scale])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"error: upres degrade: argument -s/--scale: '{scale}': must be a positive integer (see upres degrade --help)\n"
    )
    assert not (tmp_path / "o").exists()


def test_no_usable_input_leaves_no_output_folder(tmp_path, capsys):
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "dot.png")
    opt = write_options(tmp_path, "scale: 4\n")
    assert main(["degrade", "-c", str(opt), str(tmp_path / "dot.png"), "-o", str(tmp_path / "o")]) == 1
    assert "image 1x1 is smaller than the scale 4" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["blur", "resize", "noise", "jpeg", "video", "dither"])
def test_each_one_kind_example_of_the_docs_degrades(tmp_path, inputs, kind):
    """docs/examples/degrade_noise.yml relied on noise ranges whose defaults became redux's [0, 0]: its picture
    could no longer be made (every LR equal to the HR)."""
    from upres.io.images import read_image

    if kind == "video":
        pytest.importorskip("av", reason="the video degradation needs PyAV (upres[video])")

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / f"degrade_{kind}.yml"
    out = tmp_path / kind
    assert main(["degrade", "-c", str(example), str(inputs / "astro.png"), "-o", str(out), "--n", "2",
                 "--crop", "48", "--seed", "1"]) == 0  # fmt: skip
    hr = read_image(out / "contact_sheet.png")[:, :48].astype(int)
    for i in range(2):
        lr = read_image(out / f"astro_lr{i:02d}.png").astype(int)
        assert lr.shape == hr.shape and np.abs(lr - hr).mean() > 1, (kind, i)


def test_a_crop_smaller_than_the_scale_names_the_flag(tmp_path, inputs, capsys):
    """--crop 1 failed every image as 'smaller than the scale 2' (exit 1): the flag is what is wrong."""
    opt = write_options(tmp_path, "scale: 4\n")
    assert (
        main(
            ["degrade", "-c", str(opt), str(inputs), "-o", str(tmp_path / "o"), "--scale", "2", "--crop", "1"]
        )
        == 2
    )
    assert capsys.readouterr().err == (
        "error: --crop 1: smaller than the scale 2; give at least 2, or 0 for the whole image\n"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("lines", "made"),
    [("scale: 4\n", "the default crop (256 px)"), (None, "{opt}'s datasets.train crop (64 px)")],
)
def test_a_scale_larger_than_the_crop_it_was_not_given_names_the_scale(tmp_path, inputs, capsys, lines, made):
    """--scale 1000 without --crop said '--crop 256: smaller than the scale 1000', naming a flag never typed."""
    opt = write_options(tmp_path, lines or "scale: 4\ndatasets:\n  train:\n    lq_size: 16\n")
    code = main(["degrade", "-c", str(opt), str(inputs), "-o", str(tmp_path / "o"), "--scale", "1000"])
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: --scale 1000: larger than {made.format(opt=opt)}; give --crop 1000 or more, or --crop 0 for the "
        "whole image\n"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("where", ["top", "dataset"])
def test_a_misspelled_degradation_key_is_refused_not_previewed_at_its_default(
    tmp_path, inputs, capsys, where
):
    """`jpeg_rnage` was left out without a word: the samples showed the default range, exit 0, where `upres train`
    refuses the file."""
    text = TRAINING_FILE.replace("jpeg_range: [50, 90]", "jpeg_rnage: [50, 90]")
    if where == "dataset":
        text = TRAINING_FILE.replace(
            "    kernel_prob: [0.5, 0.5]", "    kernel_prob: [0.5, 0.5]\n    kernel_rnage: [7, 21]"
        )
    opt = write_options(tmp_path, text)
    assert main(["degrade", "-c", str(opt), str(inputs), "-o", str(tmp_path / "o")]) == 2
    key = (
        "jpeg_rnage' (did you mean 'jpeg_range'"
        if where == "top"
        else "datasets.train.kernel_rnage' (did you mean 'kernel_range'"
    )
    assert capsys.readouterr().err == f"error: {opt}: unknown degradation key '{key}?)\n"
    assert not (tmp_path / "o").exists()


def test_a_training_file_that_reads_its_lr_is_said_not_to_train_on_the_samples(tmp_path, inputs, capsys):
    """`degrade -c esrgan_x4_fidelity.yml` (pairedimagedataset: LR read from disk) showed the pipeline's defaults,
    exit 0, as if the file trained on them."""
    paired = TRAINING_FILE.replace("high_order_degradation: true\n", "").replace(
        "type: realesrgandataset", "type: PairedImageDataset"
    )
    opt = write_options(tmp_path, paired)
    assert (
        main(["degrade", "-c", str(opt), str(inputs / "cam.png"), "-o", str(tmp_path / "o"), "--n", "1"]) == 0
    )
    assert capsys.readouterr().err == (
        f"note: {opt}: datasets.train is pairedimagedataset, which reads its LR (dataroot_lq, or bicubic from the "
        "GT) and degrades nothing on the fly: these samples show the degradation settings, not what this file "
        "trains on (high_order_degradation: true makes it train on them)\n"
    )
    assert (tmp_path / "o" / "cam_lr00.png").is_file()
    for text in (TRAINING_FILE, paired.replace("PairedImageDataset", "realesrgandataset")):
        opt.write_text(text)
        assert (
            main(["degrade", "-c", str(opt), str(inputs / "cam.png"), "-o", str(tmp_path / "o"), "--n", "1"])
            == 0
        )
        assert capsys.readouterr().err == ""


def test_samples_of_an_earlier_run_left_in_the_folder_are_named(tmp_path, inputs, capsys):
    """A rerun with a smaller --n or fewer inputs left the earlier run's files beside the new ones without a word:
    browsing the folder mixed two pipelines. They are kept (the user's files) and named."""
    opt = write_options(tmp_path, "scale: 4\n")
    out = tmp_path / "out"
    assert main(["degrade", "-c", str(opt), str(inputs), "-o", str(out), "--n", "3", "--crop", "32"]) == 0
    assert "earlier run" not in capsys.readouterr().err
    assert (
        main(["degrade", "-c", str(opt), str(inputs / "cam.png"), "-o", str(out), "--n", "2", "--crop", "32"])
        == 0
    )
    assert capsys.readouterr().err.strip() == (
        f"note: {out} also holds 4 samples of an earlier run (astro_lr00.png, astro_lr01.png, astro_lr02.png ...), "
        "not on this contact sheet; delete them or use a new -o to see only this run's"
    )
    assert len(list(out.glob("*_lr*.png"))) == 6


def test_whole_numbers_written_as_floats_are_taken_as_training_takes_them(tmp_path, inputs, capsys):
    """`scale: 2.0` (a script's yaml.dump of a float) trains at x2 but `degrade -c` refused it."""
    opt = write_options(tmp_path, "scale: 2.0\ndatasets:\n  train:\n    lq_size: 8.0\n")
    out = tmp_path / "out"
    assert main(["degrade", "-c", str(opt), str(inputs / "cam.png"), "-o", str(out), "--n", "1"]) == 0
    assert Image.open(out / "cam_lr00.png").size == (8, 8)  # crop lq_size x scale = 16, LR 8
    opt = write_options(tmp_path, "scale: 2.5\n")
    assert main(["degrade", "-c", str(opt), str(inputs / "cam.png"), "-o", str(out)]) == 2
    assert "scale: must be a positive integer, got 2.5" in capsys.readouterr().err
