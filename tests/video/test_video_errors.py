"""Bad inputs and interruptions: one-line errors with the right exit code, never a file that looks complete."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from video_clips import VFR_PTS, interrupt_after, make_clip, packets, remux, save_compact, video_frames

from upres.archs import build_network
from upres.cli import main
from upres.cli.video import Progress, format_eta, parse_time
from upres.infer.tiling import Upscaler
from upres.io.model_files import save_model

SRC = Path(__file__).resolve().parents[2] / "src"

av = pytest.importorskip("av")


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(["video", *map(str, args), "-q"])
    return code, capsys.readouterr().err.strip()


def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("out"))


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "in.mkv", audio="flac", subtitles="subrip", attachment=True).path


def test_not_a_video(tmp_path, capsys, model_x2):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello, not a video")
    code, err = _run(capsys, "-m", model_x2, bad, "-o", tmp_path / "out.mkv")
    assert (code, err) == (
        2,
        f"error: {bad}: not a video file FFmpeg can read (Invalid data found when processing input)",
    )
    assert _outputs(tmp_path) == []


def test_no_video_stream(tmp_path, capsys, model_x2):
    audio_only = tmp_path / "sound.mka"
    with av.open(str(audio_only), "w") as out:
        stream = out.add_stream("flac", rate=48000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    code, err = _run(capsys, "-m", model_x2, audio_only, "-o", tmp_path / "out.mkv")
    assert (code, err) == (2, f"error: {audio_only}: has no video stream (streams: audio flac)")


def test_undecodable_video_codec(tmp_path, capsys, model_x2):
    clip = make_clip(
        tmp_path / "ffv1.mkv", codec="ffv1", pix_fmt="bgr0", color=None, audio=None, subtitles=None
    )
    raw = clip.path.read_bytes()
    assert raw.count(b"FFV1") == 1  # the codec's FourCC in the Matroska header
    unknown = tmp_path / "unknown.mkv"
    unknown.write_bytes(raw.replace(b"FFV1", b"QQQQ"))
    code, err = _run(capsys, "-m", model_x2, unknown, "-o", tmp_path / "out.mkv")
    assert (code, err) == (
        2,
        f"error: {unknown}: video codec 'unknown' cannot be decoded by this FFmpeg build; "
        "convert it first or install a PyAV build with that decoder",
    )


def test_a_stream_whose_data_does_not_decode_is_called_damaged_not_unsupported(tmp_path, capsys, model_x2):
    """Matroska's length-prefixed H.264 written as a raw .h264 without conversion: the decoder is in the build but
    finds no picture size. It was reported as a codec this FFmpeg build cannot decode."""
    src = make_clip(tmp_path / "in.mkv", audio=None, subtitles=None).path
    raw = remux(src, tmp_path / "in.h264", video_only=True, format="h264")
    code, err = _run(capsys, "-m", model_x2, raw, "-o", tmp_path / "out.mkv")
    # FFmpeg's raw-H.264 demuxer either opens the file and finds no picture size, or refuses it at probing: which
    # depends on the bytes x264 wrote (its threads order slices differently run to run) and the probe's budget.
    # Both name the data, never the FFmpeg build, and both are exit 2.
    assert code == 2 and "this FFmpeg build" not in err
    assert err in (
        f"error: {raw}: its h264 video gives no picture size: the stream's data is damaged or not what the file "
        "name says; check that it plays elsewhere",
        f"error: {raw}: not a video file FFmpeg can read (Invalid data found when processing input)",
    )


def test_still_image(tmp_path, capsys, model_x2):
    from PIL import Image

    png = tmp_path / "photo.png"
    Image.new("RGB", (16, 12), (10, 20, 30)).save(png)
    code, err = _run(capsys, "-m", model_x2, png, "-o", tmp_path / "out.mkv")
    assert (code, err) == (2, f"error: {png}: a still image, not a video; use `upres upscale` for images")


def test_output_equal_to_input(tmp_path, capsys, clip, model_x2):
    before = clip.read_bytes()
    code, err = _run(capsys, "-m", model_x2, clip, "-o", tmp_path / "sub" / ".." / clip.name)
    assert (code, err) == (
        2,
        f"error: {tmp_path / 'sub' / '..' / clip.name}: output is the input file; choose another output path",
    )
    assert clip.read_bytes() == before


def test_stream_that_does_not_fit_the_container_suggests_one(tmp_path, capsys, clip, model_x2):
    code, err = _run(capsys, "-m", model_x2, clip, "-o", tmp_path / "out.mp4")
    assert (code, err) == (
        2,
        "error: .mp4 cannot hold stream #2 (subtitle srt, language eng, title Dialogue), "
        "stream #3 (attachment font/ttf); use .mkv, which takes every stream",
    )
    assert _outputs(tmp_path) == []


def test_video_codec_that_does_not_fit_the_container(tmp_path, capsys, model_x2):
    clip = make_clip(tmp_path / "in.mp4", audio="aac", subtitles=None)
    code, err = _run(capsys, "-m", model_x2, clip.path, "-o", tmp_path / "out.webm")
    assert (code, err) == (
        2,
        "error: .webm cannot hold video codec h264, stream #1 (audio aac, language fra, title Sine 440); use .mkv, which takes every stream",
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--codec", "nope"],
            "--codec nope: not a video encoder in this FFmpeg build; try libx264, libx265, libsvtav1 or ffv1",
        ),
        (
            ["--codec", "aac"],
            "--codec aac: not a video encoder in this FFmpeg build; try libx264, libx265, libsvtav1 or ffv1",
        ),
        (
            ["--pix-fmt", "rgb24"],
            "--pix-fmt rgb24: libx264 takes yuv420p, yuvj420p, yuv422p, yuvj422p, yuv444p, yuvj444p, nv12, nv16, nv21, yuv420p10le, yuv422p10le, yuv444p10le, nv20le, gray, gray10le",
        ),
        (["--start", "0.4", "--end", "0.2"], "--end 0.2 is not after --start 0.4"),
        (["--start", "60"], "{clip}: no video frame could be decoded in the chosen time range"),
        (["--tile", "big"], "--tile big: use auto, 0 or a size in pixels"),
        (["--device", "gpu"], "--device 'gpu' is not a device; use auto, cpu, cuda or cuda:N"),
        (
            ["--codec", "libsvtav1", "--preset", "fast"],
            "--preset fast: libsvtav1 takes a number from -1 (slowest) to 13 (fastest)",
        ),
        (
            [
                "--codec",
                "mjpeg",
            ],  # wants full-range YUV: the encoder's open fails, after the checks upres can make
            "{out}: the mjpeg encoder refused its settings (Invalid argument); no output kept. Try another "
            "--pix-fmt, --preset or --crf for it, or another --codec",
        ),
    ],
)
def test_bad_options(tmp_path, capsys, clip, model_x2, extra, message):
    code, err = _run(capsys, "-m", model_x2, clip, "-o", tmp_path / "out.mkv", *extra)
    assert (code, err) == (2, "error: " + message.format(clip=clip, out=tmp_path / "out.mkv"))
    assert _outputs(tmp_path) == []


def test_start_in_a_raw_stream_names_the_input_and_the_fix(tmp_path, capsys, model_x2):
    """A raw .h264 cannot seek: the error was "stopped by PermissionError", named after the output."""

    src = make_clip(tmp_path / "in.mkv", size=(64, 48), pts=[i * 40 for i in range(48)], subtitles=None).path
    raw = remux(src, tmp_path / "in.h264", video_only=True, format="h264")
    code, err = _run(capsys, "-m", model_x2, raw, "-o", tmp_path / "out.mkv", "--start", "0.2")
    assert (code, err) == (
        2,
        f"error: {raw}: cannot seek in this file (Operation not permitted), so --start cannot be used with it; remux "
        "it into .mkv first (e.g. ffmpeg -i IN -c copy IN.mkv) or leave out --start",
    )
    assert _outputs(tmp_path) == []


def test_unknown_output_extension(tmp_path, capsys, clip, model_x2):
    code, err = _run(capsys, "-m", model_x2, clip, "-o", tmp_path / "out.xyz")
    assert (code, err) == (
        2,
        f"error: {tmp_path / 'out.xyz'}: unknown container extension '.xyz'; use .mkv, .mp4 or .mov",
    )


def test_odd_output_size_for_subsampled_chroma(tmp_path, capsys):
    model = save_compact(tmp_path / "x1.safetensors", scale=1)
    clip = make_clip(tmp_path / "odd.mkv", size=(35, 27), pix_fmt="yuv444p", audio=None, subtitles=None)
    code, err = _run(capsys, "-m", model, clip.path, "-o", tmp_path / "out.mkv", "--pix-fmt", "yuv420p")
    assert (code, err) == (
        2,
        "error: output size 35x27 does not fit yuv420p's chroma subsampling; "
        "use --pix-fmt yuv444p, a model with an even scale, or --outscale (which rounds the sides to fit)",
    )


def _corrupt_middle_packet(tmp_path: Path) -> tuple[Path, Path]:
    """PNG-coded video in MOV with a damaged IDAT in frame 4: the decoder rejects that packet."""
    clip = make_clip(
        tmp_path / "good.mov", codec="png", pix_fmt="rgb24", color=None, audio="aac", subtitles=None
    )
    raw = bytearray(clip.path.read_bytes())
    victim = clip.video_packets[4]
    at = raw.find(victim)
    assert at > 0
    mid = at + len(victim) // 2
    raw[mid : mid + 64] = b"\xff" * 64
    bad = tmp_path / "damaged.mov"
    bad.write_bytes(bytes(raw))
    return clip.path, bad


@pytest.mark.parametrize("threads", [[], ["--codec-threads", "16"]])
def test_corrupt_packet_is_skipped_with_a_warning_and_audio_kept(tmp_path, capsys, model_x2, threads):
    """Also with as many decoder threads as a 16-core machine gives: a frame-threaded decoder lost every frame it
    held when the error came out while it drained them (all 9 good frames of this 10-frame clip there)."""
    good, bad = _corrupt_middle_packet(tmp_path)
    out = tmp_path / "out.mov"  # MOV keeps AAC's negative start; Matroska would shift every stream by 21 ms
    code = main(["video", "-m", str(model_x2), str(bad), "-o", str(out), "-q", *threads])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    with av.open(str(bad)) as c:
        tb = c.streams.video[0].time_base
    first = captured.err.splitlines()[0]
    assert first.startswith(f"warning: {bad}: skipped a damaged video packet near {VFR_PTS[4] / 1000:.3f} s ")
    assert first.endswith(
        " s (Generic error in an external library)"
    )  # zlib's complaint, via the PNG decoder
    assert captured.err.splitlines()[-1] == (
        f"warning: {bad}: skipped 1 damaged video packet(s); audio and subtitles kept their timing"
    )
    # Every other frame is there at its own time; the audio is untouched.
    want = [round(Fraction(p, 1000) / tb) for i, p in enumerate(VFR_PTS) if i != 4]
    assert [p for p, _ in video_frames(out)] == want
    assert packets(out, "audio") == packets(good, "audio")


def test_ctrl_c_leaves_a_playable_partial_file_under_a_clear_name(
    tmp_path, capsys, clip, model_x2, monkeypatch
):
    monkeypatch.setattr(Upscaler, "forward", interrupt_after(3))
    out = tmp_path / "out.mkv"
    code, err = _run(capsys, "-m", model_x2, clip, "-o", out)
    partial = tmp_path / "out.partial.mkv"
    assert code == 130, err
    last = VFR_PTS[2] / 1000 + 0.041
    assert err == (
        f"interrupted: {partial} is a partial output with 3 frames (ends at {last:.3f} s); it plays, but {out} was "
        f"not written. Resuming is not supported (see docs/video.md in upres's source tree): continue with --start {last:.3f} into "
        "another file"
    )
    assert not out.exists()
    assert [p for p, _ in video_frames(partial)] == VFR_PTS[:3]
    # The audio stops where the video stops, so `--start <that time>` continues it without overlap or gap.
    kept = packets(partial, "audio")
    assert kept == [(t, d) for t, d in packets(clip, "audio") if t < last * 1_000_000]
    assert 0 < len(kept) < len(packets(clip, "audio"))
    with av.open(str(partial)) as c:
        assert [s.type for s in c.streams] == ["video", "audio", "subtitle", "attachment"]
        assert c.duration is not None


def test_parse_time():
    assert parse_time("12.5") == 12.5
    assert parse_time("1:02.5") == 62.5
    assert parse_time("1:00:01") == 3601
    for bad in (
        "",
        "a:b",
        "-1",
        "1:2:3:4",
        "nan",
        "inf",
        "1e400",
        "1:nan",
    ):  # non-finite ended in a traceback
        with pytest.raises(argparse.ArgumentTypeError):
            parse_time(bad)


def test_plain_progress_prints_frames_fps_and_eta(capsys):
    progress = Progress(every=0.0)
    progress.tty = False
    with progress:
        progress.update(5, 10)
    line = capsys.readouterr().err.strip()
    assert line.startswith("frames 5/10, ") and " fps, ETA " in line
    assert format_eta(3725) == "1:02:05" and format_eta(65) == "1:05"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a child process on Windows")
def test_real_sigint_leaves_a_playable_partial_file(tmp_path):
    """The real thing: SIGINT to `upres video` while frames are being upscaled."""
    model = tmp_path / "suc.safetensors"
    module, info = build_network("superultracompact", scale=2)
    save_model(model, module, info)
    clip = make_clip(tmp_path / "in.mkv", size=(320, 240), pts=[i * 40 for i in range(150)], subtitles=None)
    out = tmp_path / "out.mkv"
    partial = tmp_path / "out.partial.mkv"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    # On the CPU: on a GPU the 149 other frames of this small model can be written before the signal lands.
    cmd = [
        sys.executable,
        "-m",
        "upres",
        "video",
        "-m",
        str(model),
        str(clip.path),
        "-o",
        str(out),
        "--device",
        "cpu",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()  # the plain progress line printed after the first frame
    assert first.startswith("frames 1/"), first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert not out.exists()
    frames = video_frames(partial)
    assert 0 < len(frames) < 150
    assert [p for p, _ in frames] == [i * 40 for i in range(len(frames))]
    assert err.strip().startswith(
        f"interrupted: {partial} is a partial output with {len(frames)} frames (ends at "
    )


def test_the_continuation_time_never_skips_the_next_frame():
    """The frame after the last one kept starts at the partial file's end: rounded to the nearest millisecond, 1.2817
    became --start 1.282, which left the frame at 1.2817 out of both parts."""
    from upres.cli.video import resume_time

    assert resume_time(1.2817) == 1.281
    assert resume_time(0.583917) == 0.583
    assert [resume_time(t) for t in (0.131, 0.29, 0.57, 1.0, 0.0)] == [0.131, 0.29, 0.57, 1.0, 0.0]


def test_an_interrupted_runs_partial_output_is_kept_unless_forced(tmp_path, capsys, clip, model_x2):
    """The partial file an interrupted run left plays and the message says to continue from it: the same command
    again wrote over it and renamed it to OUT."""
    out = tmp_path / "out.mkv"
    partial = tmp_path / "out.partial.mkv"
    partial.write_bytes(b"an earlier run's partial output")
    code, err = _run(capsys, "-m", model_x2, clip, "-o", out)
    assert (code, err) == (
        2,
        f"error: {partial}: the partial output of an interrupted run is there; move it away to keep it, or add "
        "--force to replace it",
    )
    assert partial.read_bytes() == b"an earlier run's partial output" and not out.exists()
    code, _ = _run(capsys, "-m", model_x2, clip, "-o", out, "--force")
    assert code == 0 and out.is_file() and not partial.exists()


def test_a_file_cut_short_in_its_audio_is_reported_damaged(tmp_path, capsys, model_x2):
    """Index at the front (faststart) and the last 300 bytes gone, which were audio: the cut packet was copied as it
    is and the run ended clean (exit 0)."""
    clip = make_clip(
        tmp_path / "src.mp4", size=(64, 48), pts=[i * 40 for i in range(48)], subtitles=None, audio="aac"
    )
    full = remux(clip.path, tmp_path / "full.mp4", options={"movflags": "faststart"})  # index at the front
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[:-300])
    code, err = _run(capsys, "-m", model_x2, cut, "-o", tmp_path / "out.mp4")
    assert code == 1
    # The cut runs through the file's last audio packets: the one it cuts short is among the last three.
    last = [f"{t / 1e6:.3f}" for t, _ in packets(full, "audio")[-3:]]
    assert any(
        err
        == (
            f"warning: {cut}: a damaged audio packet at {at} s is copied as it is (cut short or flagged by the "
            "demuxer: the file looks truncated or damaged)"
        )
        for at in last
    ), err
    code, err = _run(capsys, "-m", model_x2, full, "-o", tmp_path / "out_full.mp4")
    assert (code, err) == (0, "")
