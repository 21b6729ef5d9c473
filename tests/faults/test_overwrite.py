"""Commands that write one file a user may care about (a converted or blended model, a finished video) leave an
existing file at OUT alone unless --force: `convert` and `interp` replaced another model without a word."""

from __future__ import annotations

import pytest
from fault_helpers import compact_model, mp4

from upres.cli import main


def _args(tmp_path, command: str, out) -> list[str]:
    a = compact_model(tmp_path / "a.safetensors", zero=False)
    b = compact_model(tmp_path / "b.safetensors", zero=False)
    return {
        "convert": lambda: ["convert", a, out],
        "interp": lambda: ["interp", a, b, "-o", out],
        "video": lambda: ["video", "-m", a, mp4(tmp_path / "clip.mp4"), "-o", out, "--device", "cpu"],
    }[command]()  # only the video case needs PyAV


@pytest.mark.parametrize("command", ["convert", "interp", "video"])
def test_an_existing_output_stays_unless_forced(tmp_path, capsys, command):
    out = tmp_path / ("out.mp4" if command == "video" else "out.pth")
    out.write_bytes(b"the user's file")
    args = [str(x) for x in _args(tmp_path, command, out)]
    assert main(args) == 2
    assert (
        capsys.readouterr().err
        == f"error: {out}: exists; add --force to replace it, or choose another name\n"
    )
    assert out.read_bytes() == b"the user's file"
    assert main([*args, "--force"]) == 0, capsys.readouterr().err
    assert out.read_bytes() != b"the user's file"


def test_interp_into_a_place_it_cannot_write_names_the_output(tmp_path, capsys):
    """The error named the hidden part file of the atomic write (.i.pth.1234.xyz.part), not the output."""
    (tmp_path / "a_file").write_text("")
    out = tmp_path / "a_file" / "i.pth"
    args = [str(x) for x in _args(tmp_path, "interp", out)]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: cannot write there (cannot create this folder: a file is in the way); choose another place\n"
    )
