"""Which containers take which streams. MPEG-TS declares no codec list to FFmpeg's query, so every .ts and .m2ts
output was refused ("cannot hold video codec h264"); a stream whose codec this FFmpeg build does not know was
called "subtitle unknown" with no way out."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from video_clips import make_clip, video_frames

from upres.cli import main

av = pytest.importorskip("av")


def _streams(path):
    with av.open(str(path)) as c:
        return [(s.type, s.codec_context.name if s.codec_context else None) for s in c.streams]


@pytest.mark.parametrize("suffix", [".ts", ".m2ts"])
def test_mpeg_ts_takes_h264_and_aac_and_keeps_them_what_they_are(tmp_path, capsys, model_x2, suffix):
    clip = make_clip(tmp_path / "in.mp4", size=(32, 24), audio="aac", subtitles=None).path
    out = tmp_path / f"out{suffix}"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"]) == 0, capsys.readouterr().err
    assert _streams(out) == [("video", "h264"), ("audio", "aac")]
    assert len(video_frames(out)) == len(video_frames(clip))


def test_mpeg_ts_refuses_what_it_would_turn_into_data_streams(tmp_path, capsys, model_x2):
    """FFmpeg's MPEG-TS muxer writes FLAC audio and SRT subtitles as private data streams, which no player plays."""
    clip = make_clip(tmp_path / "in.mkv", audio="flac", subtitles="subrip").path
    out = tmp_path / "out.ts"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: .ts cannot hold stream #1 (audio flac") and "stream #2 (subtitle" in err
    assert err.rstrip().endswith("use .mkv, which takes every stream")
    assert not out.exists() and not (tmp_path / "out.partial.ts").exists()


def test_a_stream_of_a_codec_ffmpeg_does_not_know_is_named_with_a_way_out(tmp_path, capsys, model_x2):
    clip = tmp_path / "in.mkv"
    with av.open(str(clip), "w") as o:
        v = o.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 32, 24, "yuv420p"
        text = o.add_mux_stream("hdmv_text_subtitle")  # Blu-ray TextST: muxed, but this FFmpeg has no decoder
        text.time_base = Fraction(1, 1000)
        text.metadata["language"] = "eng"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            o.mux(v.encode(frame))
        o.mux(v.encode(None))
        packet = av.Packet(b"\x82\x00\x00")
        packet.stream, packet.pts, packet.dts, packet.duration = text, 0, 0, 100
        packet.time_base = Fraction(1, 1000)
        o.mux(packet)
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(tmp_path / "out.mkv"), "-q"]) == 2
    assert capsys.readouterr().err == (
        "error: stream #1 (subtitle in a codec this FFmpeg build does not know, language eng) cannot be copied "
        "(PyAV copies only streams whose codec its FFmpeg knows); leave it out first, e.g. ffmpeg -i INPUT -map 0 "
        "-map -0:1 -c copy WITHOUT_IT.mkv\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compact_x2.safetensors", "in.mkv"]


def _with_cover(path, jpeg: bytes):
    """A clip with cover art: in MP4 an attached-picture track; in Matroska an attachment (FFmpeg reads both as an
    attached-picture stream)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 32, 24, "yuv420p"
        if path.suffix == ".mkv":
            out.add_attachment("cover.jpg", "image/jpeg", jpeg)
        else:
            cover = out.add_stream("mjpeg")
            cover.width, cover.height, cover.pix_fmt = 16, 16, "yuvj420p"
            cover.disposition = av.stream.Disposition.attached_pic
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 60 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if path.suffix != ".mkv":
            packet = av.Packet(jpeg)
            packet.stream, packet.pts, packet.dts, packet.time_base = cover, 0, 0, Fraction(1, 90000)
            out.mux(packet)
    return path


@pytest.mark.parametrize("source", [".mkv", ".mp4"])
def test_cover_art_stays_cover_art_in_matroska_run_after_run(tmp_path, capsys, model_x2, source):
    """Into Matroska FFmpeg wrote cover art as a one-frame video track: the flag was gone, and the next run took it
    for a second video stream and dropped it with a warning."""
    import io

    from PIL import Image

    jpeg = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(jpeg, "JPEG")
    clip = _with_cover(tmp_path / f"in{source}", jpeg.getvalue())
    first, second = tmp_path / "once.mkv", tmp_path / "twice.mkv"
    for src, dst in ((clip, first), (first, second)):
        assert main(["video", "-m", str(model_x2), str(src), "-o", str(dst), "-q"]) == 0
        assert "warning" not in capsys.readouterr().err
        with av.open(str(dst)) as c:
            covers = [s for s in c.streams if s.disposition & av.stream.Disposition.attached_pic]
            assert [s.type for s in c.streams] == ["video", "video"] and len(covers) == 1
            assert {k.lower(): v for k, v in covers[0].metadata.items()} == {
                "filename": "cover.jpg",
                "mimetype": "image/jpeg",
            }
            assert [bytes(p) for p in c.demux(covers[0]) if p.size] == [jpeg.getvalue()]


def test_mov_says_it_drops_a_forced_flag(tmp_path, capsys, model_x2):
    """FFmpeg's MOV muxer cannot store 'forced' (its MP4 muxer can): the flag went without a word."""
    clip = make_clip(tmp_path / "in.mp4", audio="aac", subtitles="mov_text", disposition=True).path
    with av.open(str(clip)) as c:
        forced = [s.index for s in c.streams if s.disposition & av.stream.Disposition.forced]
    assert forced
    for suffix, warned in ((".mov", True), (".mp4", False)):
        assert (
            main(["video", "-m", str(model_x2), str(clip), "-o", str(tmp_path / f"out{suffix}"), "-q"]) == 0
        )
        err = capsys.readouterr().err
        assert (
            "loses its 'forced' flag in .mov, which cannot store it; .mp4 or .mkv keep it" in err
        ) == warned


def test_mpeg2_refusing_a_millisecond_time_base_is_explained(tmp_path, capsys, model_x2):
    """It said to try another --pix-fmt, --preset or --crf, none of which was given or is the cause."""
    clip = make_clip(tmp_path / "in.mkv", audio=None, subtitles=None).path  # Matroska: a 1/1000 time base
    out = tmp_path / "out.mkv"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q", "--codec", "mpeg2video"]) == 2
    err = capsys.readouterr().err
    assert "it takes only a standard frame rate as its time base" in err and err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "out.partial.mkv").exists()


def test_flac_into_mov_is_refused_before_anything_is_written(tmp_path, capsys, model_x2):
    """FFmpeg's MOV muxer lists FLAC among its codecs and refuses it when the header is written: the run ended with
    'stopped by ArgumentError: Invalid argument: 'file:out.partial.mov' returned 22'."""
    clip = make_clip(tmp_path / "in.mkv", audio="flac", subtitles=None).path
    out = tmp_path / "out.mov"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"]) == 2
    assert capsys.readouterr().err == (
        "error: .mov cannot hold stream #1 (audio flac, language fra, title Sine 440); use .mkv, which takes every "
        "stream\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compact_x2.safetensors", "in.mkv"]
    assert (
        main(["video", "-m", str(model_x2), str(clip), "-o", str(tmp_path / "out.mp4"), "-q"]) == 0
    )  # MP4 takes it


@pytest.mark.parametrize("codec", ["libvpx-vp9", "libsvtav1"])
def test_a_video_codec_the_mov_muxer_refuses_is_named(tmp_path, capsys, model_x2, codec):
    """FFmpeg's MOV muxer lists VP9 and AV1 and refuses them when the header is written: the run ended with
    'stopped by ArgumentError: Invalid argument: 'file:out.partial.mov' returned 22'."""
    clip = make_clip(tmp_path / "in.mkv", audio=None, subtitles=None).path
    out = tmp_path / "out.mov"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q", "--codec", codec]) == 2
    name = av.Codec(codec, "w").canonical_name
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: .mov cannot hold video codec {name} (FFmpeg's muxer refused it: Invalid argument); use .mkv, or "
        "another --codec"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compact_x2.safetensors", "in.mkv"]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_streams_keep_their_order_when_the_video_is_not_first(tmp_path, capsys, model_x2, suffix):
    """An audio track before the video (as some recorders write them) came out after it: the output's stream order,
    which `ffmpeg -map 0:1` and players' track numbers go by, differed from the input's."""
    clip = make_clip(tmp_path / "in.mp4", size=(32, 24), audio="aac", subtitles=None).path
    first = tmp_path / f"audio_first{suffix}"
    with av.open(str(clip)) as i, av.open(str(first), "w") as o:
        order = [i.streams.audio[0], i.streams.video[0]]
        streams = {s.index: o.add_stream_from_template(s) for s in order}
        for packet in i.demux(order):
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                o.mux(packet)
    assert [t for t, _ in _streams(first)] == ["audio", "video"]
    out = tmp_path / f"out{suffix}"
    assert main(["video", "-m", str(model_x2), str(first), "-o", str(out), "-q"]) == 0, (
        capsys.readouterr().err
    )
    assert _streams(out) == [("audio", "aac"), ("video", "h264")]
    assert len(video_frames(out)) == len(video_frames(first))


def test_a_webm_output_is_told_the_codec_that_fits(tmp_path, capsys, model_x2):
    """.webm with the default libx264 was told to use .mkv only: the user asked for WebM, which VP9 gives."""
    clip = make_clip(tmp_path / "in.mp4", size=(32, 24), audio=None, subtitles=None).path
    out = tmp_path / "out.webm"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"]) == 2
    assert (
        capsys.readouterr().err
        == "error: .webm cannot hold video codec h264; use --codec libvpx-vp9, or .mkv\n"
    )
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q", "--codec", "libvpx-vp9"]) == 0
    assert _streams(out) == [("video", "vp9")]


def test_avi_output_is_refused_before_anything_is_written(tmp_path, capsys, model_x2):
    """AVI has one frame rate and no presentation times: the output had 1226 frame slots for 30 frames and libx264's
    frames came back at the wrong times, out of order, with exit code 0."""
    clip = make_clip(tmp_path / "in.mkv", audio=None, subtitles=None).path
    out = tmp_path / "out.avi"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: AVI cannot keep each frame's timestamp (one fixed frame rate, no presentation times: frames "
        "come back at the wrong times, B-frames out of order); use .mkv or .mp4, which keep them\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compact_x2.safetensors", "in.mkv"]
