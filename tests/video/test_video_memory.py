"""Out of memory during `upres video`: the tile is halved and the batch redone, as `upres upscale` does."""

from __future__ import annotations

import pytest
import torch
from video_clips import VFR_PTS, make_clip, video_frames

from upres.cli import main
from upres.infer.tiling import Upscaler

av = pytest.importorskip("av")


def _out_of_memory_above(width: int, after_calls: int):
    """An Upscaler._run on a device that holds inputs up to `width` pixels wide, and from call `after_calls` + 1
    on (memory taken by another process mid-run) no wider one."""
    original, calls = Upscaler._run, [0]

    def run(upscaler, x):
        calls[0] += 1
        if calls[0] > after_calls and x.shape[-1] > width:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return original(upscaler, x)

    return run


def test_out_of_memory_mid_run_halves_the_tile_and_keeps_every_frame(tmp_path, capsys, model_x2, monkeypatch):
    """One OOM ended the run ("stopped by OutOfMemoryError; no output kept") and deleted the frames encoded."""
    clip = make_clip(tmp_path / "in.mkv", size=(96, 64)).path
    monkeypatch.setattr(Upscaler, "_run", _out_of_memory_above(64, after_calls=3))
    out = tmp_path / "out.mkv"
    code = main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 0, err
    at = VFR_PTS[3] / 1000
    assert err == (
        f"warning: {clip}: out of memory at {at:.3f} s; upscaling in tiles of 48 from there on (--tile 48 starts "
        "that way)"
    )
    assert [p for p, _ in video_frames(out)] == [p for p, _ in video_frames(clip)]
    assert video_frames(out)[0][1].shape == (128, 192, 3)
    assert not (tmp_path / "out.partial.mkv").exists()


def test_out_of_memory_in_the_smallest_tile_still_fails_without_output(
    tmp_path, capsys, model_x2, monkeypatch
):
    clip = make_clip(tmp_path / "in.mkv", size=(96, 64)).path
    monkeypatch.setattr(Upscaler, "_run", _out_of_memory_above(8, after_calls=0))
    out = tmp_path / "out.mkv"
    code = main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"error: {out}: stopped by OutOfMemoryError: CUDA out of memory.")
    assert not out.exists() and not (tmp_path / "out.partial.mkv").exists()
