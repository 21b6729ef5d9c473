"""Out-of-range numbers on the command line stop at parse time, naming the flag; nothing is written."""

from __future__ import annotations

import pytest

from upres.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "--bicubic", "D", "--scale", "0"], "argument -s/--scale: '0': must be a positive integer"),
        (
            ["eval", "--bicubic", "D", "--scale", "4", "--tile", "-1"],
            "argument --tile: '-1': cannot be negative",
        ),
        (["doctor", "D", "--scale", "0"], "argument -s/--scale: '0': must be a positive integer"),
        (["doctor", "D", "--lq-size", "-3"], "argument --lq-size: '-3': must be a positive integer"),
        (["doctor", "D", "--batch-size", "x"], "argument --batch-size: 'x' is not an integer"),
        (
            ["prepare", "lr", "D", "-o", "O", "--scale", "0"],
            "argument -s/--scale: '0': must be a positive integer",
        ),
        (
            ["prepare", "chunk", "D", "-o", "O", "--size", "0"],
            "argument --size: '0': must be a positive integer",
        ),
        (
            ["prepare", "chunk", "D", "-o", "O", "--min-size", "-1"],
            "argument --min-size: '-1': cannot be negative",
        ),
        (
            ["prepare", "tiff", "D", "-o", "O", "-j", "0"],
            "argument -j/--workers: '0': must be a positive integer",
        ),
        (["degrade", "-c", "C", "I", "-o", "O", "--n", "0"], "argument --n: '0': must be a positive integer"),
        (["degrade", "-c", "C", "I", "-o", "O", "--crop", "-2"], "argument --crop: '-2': cannot be negative"),
        (
            ["video", "-m", "M", "I", "-o", "O", "--batch", "0"],
            "argument --batch: '0': must be a positive integer",
        ),
        (["video", "-m", "M", "I", "-o", "O", "--crf", "-1"], "argument --crf: '-1': cannot be negative"),
    ],
)
def test_bad_numbers_stop_at_parse_time(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_crf_outside_the_encoders_range_is_refused_before_any_work(tmp_path, capsys):
    argv = ["video", "-m", "missing.pth", "missing.mp4", "-o", str(tmp_path / "o.mp4"), "--crf", "60"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == "error: --crf 60: libx264 takes 0-51 (lower is better quality)"
    pytest.importorskip("av", reason="what comes after the flags' checks needs PyAV (upres[video])")
    assert main([*argv, "--codec", "libsvtav1"]) == 2  # 60 is fine for SVT-AV1: the next problem is the input
    assert "missing.mp4" in capsys.readouterr().err


def test_an_unknown_x264_preset_is_refused_before_any_work(tmp_path, capsys):
    """The encoder's own refusal came at the first frame, as avcodec_open2's errno 22."""
    argv = ["video", "-m", "missing.pth", "missing.mp4", "-o", str(tmp_path / "o.mp4"), "--preset", "turbo"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --preset turbo: libx264 takes ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, "
        "veryslow, placebo"
    )
    pytest.importorskip("av", reason="what comes after the flags' checks needs PyAV (upres[video])")
    assert main([*argv[:-1], "veryslow"]) == 2  # a real preset: the next problem is the input
    assert "missing.mp4" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, line",
    [
        (["video", "-m", "M", "I", "-o", "O", "--batch", "0"],
         "error: upres video: argument --batch: '0': must be a positive integer (see upres video --help)"),
        (["upscale"], "error: upres upscale: the following arguments are required: -m/--model, INPUT, -o/--output "
                      "(see upres upscale --help)"),
        (["frobnicate"], "error: upres: argument COMMAND: invalid choice: 'frobnicate'"),
    ],
)  # fmt: skip
def test_a_usage_error_is_one_line_that_says_where_the_options_are(tmp_path, monkeypatch, capsys, argv, line):
    """argparse printed the command's whole usage (9 lines for `upres video`) before the error."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(line)


@pytest.mark.parametrize("flag, value", [("--preset", "veryslow"), ("--crf", "20")])
def test_a_rate_flag_an_encoder_may_not_have_is_named_in_a_warning(tmp_path, capsys, flag, value):
    """--crf on FFV1 warned that it may be ignored; --preset was ignored without a word."""
    argv = ["video", "-m", "missing.pth", "missing.mp4", "-o", str(tmp_path / "o.mkv"), "--codec", "ffv1"]
    main([*argv, flag, value])
    err = capsys.readouterr().err
    assert (
        f"warning: {flag} is passed to ffv1 as its '{flag[2:]}' option; an encoder without one ignores it"
        in err
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["upscale", "-m", "M", "IN", "-o", ""],
        ["video", "-m", "M", "IN", "-o", ""],
        ["degrade", "-c", "C", "IN", "-o", ""],
        ["prepare", "lr", "IN", "-o", ""],
        ["interp", "A", "B", "-o", ""],
        ["test", "-c", "C", "-o", ""],
    ],
)
def test_an_empty_output_path_is_refused_not_taken_as_the_current_folder(tmp_path, monkeypatch, capsys, argv):
    """`-o "$OUT"` with OUT unset: upscale wrote its results into the current folder (exit 0)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "argument -o/--output: empty path; give the output's name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
