"""Option model of the on-the-fly degradation pipeline.

Key names and defaults are traiNNer-redux's (which extend Real-ESRGAN's), so a redux option file that leaves a key
out means the same here; with them, only the final resize and a JPEG pass (quality 75-95) degrade the LR.
`REAL_ESRGAN_X4PLUS` holds Real-ESRGAN's x4plus training settings (`options/train/train_realesrgan_x4plus.yml`),
which the shipped OTF templates and docs/examples/otf_x4plus.yml state key by key. Keys that traiNNer-redux does
not have (video, dithering, GT sharpening, JPEG chroma subsampling, noise_prob) are upres additions, all off.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from upres.doc_pages import doc_page
from upres.errors import ConfigError
from upres.option_file import no_bool_for_number

KernelType = Literal["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"]
ResizeMode = Literal["area", "bilinear", "bicubic", "nearest", "nearest-exact", "lanczos"]
Subsampling = Literal["4:4:4", "4:2:2", "4:2:0"]
VideoCodec = Literal["h264", "hevc", "mpeg2"]
DitherMethod = Literal["none", "ordered", "floyd_steinberg"]
DitherPalette = Literal["uniform", "adaptive"]

Prob = float
# Far beyond any published pipeline (Real-ESRGAN: kernels up to 21, resizes up to 1.5x), and small enough that a
# typo does not ask for tens of GB (a 100001-wide kernel, a 1000x resize).
MAX_KERNEL = 201
MAX_RESIZE = 8.0
FloatRange = tuple[float, float]
IntRange = tuple[int, int]

_KERNELS: list[KernelType] = [
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
]
_KERNEL_PROB = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
_MODES: list[ResizeMode] = ["bilinear", "bicubic", "nearest-exact", "lanczos"]
_MODE_PROB = [0.25, 0.25, 0.25, 0.25]

_X4PLUS_MODES = {"list": ["area", "bilinear", "bicubic"], "prob": [1 / 3, 1 / 3, 1 / 3]}
# Real-ESRGAN's train_realesrgan_x4plus.yml: the values where they differ from traiNNer-redux's defaults.
REAL_ESRGAN_X4PLUS: dict = {
    "blur_prob": 1.0, "kernel_range": (7, 21), "blur_sigma": (0.2, 3.0), "sinc_prob": 0.1,
    "resize_range": (0.15, 1.5), "resize_mode_list": _X4PLUS_MODES["list"], "resize_mode_prob": _X4PLUS_MODES["prob"],
    "gaussian_noise_prob": 0.5, "noise_range": (1.0, 30.0), "poisson_scale_range": (0.05, 3.0), "gray_noise_prob": 0.4,
    "jpeg_range": (30.0, 95.0),
    "blur_prob2": 0.8, "kernel_range2": (7, 21), "blur_sigma2": (0.2, 1.5), "sinc_prob2": 0.1,
    "resize_range2": (0.3, 1.2), "resize_mode_list2": _X4PLUS_MODES["list"], "resize_mode_prob2": _X4PLUS_MODES["prob"],
    "gaussian_noise_prob2": 0.5, "noise_range2": (1.0, 25.0), "poisson_scale_range2": (0.05, 2.5),
    "gray_noise_prob2": 0.4, "jpeg_range2": (30.0, 95.0),
    "final_sinc_prob": 0.8, "final_kernel_range": (7, 21),
    "resize_mode_list3": _X4PLUS_MODES["list"], "resize_mode_prob3": _X4PLUS_MODES["prob"],
    "queue_size": 180, "gt_usm": True,
}  # fmt: skip


def _field(default, description: str, **kw):
    if isinstance(default, list):
        return Field(default_factory=lambda d=default: list(d), description=description, **kw)
    return Field(default, description=description, **kw)


class DegradationOptions(BaseModel):
    """Every random choice of the second-order pipeline; see docs/degradations.md."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    _no_bool_for_number = field_validator("*", mode="before")(no_bool_for_number)

    @field_validator("*", mode="before")
    @classmethod
    def _two_ends(cls, value: object, info: ValidationInfo) -> object:
        # pydantic's words for `noise_range: 5` and `[5]` were "Input should be a valid tuple", ".1: Field required"
        ranged = cls.model_fields[info.field_name].annotation in (FloatRange, IntRange)
        if ranged and (not isinstance(value, list | tuple) or len(value) != 2):
            raise ValueError(
                f"give a range as two numbers [min, max] (the same twice for one value), got {value!r}"
            )
        return value

    # ---- first pass: blur
    blur_prob: Prob = _field(0.0, "probability of the first blur")
    kernel_list: list[KernelType] = _field(_KERNELS, "blur kernel kinds of the first pass")
    kernel_prob: list[float] = _field(_KERNEL_PROB, "probability of each kind in `kernel_list` (sums to 1)")
    kernel_range: IntRange = _field((5, 17), "odd kernel sizes [min, max] of the first blur")
    blur_sigma: FloatRange = _field((0.2, 2.0), "Gaussian sigma range (pixels) of the first blur")
    betag_range: FloatRange = _field((0.5, 4.0), "shape beta of generalized Gaussian kernels")
    betap_range: FloatRange = _field((1.0, 2.0), "shape beta of plateau kernels")
    sinc_prob: Prob = _field(0.0, "probability that the first blur is a sinc (ringing) kernel")
    # ---- first pass: resize, noise, JPEG
    resize_prob: list[float] = _field(
        [0.2, 0.7, 0.1], "probabilities of [up, down, keep] in the first resize"
    )
    resize_range: FloatRange = _field((0.4, 1.5), "scale factor range of the first resize")
    resize_mode_list: list[ResizeMode] = _field(_MODES, "interpolation modes of the first resize")
    resize_mode_prob: list[float] = _field(_MODE_PROB, "probability of each mode in `resize_mode_list`")
    gaussian_noise_prob: Prob = _field(0.0, "probability of Gaussian (else Poisson) noise in the first pass")
    noise_range: FloatRange = _field((0.0, 0.0), "Gaussian noise sigma range, in 0-255 units")
    poisson_scale_range: FloatRange = _field((0.0, 0.0), "Poisson noise scale range")
    gray_noise_prob: Prob = _field(0.0, "probability that the noise is the same in all channels")
    noise_prob: Prob = _field(1.0, "probability of adding noise at all in the first pass (upres)")
    jpeg_prob: Prob = _field(1.0, "probability of the first JPEG compression")
    jpeg_range: FloatRange = _field((75.0, 95.0), "JPEG quality range of the first pass")

    # ---- second pass
    blur_prob2: Prob = _field(
        0.0, "probability of the second blur", validation_alias=AliasChoices("blur_prob2", "second_blur_prob")
    )
    kernel_list2: list[KernelType] = _field(_KERNELS, "blur kernel kinds of the second pass")
    kernel_prob2: list[float] = _field(_KERNEL_PROB, "probability of each kind in `kernel_list2`")
    kernel_range2: IntRange = _field((5, 17), "odd kernel sizes [min, max] of the second blur")
    blur_sigma2: FloatRange = _field((0.2, 1.0), "Gaussian sigma range of the second blur")
    betag_range2: FloatRange = _field((0.5, 4.0), "shape beta of generalized Gaussian kernels (second pass)")
    betap_range2: FloatRange = _field((1.0, 2.0), "shape beta of plateau kernels (second pass)")
    sinc_prob2: Prob = _field(0.0, "probability that the second blur is a sinc kernel")
    resize_prob2: list[float] = _field(
        [0.3, 0.4, 0.3], "probabilities of [up, down, keep] in the second resize"
    )
    resize_range2: FloatRange = _field(
        (0.6, 1.2), "scale factor range of the second resize (relative to LR size)"
    )
    resize_mode_list2: list[ResizeMode] = _field(_MODES, "interpolation modes of the second resize")
    resize_mode_prob2: list[float] = _field(_MODE_PROB, "probability of each mode in `resize_mode_list2`")
    gaussian_noise_prob2: Prob = _field(
        0.0, "probability of Gaussian (else Poisson) noise in the second pass"
    )
    noise_range2: FloatRange = _field((0.0, 0.0), "Gaussian noise sigma range of the second pass")
    poisson_scale_range2: FloatRange = _field((0.0, 0.0), "Poisson noise scale range of the second pass")
    gray_noise_prob2: Prob = _field(0.0, "probability of gray noise in the second pass")
    noise_prob2: Prob = _field(1.0, "probability of adding noise at all in the second pass (upres)")
    jpeg_prob2: Prob = _field(1.0, "probability of the final JPEG compression")
    jpeg_range2: FloatRange = _field((75.0, 95.0), "JPEG quality range of the final compression")

    # ---- final stage: resize to the LR size + sinc, and JPEG, in random order
    final_sinc_prob: Prob = _field(0.0, "probability of the final sinc filter")
    final_kernel_range: IntRange = _field((5, 17), "odd kernel sizes [min, max] of the final sinc filter")
    resize_mode_list3: list[ResizeMode] = _field(_MODES, "interpolation modes of the final resize")
    resize_mode_prob3: list[float] = _field(_MODE_PROB, "probability of each mode in `resize_mode_list3`")

    # ---- upres additions
    jpeg_subsampling_list: list[Subsampling] = _field(["4:2:0"], "JPEG chroma subsampling choices")
    jpeg_subsampling_prob: list[float] = _field([1.0], "probability of each `jpeg_subsampling_list` entry")
    video_prob: Prob = _field(
        0.0, "probability of a video-codec round trip of the LR (after the final stage)"
    )
    video_codec_list: list[VideoCodec] = _field(["h264", "hevc", "mpeg2"], "video codecs to choose from")
    video_codec_prob: list[float] = _field([0.5, 0.3, 0.2], "probability of each `video_codec_list` entry")
    video_crf_range: IntRange = _field((18, 35), "CRF range (h264/hevc; mapped to a quantizer for mpeg2)")
    dither_prob: Prob = _field(0.0, "probability of color quantization of the LR (last step)")
    dither_method_list: list[DitherMethod] = _field(["floyd_steinberg", "ordered", "none"], "dither methods")
    dither_method_prob: list[float] = _field(
        [0.4, 0.4, 0.2], "probability of each `dither_method_list` entry"
    )
    dither_palette_list: list[DitherPalette] = _field(["uniform", "adaptive"], "palette kinds")
    dither_palette_prob: list[float] = _field([0.5, 0.5], "probability of each `dither_palette_list` entry")
    dither_bits_range: IntRange = _field((2, 5), "bits per channel of a uniform palette")
    dither_colors_range: IntRange = _field((8, 256), "number of colors of an adaptive palette")
    gt_usm: bool = _field(False, "unsharp-mask the GT before degrading it (Real-ESRGAN does, redux does not)")
    gt_usm_weight: float = _field(0.5, "unsharp-mask strength", ge=0)
    gt_usm_radius: int = _field(50, "unsharp-mask Gaussian kernel size (made odd)", ge=1)
    gt_usm_threshold: float = _field(10.0, "unsharp-mask threshold on |residual| in 0-255 units", ge=0)
    lq_usm: bool = _field(
        False,
        "traiNNer-redux: unsharp-mask the GT copy that is degraded with a radius drawn from `lq_usm_radius_range` "
        "(in place of gt_usm's sharpening of that copy; the loss targets still follow gt_usm)",
    )
    lq_usm_radius_range: IntRange = _field(
        (1, 25), "unsharp-mask kernel sizes [min, max] for lq_usm (made odd)"
    )
    thicklines_prob: Prob = _field(
        0.0,
        "traiNNer-redux: probability of thickening dark lines (a 3x3 erosion blended in at 1/4) before the first blur",
    )
    queue_size: int = _field(120, "training pair pool size (a multiple of the batch size; 0 disables)", ge=0)
    degrade_on: Literal["workers", "device"] = _field(
        "workers",
        "where training degrades: `workers` (the data loader's processes, on the CPU, JPEG by libjpeg) or `device` "
        "(the training device, with the same random draws; JPEG by upres's torch codec, libjpeg-turbo's "
        "arithmetic): for a GPU whose loader workers cannot keep up",
    )

    # Accepted for compatibility with Real-ESRGAN/traiNNer-redux files; kernel sizes come from kernel_range.
    blur_kernel_size: int | None = _field(None, "ignored (legacy key); kernel sizes come from `kernel_range`")
    blur_kernel_size2: int | None = _field(None, "ignored (legacy key); sizes come from `kernel_range2`")

    @model_validator(mode="after")
    def _check(self) -> DegradationOptions:
        for name in type(self).model_fields:
            value = getattr(self, name)
            numbers = value if isinstance(value, tuple | list) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
                # NaN passes every comparison below as "not out of range", and both crashed the sampling later.
                raise ValueError(f"{name}: values must be finite numbers, got {value}")
            if "prob" in name and isinstance(value, float) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: probability {value} is outside [0, 1]")
        for name in (
            "blur_sigma",
            "blur_sigma2",
            "betag_range",
            "betag_range2",
            "betap_range",
            "betap_range2",
        ):
            lo, hi = getattr(self, name)
            _check_range(name, lo, hi)
            if lo <= 0:
                raise ValueError(f"{name}: values must be > 0, got [{lo}, {hi}]")
        for name in ("resize_range", "resize_range2"):
            lo, hi = getattr(self, name)
            _check_range(name, lo, hi)
            if lo <= 0 or hi > MAX_RESIZE:
                raise ValueError(f"{name}: scale factors must lie in (0, {MAX_RESIZE}], got [{lo}, {hi}]")
        for name in ("noise_range", "noise_range2", "poisson_scale_range", "poisson_scale_range2"):
            lo, hi = getattr(self, name)
            _check_range(name, lo, hi)
            if lo < 0:
                raise ValueError(f"{name}: values must be >= 0, got [{lo}, {hi}]")
        for name in ("jpeg_range", "jpeg_range2"):
            lo, hi = getattr(self, name)
            _check_range(name, lo, hi)
            if lo < 1 or hi > 100:
                raise ValueError(f"{name}: JPEG quality must lie in [1, 100], got [{lo}, {hi}]")
            if lo != int(lo) or hi != int(
                hi
            ):  # as kernel_range and video_crf_range: it was rounded half-to-even
                raise ValueError(f"{name}: JPEG quality is a whole number, got [{lo}, {hi}]")
        for name in ("kernel_range", "kernel_range2", "final_kernel_range"):
            lo, hi = getattr(self, name)
            _check_range(name, lo, hi)
            if lo % 2 == 0 or hi % 2 == 0 or lo < 1 or hi > MAX_KERNEL:
                raise ValueError(
                    f"{name}: kernel sizes must be odd, from 1 to {MAX_KERNEL}, got [{lo}, {hi}]"
                )
        lo, hi = self.lq_usm_radius_range
        _check_range("lq_usm_radius_range", lo, hi)
        # A radius is a kernel size: 100001 asked for 120 GB in the first iteration, reported as out of memory.
        if lo < 1 or hi > MAX_KERNEL:
            raise ValueError(f"lq_usm_radius_range: radii must lie in [1, {MAX_KERNEL}], got [{lo}, {hi}]")
        if self.gt_usm_radius > MAX_KERNEL:
            raise ValueError(
                f"gt_usm_radius: a radius must lie in [1, {MAX_KERNEL}], got {self.gt_usm_radius}"
            )
        lo, hi = self.video_crf_range
        _check_range("video_crf_range", lo, hi)
        if lo < 0 or hi > 51:
            raise ValueError(f"video_crf_range: CRF must lie in [0, 51], got [{lo}, {hi}]")
        lo, hi = self.dither_bits_range
        _check_range("dither_bits_range", lo, hi)
        if lo < 1 or hi > 8:
            raise ValueError(f"dither_bits_range: bits must lie in [1, 8], got [{lo}, {hi}]")
        lo, hi = self.dither_colors_range
        _check_range("dither_colors_range", lo, hi)
        if lo < 2 or hi > 256:
            raise ValueError(f"dither_colors_range: colors must lie in [2, 256], got [{lo}, {hi}]")
        for names in (
            ("kernel_list", "kernel_prob"),
            ("kernel_list2", "kernel_prob2"),
            ("resize_mode_list", "resize_mode_prob"),
            ("resize_mode_list2", "resize_mode_prob2"),
            ("resize_mode_list3", "resize_mode_prob3"),
            ("jpeg_subsampling_list", "jpeg_subsampling_prob"),
            ("video_codec_list", "video_codec_prob"),
            ("dither_method_list", "dither_method_prob"),
            ("dither_palette_list", "dither_palette_prob"),
        ):
            _check_choice(self, *names)
        for name in ("resize_prob", "resize_prob2"):
            probs = getattr(self, name)
            if len(probs) != 3:
                raise ValueError(f"{name}: needs 3 probabilities [up, down, keep], got {len(probs)}")
            _check_distribution(name, probs)
            # An up draw is a factor in [1, max], a down draw in [min, 1] (Real-ESRGAN's): one the range leaves empty
            # failed in a loader worker at the first sample that drew it, minutes into a run.
            lo, hi = getattr(self, name.replace("prob", "range"))
            for kind, chance, empty, hint in (
                ("up", probs[0], hi < 1, "raise its second value to 1 or more"),
                ("down", probs[1], lo > 1, "lower its first value to 1 or less"),
            ):
                if chance > 0 and empty:
                    raise ValueError(
                        f"{name.replace('prob', 'range')} [{lo}, {hi}]: {name} gives '{kind}' a chance of {chance:g}, "
                        f"but '{kind}' draws a factor between 1 and the range's {'end' if kind == 'up' else 'start'}; "
                        f"{hint}, or set that chance to 0"
                    )
        if self.video_prob > 0 and not _have_pyav():
            # Here, not at the first sample that draws a round trip: that was minutes into a run, in a loader worker.
            raise ValueError("video_prob > 0 needs PyAV: pip install 'upres[video]', or set video_prob: 0")
        return self


def _have_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _check_range(name: str, lo: float, hi: float) -> None:
    if lo > hi:
        raise ValueError(f"{name}: range [{lo}, {hi}] is backwards; write it as [{hi}, {lo}]")


def _check_distribution(name: str, probs: list[float]) -> None:
    if any(p < 0 for p in probs):
        raise ValueError(f"{name}: probabilities must be >= 0, got {probs}")
    if not math.isclose(sum(probs), 1.0, abs_tol=1e-3):
        raise ValueError(f"{name}: probabilities must add up to 1, got {probs} (sum {sum(probs):g})")


def _check_choice(opts: DegradationOptions, list_name: str, prob_name: str) -> None:
    choices, probs = getattr(opts, list_name), getattr(opts, prob_name)
    if not choices:
        raise ValueError(f"{list_name}: needs at least one entry")
    if len(choices) != len(probs):
        raise ValueError(
            f"{prob_name}: has {len(probs)} probabilities but `{list_name}` has {len(choices)} entries"
        )
    _check_distribution(prob_name, probs)


def parse_degradation_options(
    data: dict, where: str = "options", names: Mapping[str, str] | None = None
) -> DegradationOptions:
    """Validate a dict of degradation keys, turning pydantic's report into one ConfigError naming the key (as
    `names` gives it, e.g. `datasets.train.blur_prob` for a key of the dataset block)."""
    try:
        return DegradationOptions.model_validate(data)
    except ValidationError as exc:
        said = [f"{where}: {_message(err, data, names)}" for err in exc.errors()]
        refused = ConfigError(said[0])
        # Each refused key's line, for the check that says all of an option file's problems.
        refused.every = said
        raise refused from None


def _message(err: Any, data: dict, names: Mapping[str, str] | None) -> str:
    """pydantic's error `err` about a degradation key, in upres's words, naming the key as `names` spells it."""
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown degradation key `{loc}`; see {doc_page('degradations.md')} for the list"
    elif loc:
        got = err.get("input")
        # pydantic's own words do not say what was given ("Input should be 'workers' or 'device'")
        shown = f" (got {got!r})" if err["type"] != "value_error" and not isinstance(got, dict | list) else ""
        msg = f"{loc}: {msg}{shown}"
    key, sep, rest = msg.partition(":")
    head = re.match(r"\w*", key).group()  # "resize_range [0.1, 0.2]: ...", "jpeg_range: ..."
    if "second_blur_prob" in data and "blur_prob2" not in data:  # the key as the file spells it
        names = {**(names or {}), "blur_prob2": (names or {}).get("second_blur_prob", "second_blur_prob")}
    if sep and names and head in names:
        msg = names[head] + key[len(head) :] + sep + rest
    return msg


# Every key a degradation block may hold: the fields, and Real-ESRGAN's spelling of blur_prob2.
DEGRADATION_KEYS = frozenset(DegradationOptions.model_fields) | {"second_blur_prob"}
