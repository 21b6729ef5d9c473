"""`upres video`'s bar is drawn on stderr, the stream whose being a terminal chose it (as upscale's and prepare's):
drawn on stdout, `upres video IN -o OUT > summary.txt` in a terminal showed no progress for the whole run and left
blank lines in the file."""

from __future__ import annotations

import sys

from video_clips import make_clip

from upres.cli import main


def test_the_bar_is_on_stderr_and_stdout_has_the_summary_only(tmp_path, capsys, model_x2, monkeypatch):
    clip = make_clip(tmp_path / "in.mkv", audio=None, subtitles=None).path
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    out = tmp_path / "out.mkv"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{out}: 10 frames in ") and captured.out.count("\n") == 1, captured.out
    assert "upscaling" in captured.err  # the bar
