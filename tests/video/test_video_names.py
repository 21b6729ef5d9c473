"""Output names of `upres video` near the file system's 255-byte limit."""

from __future__ import annotations

import pytest
from video_clips import make_clip

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
