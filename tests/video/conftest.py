"""Fixtures for the video tests; the clip makers live in video_clips.py."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("av")

from video_clips import Clip, make_clip, save_compact  # noqa: E402


@pytest.fixture
def model_x2(tmp_path: Path) -> Path:
    return save_compact(tmp_path / "compact_x2.safetensors")


@pytest.fixture
def clip_mkv(tmp_path: Path) -> Clip:
    return make_clip(tmp_path / "in.mkv", rotation=90, attachment=True, chapters=True)
