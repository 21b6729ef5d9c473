from __future__ import annotations

import pytest
import torch

pytest.importorskip("av")

from upres.data.degradations.video import video_compress  # noqa: E402


@pytest.mark.parametrize("codec", ["h264", "hevc", "mpeg2"])
def test_video_roundtrip_changes_image_and_keeps_size(photo, codec):
    img = photo[:, :45, :63]  # odd sides: padded for yuv420p internally and cropped back
    out = video_compress(img, codec, 30)
    assert out.shape == img.shape
    err = float((out - img).abs().mean())
    assert 0.002 < err < 0.15


def test_higher_crf_loses_more(photo):
    errs = [float((video_compress(photo, "h264", crf) - photo).abs().mean()) for crf in (10, 30, 45)]
    assert errs[0] < errs[1] < errs[2]


def test_video_is_deterministic(photo):
    assert torch.equal(video_compress(photo, "h264", 28), video_compress(photo, "h264", 28))
