"""thicklines_prob (traiNNer-redux): a 3x3 erosion blended in at a quarter thickens dark lines before the blur."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from upres.data.degradations import DegradationOptions, degrade, make_generators
from upres.data.degradations.thicklines import erode, thick_lines
from upres.train.config import parse_options

OFF = dict(
    blur_prob=0, blur_prob2=0, noise_prob=0, noise_prob2=0, jpeg_prob=0, jpeg_prob2=0, final_sinc_prob=0,
    resize_prob=[0, 0, 1], resize_prob2=[0, 0, 1], gt_usm=False,
)  # fmt: skip


def test_erosion_is_the_grey_erosion_of_a_3x3_window():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = torch.rand(2, 3, 9, 11)
    want = ndimage.grey_erosion(x.numpy(), size=(1, 1, 3, 3), mode="nearest")
    np.testing.assert_array_equal(erode(x).numpy(), want)


def test_a_one_pixel_dark_line_becomes_three_pixels_wide_at_a_quarter_contrast():
    x = torch.ones(1, 1, 8, 8)
    x[..., :, 4] = 0.0
    out = thick_lines(x)
    assert torch.equal(out[0, 0, 3], torch.tensor([1, 1, 1, 0.75, 0, 0.75, 1, 1]))
    flat = torch.full((1, 3, 5, 5), 0.4)
    assert torch.equal(thick_lines(flat), flat)


def test_pipeline_applies_it_before_the_rest_only_when_drawn():
    gt = torch.rand(3, 16, 16)
    gt[:, :, 8] = 0
    opts = DegradationOptions(**OFF)

    def run(o: DegradationOptions, image: torch.Tensor) -> torch.Tensor:
        rng, gen = make_generators(3)
        return degrade(image, o, 1, rng, gen)

    thick = run(DegradationOptions(**OFF, thicklines_prob=1.0), gt)
    torch.testing.assert_close(thick, run(opts, thick_lines(gt[None])[0]))
    assert not torch.equal(thick, run(opts, gt))
    # Off (redux's default 0): no random draw is spent on it, so LRs of existing files stay the same.
    full = DegradationOptions()
    rng_a, gen_a = make_generators(7)
    rng_b, gen_b = make_generators(7)
    assert torch.equal(
        degrade(gt, full, 2, rng_a, gen_a),
        degrade(gt, full.model_copy(update={"thicklines_prob": 0.0}), 2, rng_b, gen_b),
    )


def test_redux_top_level_key_is_read_into_the_degradations():
    opts = parse_options(
        {
            "name": "x",
            "scale": 2,
            "high_order_degradation": True,
            "thicklines_prob": 0.3,
            "datasets": {"train": {"type": "realesrgandataset", "dataroot_gt": "hr"}},
            "network_g": {"type": "compact"},
        }
    )
    assert opts.degradation["thicklines_prob"] == 0.3
