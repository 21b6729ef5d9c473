"""`upres video --outscale`: the output at another scale than the model's (a 4x model for a 2x result), as
`upres upscale --outscale` gives images; the frames are resized on the model's device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from video_clips import lossless_rgb_clip, make_clip, save_compact, video_frames

from upres.cli import main
from upres.infer.tiling import Upscaler
from upres.infer.video_output import frame_size
from upres.io.model_files import load_model

av = pytest.importorskip("av")


def _size(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.width, s.codec_context.height


def test_frames_are_the_model_output_resized(tmp_path, capsys):
    """Lossless RGB out: each frame equals the model's output resized bicubically (antialiased) to 1.5x."""
    model = save_compact(tmp_path / "x2.safetensors", scale=2)
    clip = lossless_rgb_clip(tmp_path / "rgb.mkv")  # 35x27
    out = tmp_path / "out.mkv"
    argv = ["video", "-m", str(model), str(clip.path), "-o", str(out), "--codec", "ffv1", "--pix-fmt", "bgr0"]
    assert main([*argv, "--outscale", "1.5", "-q", "--batch", "2", "--device", "cpu"]) == 0, (
        capsys.readouterr().err
    )
    loaded = load_model(model)
    up = Upscaler(loaded.module, loaded.scale)
    written = video_frames(out)
    assert len(written) == len(video_frames(clip.path))
    for (_, lr), (_, hr) in zip(video_frames(clip.path), written, strict=True):
        y = up(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255)
        y = torch.nn.functional.interpolate(
            y, size=(40, 52), mode="bicubic", antialias=True, align_corners=False
        )
        ref = (y * 255).round().clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
        assert hr.shape == (40, 52, 3)  # round(27 * 1.5) = 40, round(35 * 1.5) = 52
        assert np.array_equal(hr, ref)


def test_sides_are_rounded_to_what_4_2_0_takes(tmp_path, capsys):
    """A 1x model on an odd-size clip was refused for yuv420p (after loading everything); --outscale rounds each side
    to the nearest even size."""
    model = save_compact(tmp_path / "x2.safetensors", scale=2)
    clip = make_clip(tmp_path / "odd.mkv", size=(35, 27), pix_fmt="yuv444p", audio=None, subtitles=None)
    out = tmp_path / "out.mkv"
    argv = [
        "video",
        "-m",
        str(model),
        str(clip.path),
        "-o",
        str(out),
        "--pix-fmt",
        "yuv420p",
        "-q",
        "--device",
        "cpu",
    ]
    assert main([*argv, "--outscale", "1"]) == 0, capsys.readouterr().err
    assert _size(out) == (36, 28)
    assert frame_size(35, 27, 2, 1.0, (2, 2)) == (36, 28) and frame_size(35, 27, 2, None) == (70, 54)
    assert frame_size(35, 27, 4, 0.01, (2, 2)) == (2, 2)  # never below one chroma sample
    assert frame_size(35, 27, 4, 3.0) == (105, 81)  # no subsampling: no rounding


@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf", "x"])
def test_a_bad_outscale_is_refused_before_anything_runs(tmp_path, capsys, value):
    clip = make_clip(tmp_path / "in.mkv", audio=None, subtitles=None)
    with pytest.raises(SystemExit) as stop:
        main(
            ["video", "-m", "nowhere.pth", str(clip.path), "-o", str(tmp_path / "o.mkv"), "--outscale", value]
        )
    assert stop.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error: upres video: argument --outscale: ") and value in err
    assert not (tmp_path / "o.mkv").exists()


def test_the_library_refuses_a_bad_outscale_too(tmp_path):
    from upres.infer.video import VideoOptions, upscale_video
    from upres.io.video import VideoOutputError

    model = load_model(save_compact(tmp_path / "x2.safetensors"))
    clip = make_clip(tmp_path / "in.mkv", audio=None, subtitles=None)
    with pytest.raises(VideoOutputError, match=r"^--outscale 0: must be a number greater than 0$"):
        upscale_video(Upscaler(model.module, 2), clip.path, tmp_path / "o.mkv", VideoOptions(outscale=0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "x2.safetensors"]
