"""The frame count the progress line and its ETA count towards with --start/--end is the count written: rounding
(end - start) x rate expected one frame too many whenever --start fell between two frames (the bar ended at 173/174)."""

from __future__ import annotations

from pathlib import Path

import pytest
from video_clips import make_clip, video_frames

from upres.infer.tiling import Upscaler
from upres.infer.video import VideoOptions, upscale_video
from upres.io.model_files import load_model

STEADY = [round(i * 1000 / 24) for i in range(48)]  # two seconds at 24 frames/s (ms)


def _run(
    model: Path, clip: Path, out: Path, start: float | None, end: float | None
) -> tuple[int | None, int]:
    loaded = load_model(model)
    totals: list[int | None] = []
    opts = VideoOptions(start=start, end=end, preset="ultrafast")
    result = upscale_video(
        Upscaler(loaded.module, loaded.scale), clip, out, opts, progress=lambda d, t: totals.append(t)
    )
    assert result.frames == len(video_frames(out))
    return totals[-1], result.frames


@pytest.mark.parametrize("start, end", [(0.3, None), (1.01, None), (0.3, 1.0), (None, 0.99), (0.25, 0.75)])
def test_the_expected_total_is_the_count_written(tmp_path, model_x2, start, end):
    clip = make_clip(tmp_path / "in.mkv", pts=STEADY, audio=None, subtitles=None).path
    total, written = _run(model_x2, clip, tmp_path / "out.mkv", start, end)
    assert total == written


def test_the_shared_clips_range_total_is_the_count_written(tmp_path, shared_data, model_x2):
    clip = shared_data / "inputs" / "onepiece_demo.mp4"
    total, written = _run(model_x2, clip, tmp_path / "out.mkv", 6.9, None)
    assert (total, written) == (15, 15)  # 23.976 frames/s: the frames from 166 (6.923 s) to 180
