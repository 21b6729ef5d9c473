"""What `upres video` says about what it could not carry over."""

from __future__ import annotations

import numpy as np
import pytest
from video_clips import frame_pixels, make_clip

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


def _tagged_mp4(path, tags):
    """A one-frame MP4 whose AAC tracks carry (language, disposition) from `tags`."""
    with av.open(str(path), "w") as o:
        v = o.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 32, 24, "yuv420p"
        tracks = []
        for language, disposition in tags:
            a = o.add_stream("aac", rate=48000)
            a.layout, a.metadata["language"], a.disposition = "mono", language, disposition
            tracks.append(a)
        frame = av.VideoFrame.from_ndarray(frame_pixels(0, 32, 24), format="rgb24").reformat(format="yuv420p")
        o.mux(v.encode(frame))
        o.mux(v.encode(None))
        for a in tracks:
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.int16), format="s16", layout="mono")
            sound.sample_rate, sound.pts = 48000, 0
            o.mux(a.encode(sound))
            o.mux(a.encode(None))
    return path


def test_language_and_flags_a_container_cannot_store_are_named(tmp_path, capsys, model_x2):
    """FFmpeg's MOV muxer writes only QuickTime's old language codes and no flag but 'default': Matroska's usual
    'fre' and a commentary flag went without a word, as did Matroska's lack of 'captions'."""
    d = av.stream.Disposition
    clip = _tagged_mp4(tmp_path / "in.mp4", [("fre", d.default), ("eng", d.comment), ("fra", d.captions)])
    said = {}
    for suffix in (".mov", ".mkv", ".mp4"):
        out = tmp_path / f"out{suffix}"
        assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"]) == 0
        said[suffix] = capsys.readouterr().err.splitlines()
        with av.open(str(clip)) as a, av.open(str(out)) as b:  # what is said is what happened
            for want, got in zip(a.streams.audio, b.streams.audio, strict=True):
                kept = want.metadata["language"] == got.metadata.get("language")
                kept &= want.disposition & got.disposition == want.disposition
                assert kept != any(
                    line.startswith(f"warning: stream #{want.index} ") for line in said[suffix]
                )
    assert said[".mov"] == [
        "warning: stream #1 (audio aac, language fre) lost its language 'fre' in .mov, which cannot store it; the "
        "stream itself is copied",
        "warning: stream #2 (audio aac, language eng) lost its 'comment' flag in .mov, which cannot store it; the "
        "stream itself is copied",
        # MP4 reads 'captions' back as 'hearing_impaired' and 'captions'
        "warning: stream #3 (audio aac, language fra) lost its 'hearing_impaired' and 'captions' flags in .mov, "
        "which cannot store them; the stream itself is copied",
    ]
    assert said[".mkv"] == [
        "warning: stream #3 (audio aac, language fra) lost its 'captions' flag in .mkv, which cannot store it; the "
        "stream itself is copied",
    ]
    assert said[".mp4"] == []


def test_messages_about_an_mp4s_streams_give_their_titles(tmp_path, capsys, model_x2):
    """MP4 track titles read back as 'name': the refusal named 'stream #2 (subtitle mov_text, language eng)' only,
    which does not tell two English tracks apart; and it suggested .mov, which drops most language codes and flags,
    where .mp4 keeps them."""
    clip = make_clip(tmp_path / "in.mp4", audio="aac", subtitles="mov_text").path
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(tmp_path / "out.mkv"), "-q"]) == 2
    assert capsys.readouterr().err == (
        "error: .mkv cannot hold stream #2 (subtitle mov_text, language eng, title Dialogue); use .mp4, which takes "
        "every stream\n"
    )
