"""A file whose name starts with "-" on the command line."""

from __future__ import annotations

import pytest

from upres.cli import main


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["upscale", "-m", "m.pth", "-dash.png", "-o", "out"],
            "upres upscale: the following arguments are required: INPUT",
        ),
        (
            ["upscale", "-m", "m.pth", "a.png", "-dash.png", "-o", "out"],
            "upres upscale: unrecognized arguments: -dash.png",
        ),
    ],
)
def test_a_name_starting_with_a_dash_is_explained(tmp_path, monkeypatch, capsys, argv, said):
    """argparse took `-dash.png` for an option and said INPUT was missing: the user had given it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-dash.png").write_bytes(b"")
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {said}; -dash.png is a file: write ./-dash.png, or put -- before names that start with '-' "
        f"(see {said.split(':')[0]} --help)"
    )


def test_an_option_that_is_not_a_file_gets_no_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["upscale", "-m", "m.pth", "a.png", "-o", "out", "--nosuch"])
    assert "is a file" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["upscale", "-m", "m.pth", "a.png", "-o", "out", "--nosuch"],
            "upres upscale: unrecognized arguments: --nosuch",
        ),
        (["--nosuch"], "upres: unrecognized arguments: --nosuch"),
        (
            ["train", "-c", "x.yml", "--force"],
            "upres train: unrecognized arguments: --force; train never writes over a run: --resume auto continues it, "
            "--archive-old moves it aside and starts again",
        ),
    ],
)
def test_an_unknown_option_names_the_command_whose_help_lists_them(capsys, argv, said):
    """argparse reported a command's unknown option from the top parser: "see upres --help", which lists commands,
    not their options; and `train --force` (what upscale and video take) got no word of the way to start again."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    prog = said.split(":")[0]
    assert capsys.readouterr().err == f"error: {said} (see {prog} --help)\n"
