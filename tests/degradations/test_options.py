from __future__ import annotations

import pytest

from upres.data.degradations.options import REAL_ESRGAN_X4PLUS, DegradationOptions, parse_degradation_options
from upres.errors import ConfigError


def test_defaults_are_traiNNer_redux_s():
    """An OTF key a redux file leaves out means what it means there (issue 15)."""
    from upres.train.redux_keys import _plain, redux_keys

    o, checked = DegradationOptions(), 0
    for key, rk in redux_keys().items():
        name = key.removeprefix("datasets.*.")
        if "." not in name and name in DegradationOptions.model_fields and "blur_kernel_size" not in name:
            assert _plain(getattr(o, name)) == rk.default, name
            checked += 1
    assert checked >= 40
    assert (o.blur_prob, o.jpeg_range, o.noise_range, o.queue_size, o.gt_usm) == (
        0,
        (75, 95),
        (0, 0),
        120,
        False,
    )


def test_x4plus_preset_is_real_esrgan_x4plus():
    o = DegradationOptions(**REAL_ESRGAN_X4PLUS)
    assert o.kernel_prob == [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
    assert (o.blur_sigma, o.blur_sigma2) == ((0.2, 3.0), (0.2, 1.5))
    assert (o.resize_prob, o.resize_range) == ([0.2, 0.7, 0.1], (0.15, 1.5))
    assert (o.resize_prob2, o.resize_range2) == ([0.3, 0.4, 0.3], (0.3, 1.2))
    assert (o.noise_range, o.noise_range2, o.poisson_scale_range2) == ((1, 30), (1, 25), (0.05, 2.5))
    assert (o.jpeg_range, o.jpeg_range2, o.blur_prob2, o.final_sinc_prob) == ((30, 95), (30, 95), 0.8, 0.8)
    assert (o.kernel_range, o.queue_size, o.gt_usm) == ((7, 21), 180, True)
    assert (o.blur_prob, o.resize_mode_list) == (1.0, ["area", "bilinear", "bicubic"])


@pytest.mark.parametrize(
    "path", ["docs/examples/otf_x4plus.yml", "src/upres/options/esrgan_x4_otf_fidelity.yml",
             "src/upres/options/esrgan_x4_otf_gan.yml"],
)  # fmt: skip
def test_x4plus_files_state_the_x4plus_settings(path):
    from pathlib import Path

    from upres.data.otf_dataset import degradation_options_from
    from upres.option_file import read_option_file

    data = read_option_file(Path(__file__).resolve().parents[2] / path)
    opts = degradation_options_from(data["datasets"]["train"], data)
    expected = DegradationOptions(**REAL_ESRGAN_X4PLUS)
    for name in DegradationOptions.model_fields:
        mine, theirs = getattr(opts, name), getattr(expected, name)
        if isinstance(theirs, list) and theirs and isinstance(theirs[0], float):
            assert mine == pytest.approx(theirs, abs=1e-3), name
        else:
            assert mine == theirs, name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"blur_prob": 1.5}, "options: blur_prob: probability 1.5 is outside [0, 1]"),
        ({"jpeg_prob2": -0.1}, "options: jpeg_prob2: probability -0.1 is outside [0, 1]"),
        (
            {"kernel_range": [7, 20]},
            "options: kernel_range: kernel sizes must be odd, from 1 to 201, got [7, 20]",
        ),
        (
            {"final_kernel_range": [8, 9]},
            "options: final_kernel_range: kernel sizes must be odd, from 1 to 201, got [8, 9]",
        ),
        # These passed the checks and then crashed the sampling (NaN compares as in range) or ran out of memory.
        (
            {"noise_range": [0, float("inf")]},
            "options: noise_range: values must be finite numbers, got (0.0, inf)",
        ),
        (
            {"blur_sigma": [float("nan"), 1]},
            "options: blur_sigma: values must be finite numbers, got (nan, 1.0)",
        ),
        (
            {"jpeg_range": [float("nan"), 50]},
            "options: jpeg_range: values must be finite numbers, got (nan, 50.0)",
        ),
        (
            {"kernel_range": [100001, 100001]},
            "options: kernel_range: kernel sizes must be odd, from 1 to 201, got [100001, 100001]",
        ),
        (
            {"lq_usm_radius_range": [100001, 100001]},
            "options: lq_usm_radius_range: radii must lie in [1, 201], got [100001, 100001]",
        ),
        ({"gt_usm_radius": 100001}, "options: gt_usm_radius: a radius must lie in [1, 201], got 100001"),
        (
            {"resize_range": [1, 1000]},
            "options: resize_range: scale factors must lie in (0, 8.0], got [1.0, 1000.0]",
        ),
        (
            {"noise_range2": [25, 1]},
            "options: noise_range2: range [25.0, 1.0] is backwards; write it as [1.0, 25.0]",
        ),
        (
            {"jpeg_range": [95, 30]},
            "options: jpeg_range: range [95.0, 30.0] is backwards; write it as [30.0, 95.0]",
        ),
        ({"jpeg_range": [0, 90]}, "options: jpeg_range: JPEG quality must lie in [1, 100], got [0.0, 90.0]"),
        (
            {"kernel_prob": [0.5, 0.5]},
            "options: kernel_prob: has 2 probabilities but `kernel_list` has 6 entries",
        ),
        (
            {"resize_mode_list3": ["area", "bilinear", "bicubic"], "resize_mode_prob3": [0.5, 0.2, 0.2]},
            "options: resize_mode_prob3: probabilities must add up to 1, got [0.5, 0.2, 0.2] (sum 0.9)",
        ),
        ({"resize_prob": [0.5, 0.5]}, "options: resize_prob: needs 3 probabilities [up, down, keep], got 2"),
        (
            {"blur_sigmaa": [1, 2]},
            "options: unknown degradation key `blur_sigmaa`; see docs/degradations.md in upres's source tree for the list",
        ),
        ({"dither_bits_range": [0, 4]}, "options: dither_bits_range: bits must lie in [1, 8], got [0, 4]"),
        ({"queue_size": -1}, "options: queue_size: Input should be greater than or equal to 0 (got -1)"),
    ],
)
def test_wrong_values_are_refused_naming_the_key(data, message):
    with pytest.raises(ConfigError) as exc:
        parse_degradation_options(data)
    assert str(exc.value) == message


def test_real_esrgan_second_blur_prob_alias():
    assert parse_degradation_options({"second_blur_prob": 0.3}).blur_prob2 == 0.3


def test_a_bad_second_blur_prob_is_named_as_the_file_spells_it():
    """The error named `blur_prob2`, a key the user's Real-ESRGAN file does not have."""
    with pytest.raises(ConfigError) as exc:
        parse_degradation_options({"second_blur_prob": 2}, "o.yml")
    assert str(exc.value) == "o.yml: second_blur_prob: probability 2.0 is outside [0, 1]"
    with pytest.raises(ConfigError) as exc:
        parse_degradation_options(
            {"second_blur_prob": 2}, "o.yml", {"second_blur_prob": "datasets.train.second_blur_prob"}
        )
    assert str(exc.value) == "o.yml: datasets.train.second_blur_prob: probability 2.0 is outside [0, 1]"


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            {"resize_range": [0.15, 0.5]},
            "resize_range [0.15, 0.5]: resize_prob gives 'up' a chance of 0.2, but 'up' draws a factor between 1 "
            "and the range's end; raise its second value to 1 or more, or set that chance to 0",
        ),
        (
            {"resize_range2": [1.5, 4]},
            "resize_range2 [1.5, 4.0]: resize_prob2 gives 'down' a chance of 0.4, but 'down' draws a factor "
            "between 1 and the range's start; lower its first value to 1 or less, or set that chance to 0",
        ),
    ],
)
def test_a_resize_range_that_leaves_a_drawn_direction_empty_is_refused_when_read(data, said):
    """It was accepted, then failed in a loader worker ('high - low < 0') at the first sample that drew it."""
    with pytest.raises(ConfigError) as exc:
        parse_degradation_options(data, "o.yml")
    assert str(exc.value) == f"o.yml: {said}"
    # the same range is fine where that direction is never drawn
    probs = {"resize_prob": [0, 0.7, 0.3]} if "resize_range" in data else {"resize_prob2": [0.3, 0, 0.7]}
    parse_degradation_options({**data, **probs}, "o.yml")


def test_real_esrgan_s_second_blur_prob_at_the_top_level_of_a_training_file():
    """`upres degrade` took it there and `upres train` refused it ("did you mean 'blur_prob'")."""
    from upres.train.config import parse_options

    opts = parse_options(
        {
            "name": "t",
            "scale": 2,
            "high_order_degradation": True,
            "network_g": {"type": "compact"},
            "second_blur_prob": 0.5,
            "datasets": {"train": {"type": "realesrgandataset", "dataroot_gt": "hr", "lq_size": 16}},
        }
    )
    assert opts.degradation["second_blur_prob"] == 0.5


def test_jpeg_quality_fractions_are_refused_not_rounded():
    """[30.4, 30.6] gave quality 30 or 31 (half-to-even) without a word; kernel sizes and CRF refuse fractions."""
    with pytest.raises(ConfigError) as exc:
        parse_degradation_options({"jpeg_range": [30.4, 30.6]}, "o.yml")
    assert str(exc.value) == "o.yml: jpeg_range: JPEG quality is a whole number, got [30.4, 30.6]"
    assert parse_degradation_options({"jpeg_range": [30.0, 95]}, "o.yml").jpeg_range == (30.0, 95.0)


@pytest.mark.parametrize(
    ("data", "got"),
    [
        ({"noise_range": 5}, "5"),
        ({"kernel_range2": [7]}, "[7]"),
        ({"jpeg_range": [30, 60, 95]}, "[30, 60, 95]"),
    ],
)
def test_a_range_that_is_not_two_numbers_says_how_to_write_one(data, got):
    """`noise_range: 5` said "Input should be a valid tuple", and `[7]` "kernel_range2.1: Field required"."""
    with pytest.raises(ConfigError) as exc:
        parse_degradation_options(data)
    key = next(iter(data))
    assert str(exc.value) == (
        f"options: {key}: give a range as two numbers [min, max] (the same twice for one value), got {got}"
    )
