"""Small clips made with PyAV for the video tests: odd sizes, variable timestamps, sine audio, subtitles."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from upres.archs import build_network  # noqa: E402
from upres.io.model_files import save_model  # noqa: E402

TB = Fraction(1, 1000)
VFR_PTS = [0, 40, 90, 130, 210, 250, 300, 380, 420, 500]


@dataclass
class Clip:
    path: Path
    video_packets: list[bytes] = field(default_factory=list)


def frame_pixels(i: int, width: int, height: int, deep: bool = False, noise: float = 12.0) -> np.ndarray:
    """A smooth gradient plus noise, different for every frame, so chroma subsampling keeps it recognisable."""
    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy + 20 * i) % 255], -1)
    img = np.clip(base + rng.normal(0, noise, base.shape), 0, 255)
    return (img * 257).astype(np.uint16) if deep else img.astype(np.uint8)


def make_clip(
    path: Path,
    size: tuple[int, int] = (34, 26),
    pts: list[int] = VFR_PTS,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    color: tuple[int, int, int, int] | None = (1, 1, 1, 1),  # matrix, range, primaries, transfer
    rotation: int | None = None,
    audio: str | None = "flac",
    subtitles: str | None = "subrip",
    attachment: bool = False,
    chapters: bool = False,
    options: dict[str, str] | None = None,
    noise: float = 12.0,
    disposition: bool = False,
) -> Clip:
    width, height = size
    deep = av.VideoFormat(pix_fmt).components[0].bits > 8
    out = av.open(str(path), "w")
    v = out.add_stream(codec, rate=24)
    v.width, v.height, v.pix_fmt = width, height, pix_fmt
    v.time_base = TB
    v.codec_context.time_base = TB
    if options:
        v.options = options
    if color:
        cc = v.codec_context
        cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = color
    if rotation is not None:
        v.set_display_rotation(rotation)
    a = None
    if audio:
        a = out.add_stream(audio, rate=48000)
        a.layout = "mono"
        a.metadata["language"] = "fra"
        a.metadata["title"] = "Sine 440"
    s = None
    if subtitles:
        s = out.add_mux_stream(subtitles)
        s.time_base = TB
        s.metadata["language"] = "eng"
        s.metadata["title"] = "Dialogue"
        if disposition:
            s.disposition = av.stream.Disposition.forced | av.stream.Disposition.hearing_impaired
    if attachment:
        out.add_attachment("font.ttf", "font/ttf", b"\x00\x01\x00\x00 not really a font")
    if chapters:
        out.set_chapters(
            [
                {"id": 1, "start": 0, "end": 200, "time_base": TB, "metadata": {"title": "One"}},
                {"id": 2, "start": 200, "end": pts[-1] + 40, "time_base": TB, "metadata": {"title": "Two"}},
            ]
        )
    clip = Clip(path)
    rgb = "rgb48le" if deep else "rgb24"
    for i, p in enumerate(pts):
        frame = av.VideoFrame.from_ndarray(frame_pixels(i, width, height, deep, noise), format=rgb)
        if av.VideoFormat(pix_fmt).is_rgb:
            frame = frame.reformat(format=pix_fmt)
        else:
            frame = frame.reformat(format=pix_fmt, dst_colorspace=color[0] if color else None)
        frame.pts, frame.time_base = p, TB
        for packet in v.encode(frame):
            clip.video_packets.append(bytes(packet))
            out.mux(packet)
    for packet in v.encode(None):
        clip.video_packets.append(bytes(packet))
        out.mux(packet)
    if a is not None:
        seconds = (pts[-1] + 40) / 1000
        t = np.arange(int(48000 * seconds)) / 48000
        samples = (np.sin(2 * np.pi * 440 * t) * 0.3 * 32767).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(a.encode(frame))
        out.mux(a.encode(None))
    if s is not None:
        for start, text in ((0, "Hello"), (260, "World")):
            data = text.encode()
            if subtitles == "mov_text":  # MP4 timed text: 16-bit big-endian length, then the text
                data = len(data).to_bytes(2, "big") + data
            packet = av.Packet(data)
            packet.stream, packet.pts, packet.dts, packet.duration, packet.time_base = (
                s,
                start,
                start,
                200,
                TB,
            )
            out.mux(packet)
    out.close()
    return clip


def lossless_rgb_clip(path: Path, **options) -> Clip:
    """A video-only FFV1 RGB clip of odd size (35x27): decoding gives back every pixel written, so an upscaled
    lossless output can be compared with the Upscaler frame by frame. `options` go to make_clip."""
    return make_clip(path, **{"size": (35, 27), "codec": "ffv1", "pix_fmt": "bgr0", "color": None, "audio": None,
                              "subtitles": None, **options})  # fmt: skip


def remux(src: Path, dst: Path, video_only: bool = False, **open_kw) -> Path:
    """Copy `src`'s packets (its video stream alone with `video_only`) into `dst`, re-encoding nothing; `open_kw`
    goes to av.open for the output (format="h264" for a raw stream, options={"movflags": "faststart"})."""
    with av.open(str(src)) as i, av.open(str(dst), "w", **open_kw) as o:
        chosen = i.streams.video[:1] if video_only else list(i.streams)
        streams = {s.index: o.add_stream_from_template(s) for s in chosen}
        for packet in i.demux(chosen):
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                o.mux(packet)
    return dst


def packets(path: Path, kind: str) -> list[tuple[int | None, bytes]]:
    """(pts in seconds x 1e6, payload) of every non-empty packet of the first stream of `kind`."""
    with av.open(str(path)) as c:
        stream = getattr(c.streams, kind)[0]
        return [
            (round(p.pts * p.time_base * 1_000_000), bytes(p))
            for p in c.demux(stream)
            if p.size and p.pts is not None
        ]


def video_frames(path: Path, fmt: str = "rgb24") -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray(format=fmt)) for f in c.decode(video=0)]


def save_compact(path: Path, scale: int = 2, zero: bool = False, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    module, info = build_network("compact", scale=scale, num_feat=8, num_conv=2)
    if zero:
        for p in module.parameters():
            p.data.zero_()
    save_model(path, module, info)
    return path


def interrupt_after(calls: int):
    """An Upscaler.forward that behaves like Ctrl+C arriving during model call number `calls` + 1."""
    from upres.infer.tiling import Upscaler

    original = Upscaler.forward
    left = [calls]

    def forward(upscaler, x):
        left[0] -= 1
        if left[0] < 0:
            raise KeyboardInterrupt
        return original(upscaler, x)

    return forward
