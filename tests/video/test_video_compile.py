"""`upres video --compile`: frames within one 8-bit level of the eager Upscaler's, one compiled shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from video_clips import VFR_PTS, lossless_rgb_clip, video_frames

from upres.cli import main
from upres.infer.tiling import Upscaler
from upres.io.model_files import load_model

av = pytest.importorskip("av")


@pytest.mark.slow
def test_compiled_video_matches_the_eager_upscaler(tmp_path, model_x2, capsys):
    clip = lossless_rgb_clip(tmp_path / "rgb.mkv", pts=VFR_PTS[:4])
    out = tmp_path / "out.mkv"
    argv = ["video", "-m", str(model_x2), str(clip.path), "-o", str(out), "-q", "--device", "cpu"]
    capsys.readouterr()
    assert (
        main(
            [
                *argv,
                "--codec",
                "ffv1",
                "--pix-fmt",
                "bgr0",
                "--tile",
                "16",
                "--tile-overlap",
                "8",
                "--compile",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    # Every tile of every frame runs in one 27x32 window: one compile for the whole clip.
    assert err.count("compiling the model for") == 1 and "3x27x32" in err and "Traceback" not in err
    loaded = load_model(model_x2)
    up = Upscaler(loaded.module, loaded.scale)
    written = video_frames(out)
    assert len(written) == 4
    for (_, lr), (_, hr) in zip(video_frames(clip.path), written, strict=True):
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
        ref = (up(x, 16, 8) * 255).round().clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(int)
        # Inductor may reorder float32 sums (~1e-7): a value on a rounding edge can move one 8-bit level.
        assert np.abs(hr.astype(int) - ref).max() <= 1
