"""Output names of `upres video` near the file system's 255-byte limit."""

from __future__ import annotations

import pytest
from video_clips import VFR_PTS, make_clip, video_frames

from upres.cli import main

av = pytest.importorskip("av")


def test_an_output_with_a_long_legal_name_is_written(tmp_path, capsys, model_x2):
    """A 250-byte output name is legal, but the run writes to `<stem>.partial<suffix>` first (258 bytes): it
    stopped with 'File name too long' before the first frame."""
    src = make_clip(tmp_path / "in.mkv", audio=None, subtitles=None).path
    out = tmp_path / ("v" * 246 + ".mkv")
    assert main(["video", "-q", "-m", str(model_x2), str(src), "-o", str(out), "--device", "cpu"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("v")) == [out.name]
    with av.open(str(out)) as c:
        assert c.streams.video[0].width == 2 * 34


@pytest.mark.parametrize(
    ("src_name", "out_name"),
    [("file:in.mkv", "out.mkv"), ("in.mkv", "file:out.mkv"), ("in.mkv", "pipe:1.mkv")],
)
def test_names_with_a_colon_are_files_not_ffmpeg_protocols(
    tmp_path, monkeypatch, capsys, model_x2, src_name, out_name
):
    """FFmpeg read "file:in.mkv" as the file in.mkv ("no such file" of a file that was there), wrote the output
    of "file:out.mkv" to out.partial.mkv and renamed the empty claim file to file:out.mkv (exit 0, a 0-byte
    video), and took "pipe:1.mkv" for standard output."""
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / src_name, audio=None, subtitles=None)
    assert main(["video", "-q", "-m", str(model_x2), src_name, "-o", out_name, "--device", "cpu"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".mkv") == sorted({src_name, out_name})
    frames = video_frames(tmp_path / out_name)  # an absolute path: no protocol is read into it
    assert len(frames) == len(VFR_PTS) and frames[0][1].shape == (2 * 26, 2 * 34, 3)
