"""upres video keeps every stream, the timing, rotation and color tags; frames equal the Upscaler's output."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from video_clips import (
    VFR_PTS,
    frame_pixels,
    lossless_rgb_clip,
    make_clip,
    packets,
    remux,
    save_compact,
    video_frames,
)

from upres.cli import main
from upres.infer.tiling import Upscaler
from upres.infer.video import VideoOptions, upscale_video
from upres.io.model_files import load_model

av = pytest.importorskip("av")


def _upscaler(model: Path) -> Upscaler:
    loaded = load_model(model)
    return Upscaler(loaded.module, loaded.scale)


def test_mkv_keeps_every_stream_timing_rotation_and_color(tmp_path, clip_mkv, model_x2):
    out = tmp_path / "new" / "out.mkv"
    assert main(["video", "-m", str(model_x2), str(clip_mkv.path), "-o", str(out), "-q", "--batch", "3"]) == 0
    assert not (tmp_path / "new" / "out.partial.mkv").exists()
    with av.open(str(clip_mkv.path)) as src, av.open(str(out)) as dst:
        sv, dv = src.streams.video[0], dst.streams.video[0]
        assert (dv.codec_context.width, dv.codec_context.height) == (68, 52)
        assert dv.time_base == sv.time_base
        src_frames = list(src.decode(sv))
        dst_frames = list(dst.decode(dv))
        assert [f.pts for f in dst_frames] == [f.pts for f in src_frames] == VFR_PTS
        assert [f.rotation for f in dst_frames] == [90] * len(VFR_PTS)
        cc = dv.codec_context
        assert (cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc) == (1, 1, 1, 1)
        assert abs(dst.duration - src.duration) <= 1_000_000 * 0.041  # within one frame
        assert dst.chapters() == src.chapters()
        kinds = [(s.type, s.metadata.get("language"), s.metadata.get("title")) for s in dst.streams]
        assert kinds == [
            ("video", None, None),
            ("audio", "fra", "Sine 440"),
            ("subtitle", "eng", "Dialogue"),
            ("attachment", None, None),
        ]
        att = dst.streams[3]
        assert (att.name, att.mimetype, bytes(att.data)) == (
            "font.ttf",
            "font/ttf",
            bytes(src.streams[3].data),
        )
    assert packets(out, "audio") == packets(clip_mkv.path, "audio")
    subs = packets(out, "subtitles")
    assert subs == packets(clip_mkv.path, "subtitles")
    assert [text for _, text in subs] == [b"Hello", b"World"]


@pytest.mark.parametrize("batch", [1, 3])
def test_lossless_output_equals_upscaler_of_each_decoded_frame(tmp_path, model_x2, batch):
    clip = lossless_rgb_clip(tmp_path / "rgb.mkv")
    out = tmp_path / "out.mkv"
    up = _upscaler(model_x2)
    result = upscale_video(up, clip.path, out, VideoOptions(codec="ffv1", pix_fmt="bgr0", batch=batch))
    assert result.complete and result.frames == len(VFR_PTS) and result.path == out
    decoded = video_frames(clip.path)
    written = video_frames(out)
    assert [p for p, _ in written] == VFR_PTS
    for (_, lr), (_, hr) in zip(decoded, written, strict=True):
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
        ref = (up(x) * 255).round().clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
        assert hr.shape == (54, 70, 3)
        assert np.array_equal(hr, ref)


def test_zero_compact_is_exact_nearest_upscale(tmp_path):
    """A zeroed Compact model adds nothing to its nearest-upsampled input: the output is the input, doubled."""
    model = save_compact(tmp_path / "zero.safetensors", zero=True)
    clip = make_clip(
        tmp_path / "rgb.mkv", codec="ffv1", pix_fmt="bgr0", color=None, audio=None, subtitles=None
    )
    out = tmp_path / "out.mkv"
    upscale_video(_upscaler(model), clip.path, out, VideoOptions(codec="ffv1", pix_fmt="bgr0", batch=2))
    for i, (_, hr) in enumerate(video_frames(out)):
        lr = frame_pixels(i, 34, 26)
        assert np.array_equal(hr, lr.repeat(2, 0).repeat(2, 1))


def test_sixteen_bit_path_is_lossless(tmp_path, model_x2):
    clip = make_clip(
        tmp_path / "deep.mkv", codec="ffv1", pix_fmt="rgb48le", color=None, audio=None, subtitles=None
    )
    out = tmp_path / "out.mkv"
    up = _upscaler(model_x2)
    upscale_video(up, clip.path, out, VideoOptions(codec="ffv1"))
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "gbrp16le"  # how FFV1 stores 16-bit RGB
    for (_, lr), (_, hr) in zip(
        video_frames(clip.path, "rgb48le"), video_frames(out, "rgb48le"), strict=True
    ):
        x = torch.from_numpy(lr.astype(np.float32)).permute(2, 0, 1)[None] / 65535
        ref = (up(x) * 65535).round().clamp(0, 65535)[0].permute(1, 2, 0).numpy().astype(np.uint16)
        assert np.array_equal(hr, ref)


def test_ten_bit_input_gives_ten_bit_output_with_its_color_tags(tmp_path, model_x2):
    bt2020 = (9, 1, 9, 16)  # bt2020nc matrix, limited range, bt2020 primaries, PQ transfer
    clip = make_clip(tmp_path / "hdr.mkv", pix_fmt="yuv420p10le", color=bt2020, audio=None, subtitles=None)
    out = tmp_path / "out.mkv"
    upscale_video(_upscaler(model_x2), clip.path, out, VideoOptions(codec="libx265", preset="ultrafast"))
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert cc.pix_fmt == "yuv420p10le"
        assert (cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc) == bt2020
        frames = list(c.decode(video=0))
    assert [f.pts for f in frames] == VFR_PTS
    # 10 bits survive: the decoded samples use more than the 256 levels an 8-bit path would leave.
    luma = np.concatenate([f.to_ndarray()[: 52 * 68].ravel() for f in frames])
    assert len(np.unique(luma % 4)) == 4


def test_ten_bit_subsampled_input_keeps_its_colours(tmp_path):
    """An identity x1 model (a Compact with zero weights adds nothing to its input) through FFV1: the decoded output
    equals the input to a level. swscale's full chroma interpolation to 16-bit RGB gave mean RGB (96, 11, 86) for
    (126, 122, 31)."""
    model = save_compact(tmp_path / "id_x1.safetensors", scale=1, zero=True)
    clip = make_clip(tmp_path / "in.mkv", pix_fmt="yuv420p10le", audio=None, subtitles=None)  # x264, 10-bit
    out = tmp_path / "out.mkv"
    upscale_video(_upscaler(model), clip.path, out, VideoOptions(codec="ffv1"))
    for (_, a), (_, b) in zip(video_frames(clip.path, "rgb48le"), video_frames(out, "rgb48le"), strict=True):
        diff = np.abs(a.astype(np.int64) - b.astype(np.int64)) / 257  # in 8-bit levels
        assert diff.mean() < 1 and diff.max() < 8, (diff.mean(), diff.max())


def test_untagged_sd_input_is_converted_and_tagged_as_bt601(tmp_path):
    """Upscaled SD would be read as BT.709 by players if left untagged; the output says BT.601 explicitly."""
    model = save_compact(tmp_path / "zero.safetensors", zero=True)
    clip = make_clip(tmp_path / "sd.mkv", size=(96, 72), color=None, audio=None, subtitles=None, noise=0)
    out = tmp_path / "out.mkv"
    upscale_video(_upscaler(model), clip.path, out, VideoOptions(crf=0, preset="ultrafast"))
    with av.open(str(clip.path)) as src, av.open(str(out)) as dst:
        assert src.streams.video[0].codec_context.colorspace == 2  # unspecified
        cc = dst.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_range) == (6, 1)  # smpte170m (BT.601), limited
        # The nearest-upscaled picture decoded as its tag says matches the input decoded as BT.601 ...
        a = next(src.decode(video=0)).to_ndarray(format="rgb24", src_colorspace=6).astype(float)
        b = next(dst.decode(video=0)).to_ndarray(format="rgb24", src_colorspace=cc.colorspace).astype(float)
        as_709 = next(dst.decode(video=0)).to_ndarray(format="rgb24", src_colorspace=1).astype(float)
    err_tagged = np.abs(b[::2, ::2] - a).mean()
    err_709 = np.abs(as_709[::2, ::2] - a).mean()
    # ... and reading it as BT.709, which players guess for untagged HD, would shift the colors.
    assert err_tagged < 1.5  # what 4:2:0 chroma resampling leaves
    assert err_709 > 5.0


def test_start_and_end_trim_and_shift_all_streams(tmp_path, clip_mkv, model_x2):
    out = tmp_path / "cut.mkv"
    opts = VideoOptions(start=0.2, end=0.45)
    result = upscale_video(_upscaler(model_x2), clip_mkv.path, out, opts)
    kept = [p for p in VFR_PTS if 200 <= p < 450]
    assert result.frames == len(kept)
    assert [p for p, _ in video_frames(out)] == [p - 200 for p in kept]
    src_audio = packets(clip_mkv.path, "audio")
    want = [(t - 200_000, data) for t, data in src_audio if 200_000 <= t < 450_000]
    assert packets(out, "audio") == want
    assert packets(out, "subtitles") == [(60_000, b"World")]
    with av.open(str(out)) as c:
        assert [(ch["metadata"]["title"], ch["start"] * ch["time_base"]) for ch in c.chapters()] == [
            ("Two", Fraction(0))
        ]


def test_mp4_keeps_mov_text_subtitles_and_aac_audio(tmp_path, model_x2):
    clip = make_clip(tmp_path / "in.mp4", audio="aac", subtitles="mov_text")
    out = tmp_path / "out.mp4"
    upscale_video(_upscaler(model_x2), clip.path, out, VideoOptions(preset="ultrafast"))
    assert [p for p, _ in video_frames(out)] == [p for p, _ in video_frames(clip.path)]
    assert packets(out, "audio") == packets(clip.path, "audio")

    # The MP4 muxer writes its own empty "subtitle ends" samples between cues; the cues are byte-identical.
    def cues(path: Path) -> list:
        return [(t, d) for t, d in packets(path, "subtitles") if d != b"\x00\x00"]

    assert cues(out) == cues(clip.path) == [(0, b"\x00\x05Hello"), (260_000, b"\x00\x05World")]


@pytest.mark.slow
def test_onepiece_first_half_second(tmp_path, shared_data, model_x2):
    src = shared_data / "inputs" / "onepiece_demo.mp4"
    out = tmp_path / "op.mp4"
    result = upscale_video(_upscaler(model_x2), src, out, VideoOptions(end=0.5, preset="ultrafast"))
    with av.open(str(src)) as c:
        tb = c.streams.video[0].time_base
        want = [f.pts for f in c.decode(video=0) if f.pts * tb < Fraction(1, 2)]
    assert result.frames == len(want) == 12
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (1280, 960)
        assert [f.pts for f in c.decode(v)] == want
        assert c.streams.audio[0].metadata["language"] == "eng"
    src_audio = packets(src, "audio")
    assert packets(out, "audio") == [(t, d) for t, d in src_audio if t < 500_000]


def test_mp4_cover_art_is_kept(tmp_path, model_x2):
    import io

    from PIL import Image

    src = tmp_path / "cover.mp4"
    jpeg = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(jpeg, "JPEG")
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 32, 24, "yuv420p"
        cover = out.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 16, 16, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 60 * i, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        packet = av.Packet(jpeg.getvalue())
        packet.stream, packet.pts, packet.dts, packet.time_base = cover, 0, 0, Fraction(1, 90000)
        out.mux(packet)
    dst = tmp_path / "out.mp4"
    upscale_video(_upscaler(model_x2), src, dst, VideoOptions(preset="ultrafast"))
    with av.open(str(dst)) as c:
        assert [s.type for s in c.streams] == ["video", "video"]
        assert c.streams[1].disposition & av.stream.Disposition.attached_pic
        art = [bytes(p) for p in c.demux(c.streams[1]) if p.size]
    assert art == [jpeg.getvalue()]


def test_dispositions_are_copied(tmp_path, model_x2):
    clip = make_clip(tmp_path / "in.mkv", audio="flac", subtitles="subrip", disposition=True)
    out = tmp_path / "out.mkv"
    upscale_video(_upscaler(model_x2), clip.path, out, VideoOptions(preset="ultrafast"))
    with av.open(str(clip.path)) as a, av.open(str(out)) as b:
        want = [s.disposition for s in a.streams]
        assert av.stream.Disposition.forced in want[2]
        assert [s.disposition for s in b.streams] == want


def test_tiled_pipeline_equals_tiled_upscaler(tmp_path, model_x2):
    clip = lossless_rgb_clip(tmp_path / "rgb.mkv", pts=VFR_PTS[:3])
    out = tmp_path / "out.mkv"
    up = _upscaler(model_x2)
    upscale_video(up, clip.path, out, VideoOptions(codec="ffv1", pix_fmt="bgr0", tile=16, overlap=8, batch=2))
    for (_, lr), (_, hr) in zip(video_frames(clip.path), video_frames(out), strict=True):
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
        ref = (up(x, 16, 8) * 255).round().clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
        assert np.array_equal(hr, ref)


def test_frames_whose_size_changes_midstream_are_scaled_to_the_first_size(tmp_path, model_x2):
    """PNG-coded MOV can switch size between frames (screen recordings do); the output keeps one size."""
    src = tmp_path / "switch.mov"
    with av.open(str(src), "w") as out:
        v = out.add_stream("png", rate=25)
        v.width, v.height, v.pix_fmt = 34, 26, "rgb24"
        v.codec_context.time_base = Fraction(1, 25)
        other = av.CodecContext.create("png", "w")
        other.width, other.height, other.pix_fmt, other.time_base = 40, 30, "rgb24", Fraction(1, 25)
        for i in range(6):
            w, h = (34, 26) if i < 3 else (40, 30)
            frame = av.VideoFrame.from_ndarray(frame_pixels(i, w, h), format="rgb24")
            frame.pts = i
            packets_ = v.encode(frame) if i < 3 else other.encode(frame)
            for packet in packets_:
                packet.stream, packet.pts, packet.dts = v, i, i
                out.mux(packet)
        out.mux(v.encode(None))
    with av.open(str(src)) as c:
        assert [(f.width, f.height) for f in c.decode(video=0)] == [(34, 26)] * 3 + [(40, 30)] * 3
    dst = tmp_path / "out.mkv"
    result = upscale_video(_upscaler(model_x2), src, dst, VideoOptions(preset="ultrafast"))
    assert result.frames == 6
    assert result.warnings == [
        f"{src}: frame size changes to 40x30 at 0.120 s; such frames are scaled to 34x26 before upscaling"
    ]
    with av.open(str(dst)) as c:
        assert {(f.width, f.height) for f in c.decode(video=0)} == {(68, 52)}


def test_elementary_stream_without_timestamps_gets_evenly_spaced_ones(tmp_path, model_x2):
    src = _tiny_h264(tmp_path / "raw.h264", 6)
    with av.open(str(src)) as c:
        decoded = list(c.decode(video=0))
        assert {f.pts for f in decoded} == {None}
        step = float(decoded[0].duration * c.streams.video[0].time_base)  # 1/24 s, from the H.264 VUI
    dst = tmp_path / "out.mkv"
    assert upscale_video(_upscaler(model_x2), src, dst, VideoOptions(preset="ultrafast")).frames == 6
    with av.open(str(dst)) as c:
        times = [f.time for f in c.decode(video=0)]
    assert step == pytest.approx(1 / 24)
    assert times == pytest.approx([i * step for i in range(6)], abs=0.001)


def test_start_in_a_file_without_an_index_loses_no_frame(tmp_path, model_x2):
    """MPEG-TS has no index: FFmpeg's seek to --start landed after the keyframe before it, and the decoder dropped
    every frame up to the next keyframe (9 of 25 lost), or reported a range before it empty."""
    import av

    src = make_clip(
        tmp_path / "src.mp4", size=(64, 48), pts=[i * 40 for i in range(48)], subtitles=None, audio="aac"
    )
    ts = remux(src.path, tmp_path / "in.ts")
    with av.open(str(ts)) as c:
        origin = (
            c.start_time / 1e6
        )  # --start counts from the file's start (as ffmpeg -ss): MPEG-TS's is not 0
        times = [float(f.time) - origin for f in c.decode(video=0)]
    with av.open(str(ts)) as c:
        keyframes = [float(p.pts * p.time_base) - origin for p in c.demux(video=0) if p.is_keyframe]
    assert len(keyframes) == 2 and keyframes[0] < 1 < keyframes[1]  # --start 1 falls between the two
    for start, end in ((1.0, None), (0.5, 1.0)):
        out = tmp_path / f"out_{start}.mkv"
        upscale_video(_upscaler(model_x2), ts, out, VideoOptions(start=start, end=end, preset="ultrafast"))
        want = [t for t in times if t >= start and (end is None or t < end)]
        got = [p for p, _ in video_frames(out)]
        assert len(got) == len(want), (start, end, len(got), len(want))


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_track_titles_of_an_mp4_are_kept(tmp_path, model_x2, suffix):
    """FFmpeg reads an MP4 track's title as "name" and writes "title": copied as read, the titles were lost."""
    import av

    clip = make_clip(tmp_path / "in.mp4", subtitles="mov_text", audio="aac")
    out = tmp_path / f"out{suffix}"
    upscale_video(_upscaler(model_x2), clip.path, out, VideoOptions(preset="ultrafast"))

    def titles(path: Path) -> list:
        with av.open(str(path)) as c:
            return [
                (s.type, s.metadata.get("language"), s.metadata.get("title") or s.metadata.get("name"))
                for s in c.streams
                if s.type != "video"
            ]

    assert titles(out) == titles(clip.path) == [("audio", "fra", "Sine 440"), ("subtitle", "eng", "Dialogue")]


def _tiny_h264(path: Path, frames: int, sar: Fraction | None = None) -> Path:
    """32x24 H.264 frames numbered 0, 1, 2...; the container is the suffix's (.h264: a raw stream)."""
    import av

    with av.open(str(path), "w") as o:
        v = o.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 32, 24, "yuv420p"
        if sar is not None:
            v.codec_context.sample_aspect_ratio = sar
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_pixels(i, 32, 24), format="rgb24").reformat(
                format="yuv420p"
            )
            frame.pts = i
            o.mux(v.encode(frame))
        o.mux(v.encode(None))
    return path


def _anamorphic(path: Path) -> Path:
    return _tiny_h264(path, 4, sar=Fraction(4, 3))  # shown 16:9


@pytest.mark.parametrize(("codec", "kept"), [("libx264", True), ("ffv1", False)])
def test_non_square_pixels_are_kept_or_the_loss_is_said(tmp_path, capsys, model_x2, codec, kept):
    """FFV1, VP9 and SVT-AV1 leave the sample aspect ratio to a container field PyAV does not set: said, not lost
    silently."""
    import av

    src = _anamorphic(tmp_path / "in.mkv")
    out = tmp_path / "out.mkv"
    assert main(["video", "-m", str(model_x2), str(src), "-o", str(out), "--codec", codec, "-q"]) == 0
    err = capsys.readouterr().err
    with av.open(str(out)) as c:
        sar = c.streams.video[0].sample_aspect_ratio
    if kept:
        assert sar == Fraction(4, 3) and "not square" not in err
    else:
        assert err == (
            f"warning: {src}: its pixels are not square (sample aspect ratio 4:3) and {codec} output does not carry "
            "that; players will show it stretched: use libx264 or libx265\n"
        )
