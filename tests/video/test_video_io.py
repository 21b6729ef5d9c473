"""Probing, container choice and color tag resolution (no pixels decoded)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from video_clips import make_clip

from upres.io.video import ColorTags, VideoOutputError, probe_video
from upres.io.video_mux import choose_pix_fmt, container_format

av = pytest.importorskip("av")


@pytest.mark.parametrize(
    ("name", "muxer"),
    [("a.mkv", "matroska"), ("a.MP4", "mp4"), ("a.mov", "mov"), ("a.webm", "webm"), ("a.ts", "mpegts")],
)
def test_container_from_extension(name, muxer):
    assert container_format(Path(name)) == muxer


def test_container_needs_an_extension():
    with pytest.raises(VideoOutputError, match=r"^out: no extension to choose the container from; use .mkv"):
        container_format(Path("out"))


def test_probe_reads_geometry_timing_color_and_streams(tmp_path):
    clip = make_clip(tmp_path / "in.mkv", size=(34, 26), attachment=True)
    probe = probe_video(clip.path)
    assert (probe.width, probe.height, probe.pix_fmt, probe.bit_depth) == (34, 26, "yuv420p", 8)
    assert probe.time_base == Fraction(1, 1000)
    assert probe.color == ColorTags(1, 1, 1, 1)
    assert [s.describe() for s in probe.streams] == [
        "stream #0 (video h264)",
        "stream #1 (audio flac, language fra, title Sine 440)",
        "stream #2 (subtitle srt, language eng, title Dialogue)",
        "stream #3 (attachment font/ttf)",
    ]


def test_untagged_color_resolves_by_height_and_keeps_explicit_tags():
    untagged = ColorTags()
    assert untagged.resolved(480, is_rgb=False) == ColorTags(6, 1, 2, 2)  # BT.601, limited
    assert untagged.resolved(720, is_rgb=False) == ColorTags(1, 1, 2, 2)  # BT.709, limited
    full_2020 = ColorTags(9, 2, 9, 18)
    assert full_2020.resolved(480, is_rgb=False) == full_2020
    assert untagged.resolved(480, is_rgb=True).matrix == 0  # RGB


def test_pixel_format_follows_input_depth(tmp_path):
    deep = probe_video(make_clip(tmp_path / "d.mkv", pix_fmt="yuv420p10le", audio=None, subtitles=None).path)
    assert choose_pix_fmt("libx265", deep, None) == "yuv420p10le"
    assert choose_pix_fmt("libsvtav1", deep, None) == "yuv420p10le"
    rgb = probe_video(
        make_clip(
            tmp_path / "r.mkv", codec="ffv1", pix_fmt="bgr0", color=None, audio=None, subtitles=None
        ).path
    )
    assert choose_pix_fmt("libx264rgb", rgb, None) in ("bgr0", "bgr24", "rgb24")
    with pytest.raises(VideoOutputError, match=r"^--pix-fmt nv12: libsvtav1 takes yuv420p, yuv420p10le$"):
        choose_pix_fmt("libsvtav1", deep, "nv12")


def test_x265_keeps_its_statistics_off_the_terminal(tmp_path, clip_mkv, model_x2, capfd):
    """x265 printed its own "encoded N frames" report to the terminal, past `-q`."""
    import av

    from upres.cli import main

    try:
        av.Codec("libx265", "w")
    except Exception:
        pytest.skip("this FFmpeg build has no libx265")
    args = [
        "video",
        "-m",
        str(model_x2),
        str(clip_mkv.path),
        "-o",
        str(tmp_path / "o.mkv"),
        "--device",
        "cpu",
    ]
    assert main([*args, "--codec", "libx265", "-q"]) == 0
    err = capfd.readouterr().err
    assert "x265 [info]" not in err and "encoded" not in err, err


def test_a_matroska_videos_frame_count_comes_from_its_own_track(tmp_path):
    """The estimate (progress total, ETA) used the container's duration, which stretches to the longest track: a
    one-frame clip with 0.46 s of subtitles was expected to have 11 frames ('frames 1/11')."""
    probe = probe_video(make_clip(tmp_path / "one.mkv", pts=[0]).path)
    assert (probe.frames, probe.duration) == (1, 0.042)
    probe = probe_video(make_clip(tmp_path / "five.mkv", pts=[0, 42, 83, 125, 167], audio=None).path)
    assert probe.frames == 5


def test_svt_av1_keeps_its_banner_off_the_terminal(tmp_path, clip_mkv, model_x2, capfd, monkeypatch):
    """SVT-AV1 printed a 20-line 'Svt[info]' banner to the terminal, past `-q`, as x265 did its statistics."""
    import av

    from upres.cli import main

    try:
        av.Codec("libsvtav1", "w")
    except Exception:
        pytest.skip("this FFmpeg build has no libsvtav1")
    monkeypatch.setenv("SVT_LOG", "")  # so that the variable the run sets is removed afterwards
    monkeypatch.delenv("SVT_LOG")
    out = tmp_path / "o.mkv"
    assert (
        main(["video", "-m", str(model_x2), str(clip_mkv.path), "-o", str(out), "--codec", "libsvtav1", "-q"])
        == 0
    )
    err = capfd.readouterr().err
    assert "Svt[" not in err, err
