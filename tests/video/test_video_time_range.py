"""--start and --end count from the input file's start, as players and `ffmpeg -ss` do, also where the file's
timestamps begin later (an MPEG-TS capture, a cut stream): there `--end 0.5` found no frame and `--start 0.5` copied
the whole video, shifted to begin at -0.5 s."""

from __future__ import annotations

import pytest
from video_clips import interrupt_after, make_clip, video_frames

from upres.cli import main
from upres.infer.tiling import Upscaler

av = pytest.importorskip("av")

LATE = [10_000 + 42 * i for i in range(24)]  # one second at 24 frames/s whose timestamps begin at 10 s (ms)


def _times(path):
    with av.open(str(path)) as c:
        return [round(float(f.time), 3) for f in c.decode(video=0)]


@pytest.mark.parametrize("start, end", [(None, 0.5), (0.5, None), (0.2, 0.6)])
def test_the_range_counts_from_the_files_start(tmp_path, capsys, model_x2, start, end):
    clip = make_clip(tmp_path / "in.mkv", pts=LATE, audio=None, subtitles=None).path
    assert _times(clip)[0] == 10.0
    out = tmp_path / "out.mkv"
    flags = [*(["--start", str(start)] if start is not None else []), *(["--end", str(end)] if end else [])]
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q", *flags]) == 0, (
        capsys.readouterr()
    )
    kept = [
        t / 1000
        for t in LATE
        if (start is None or t / 1000 >= 10 + start) and (end is None or t / 1000 < 10 + end)
    ]
    # With --start the output's clock starts at it; without, the input's timestamps are kept as they are.
    expected = [t - (10 + start if start is not None else 0) for t in kept]
    assert _times(out) == pytest.approx(expected, abs=0.002)


def test_an_interrupted_range_says_where_in_the_input_to_continue(tmp_path, capsys, model_x2, monkeypatch):
    """With --start S the partial output's own clock starts at 0: the continuation point is S plus what it holds,
    not its own end (which would redo the range from near the file's start)."""
    clip = make_clip(tmp_path / "in.mkv", pts=LATE, audio=None, subtitles=None).path
    monkeypatch.setattr(Upscaler, "forward", interrupt_after(4))
    out = tmp_path / "out.mkv"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q", "--start", "0.3"]) == 130
    err = capsys.readouterr().err
    # Four frames written from the first at or after 10.3 s; the continuation starts where the fourth ends.
    first = next(i for i, t in enumerate(LATE) if t >= 10_300)
    ends = (LATE[first + 3] - 10_000) / 1000 + 1 / 24
    at = f"{int(ends * 1000) / 1000:.3f}"
    assert f"(ends at {at} s)" in err and err.rstrip().endswith(
        f"continue with --start {at} into another file"
    )
    monkeypatch.undo()
    rest = tmp_path / "rest.mkv"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(rest), "-q", "--start", at]) == 0
    partial = tmp_path / "out.partial.mkv"
    assert len(video_frames(partial)) == 4
    assert len(video_frames(rest)) == len(LATE) - first - 4  # nothing skipped, nothing twice


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_two_frames_at_one_time_are_moved_a_tick_apart(tmp_path, capsys, model_x2, suffix):
    """A variable-rate MP4 whose time base rounds two frames to one timestamp plays, but MP4/MOV output stopped at
    them with 'Invalid argument' on the partial file."""
    from fractions import Fraction

    import numpy as np

    clip = tmp_path / "in.mp4"
    with av.open(str(clip), "w") as o:
        v = o.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt, v.options = 32, 24, "yuv420p", {"bf": "0"}
        v.time_base = Fraction(1, 1000)
        t = 0
        for i in range(9):  # given in ms; the encoder's time base takes 0 and 20 ms both to 0
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 25 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            t += [20, 60, 33, 100][i % 4]
            o.mux(v.encode(frame))
        o.mux(v.encode(None))
    pts_in = [p for p, _ in video_frames(clip)]
    assert pts_in[0] == pts_in[1]  # the input as such files come
    out = tmp_path / f"out{suffix}"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: ") == 1 and "has the timestamp of the one before" in err
    pts_out = [p for p, _ in video_frames(out)]
    assert len(pts_out) == 9
    if (
        suffix != ".mkv"
    ):  # Matroska stores milliseconds, where the tick rounds away (and it takes equal times)
        assert all(a < b for a, b in zip(pts_out, pts_out[1:]))
