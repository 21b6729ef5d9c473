"""Which models `upres video` runs: RGB ones, and gray ones on each colour plane as `upres upscale` does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from video_clips import lossless_rgb_clip, make_clip, video_frames

from upres.archs import build_network
from upres.cli import main
from upres.infer.tiling import Upscaler
from upres.io.model_files import load_model, save_model

av = pytest.importorskip("av")


def _compact(path, num_in_ch: int, num_out_ch: int):
    torch.manual_seed(0)
    module, info = build_network(
        "compact", scale=2, num_feat=8, num_conv=2, num_in_ch=num_in_ch, num_out_ch=num_out_ch
    )
    save_model(path, module, info)
    return path


def test_a_gray_model_upscales_each_colour_plane(tmp_path, capsys):
    """A 1-channel model was refused ('video needs a 3-channel (RGB) model'), while `upres upscale` runs it on each
    plane of an RGB image; the lossless output now equals that, plane by plane."""
    model = _compact(tmp_path / "gray.safetensors", 1, 1)
    clip = lossless_rgb_clip(tmp_path / "rgb.mkv")
    out = tmp_path / "out.mkv"
    args = ["video", "-m", str(model), str(clip.path), "-o", str(out), "--codec", "ffv1", "--pix-fmt", "bgr0"]
    assert main([*args, "-q", "--batch", "3"]) == 0, capsys.readouterr().err
    loaded = load_model(model)
    up = Upscaler(loaded.module, loaded.scale)
    decoded, written = video_frames(clip.path), video_frames(out)
    assert [p for p, _ in written] == [p for p, _ in decoded]
    for (_, lr), (_, hr) in zip(decoded, written, strict=True):
        planes = torch.from_numpy(lr).permute(2, 0, 1)[:, None].float() / 255  # (3, 1, H, W): a gray batch
        ref = (up(planes) * 255).round().clamp(0, 255)[:, 0].permute(1, 2, 0).numpy().astype(np.uint8)
        assert hr.shape == (54, 70, 3)
        assert np.array_equal(hr, ref)


def test_a_model_with_other_channels_is_named_with_both_counts(tmp_path, capsys):
    """An RGB-to-gray model was refused as 'this one has 3' (its input), which read as the accepted count."""
    model = _compact(tmp_path / "to_gray.safetensors", 3, 1)
    clip = make_clip(tmp_path / "in.mkv", audio=None, subtitles=None)
    out = tmp_path / "out.mkv"
    assert main(["video", "-m", str(model), str(clip.path), "-o", str(out), "-q"]) == 2
    assert capsys.readouterr().err == (
        f"error: {model}: video needs a model that takes and gives 3 channels (RGB) or 1 (gray); this one takes 3 "
        "and gives 1\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "to_gray.safetensors"]  # nothing written
