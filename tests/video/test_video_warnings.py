"""What `upres video` says about what it could not carry over."""

from __future__ import annotations

import pytest
from video_clips import frame_pixels

from upres.cli import main

av = pytest.importorskip("av")


def test_warnings_past_the_first_five_are_counted(tmp_path, capsys, model_x2):
    """Past five warnings the rest were left out, and only a run that also skipped video packets said how many."""
    many = tmp_path / "many.mkv"
    with av.open(str(many), "w") as o:
        # The first video stream is upscaled; the 7 others are each named in a warning as not copied.
        streams = [o.add_stream("libx264", rate=24) for _ in range(8)]
        for s in streams:
            s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        for i in range(2):
            for s in streams:
                frame = av.VideoFrame.from_ndarray(frame_pixels(i, 32, 24), format="rgb24")
                frame = frame.reformat(format="yuv420p")
                frame.pts = i
                o.mux(s.encode(frame))
        for s in streams:
            o.mux(s.encode(None))
    assert main(["video", "-m", str(model_x2), str(many), "-o", str(tmp_path / "out.mkv"), "-q"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        *[f"warning: stream #{n}" for n in range(1, 6)],
        "warning: ... 2 more warnings",
    ]
    assert all(line.endswith("not copied: only the first video stream is upscaled") for line in lines[:5])
