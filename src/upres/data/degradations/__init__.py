"""On-the-fly degradations: one module per kind, composed by `pipeline.degrade`."""

from upres.data.degradations.blur import (
    filter2d,
    gaussian_kernel,
    generalized_gaussian_kernel,
    plateau_kernel,
    random_blur_kernel,
    sinc_kernel,
)
from upres.data.degradations.dither import dither
from upres.data.degradations.jpeg import jpeg_compress
from upres.data.degradations.noise import gaussian_noise, poisson_noise
from upres.data.degradations.options import DegradationOptions, parse_degradation_options
from upres.data.degradations.pair_pool import PairPool
from upres.data.degradations.pipeline import degrade, make_generators
from upres.data.degradations.resize import resize
from upres.data.degradations.sharpen import usm_sharpen
from upres.data.degradations.video import video_compress

__all__ = [
    "DegradationOptions",
    "PairPool",
    "degrade",
    "dither",
    "filter2d",
    "gaussian_kernel",
    "gaussian_noise",
    "generalized_gaussian_kernel",
    "jpeg_compress",
    "make_generators",
    "parse_degradation_options",
    "plateau_kernel",
    "poisson_noise",
    "random_blur_kernel",
    "resize",
    "sinc_kernel",
    "usm_sharpen",
    "video_compress",
]
