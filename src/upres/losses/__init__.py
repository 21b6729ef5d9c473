"""Loss registry: traiNNer-redux's option names (`train.losses[].type`) -> constructors.

Contract for callers (the training loop):
- every loss module returns an *unweighted* scalar; the caller multiplies by `loss_weight` and skips the loss
  before `start_iter` (`LossEntry.active(it)` / `LossEntry.weight`);
- what a loss is called with depends on `LossEntry.inputs`:
  `"sr_gt"`: `loss(sr, gt)`; `"ldl"`: `loss(sr, gt, sr_ema)`; `"generator"`: `loss(net_g, lq, sr)`;
  `"gan"`: the GAN loss is used by `upres.train.gan_step`, not called directly;
- a loss with weight 0 is off (`build_losses` drops it and says so in its notes).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from upres.errors import ConfigError, did_you_mean
from upres.losses.color import HSLuvLoss
from upres.losses.consistency import TranslationalLoss
from upres.losses.frequency import FocalFrequencyLoss
from upres.losses.gan import GANLoss
from upres.losses.ldl import LDLLoss
from upres.losses.msssim_l1 import MSSSIML1Loss
from upres.losses.perceptual import PerceptualLoss
from upres.losses.pixel import CharbonnierLoss, L1Loss, MSELoss
from upres.losses.structure import MSSIMLoss
from upres.option_file import no_bool_for_number, yaml11_number

LOSSES: dict[str, Callable[..., nn.Module]] = {
    "l1loss": L1Loss,
    "mseloss": MSELoss,
    "charbonnierloss": CharbonnierLoss,
    "perceptualloss": PerceptualLoss,
    "ganloss": GANLoss,
    # traiNNer-redux's name for the GAN loss of a multi-scale D: the mean over its maps, which ganloss takes too
    "multiscaleganloss": GANLoss,
    "mssimloss": MSSIMLoss,
    "msssiml1loss": MSSSIML1Loss,
    "hsluvloss": HSLuvLoss,
    "ldlloss": LDLLoss,
    "ffloss": FocalFrequencyLoss,
    "translationalloss": TranslationalLoss,
}

# How the loop must call each loss (see module docstring).
LOSS_INPUTS: dict[str, str] = {
    "l1loss": "sr_gt",
    "mseloss": "sr_gt",
    "charbonnierloss": "sr_gt",
    "perceptualloss": "sr_gt",
    "ganloss": "gan",
    "multiscaleganloss": "gan",
    "mssimloss": "sr_gt",
    "msssiml1loss": "sr_gt",
    "hsluvloss": "sr_gt",
    "ldlloss": "ldl",
    "ffloss": "sr_gt",
    "translationalloss": "generator",
}

# Short names for logs (`l_g_<name>`), as BasicSR/traiNNer-redux print them.
LOG_NAMES: dict[str, str] = {
    "l1loss": "l1",
    "mseloss": "mse",
    "charbonnierloss": "charbonnier",
    "perceptualloss": "percep",
    "ganloss": "gan",
    "multiscaleganloss": "gan",
    "mssimloss": "mssim",
    "msssiml1loss": "msssim_l1",
    "hsluvloss": "hsluv",
    "ldlloss": "ldl",
    "ffloss": "ff",
    "translationalloss": "trans",
}

# Keys every entry may carry; they belong to the caller, not to the loss constructor.
COMMON_KEYS = ("type", "loss_weight", "start_iter")


class LossOptions(BaseModel):
    """One entry of `train.losses`. Type-specific keys are kept as extras and checked by `build_loss`."""

    # loss_weight .inf: a non-finite loss every step.
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    _no_bool_for_number = field_validator("*", mode="before")(no_bool_for_number)

    type: str
    loss_weight: float = Field(1.0, ge=0.0, description="multiplier of the unweighted loss; 0 turns it off")
    start_iter: int = Field(
        0, ge=0, description="first iteration at which the loss is applied (phased schedules)"
    )
    criterion: str | None = Field(None, description="element-wise criterion for losses that take one")

    @field_validator("loss_weight", mode="before")
    @classmethod
    def _negative_is_redux_s_bicubic_target(cls, v: Any) -> Any:
        if isinstance(v, int | float) and v < 0:
            raise ValueError(
                f"{v}: traiNNer-redux reads a negative weight as 'compare the output with a bicubic upscale of the LR "
                "at |weight|', which upres does not do; give a weight >= 0 (0 turns the loss off)"
            )
        return v

    def kwargs(self) -> dict[str, Any]:
        out = {k: yaml11_number(v) for k, v in (self.model_extra or {}).items()}
        if self.criterion is not None:
            out["criterion"] = self.criterion
        return out


def loss_type(name: str, where: str = "train.losses") -> str:
    key = str(name).lower()
    if key not in LOSSES:
        hint = did_you_mean(key, LOSSES)
        raise ConfigError(
            f"{where}: loss type {name!r} is not implemented{hint}; available: {', '.join(LOSSES)}"
        )
    return key


def check_loss_spec(spec: dict | LossOptions, where: str = "train.losses") -> tuple[str, dict[str, Any]]:
    """(registry key, constructor kwargs) for one entry, validated without building anything (no VGG load)."""
    opts = spec if isinstance(spec, LossOptions) else LossOptions.model_validate(spec)
    key = loss_type(opts.type, where)
    params = inspect.signature(LOSSES[key]).parameters
    accepted = [p for p in params if p != "self"]
    kwargs = opts.kwargs()
    for k in kwargs:
        if k not in accepted:
            known = [*COMMON_KEYS, *accepted]
            hint = did_you_mean(k, known)
            raise ConfigError(f"{where} ({key}): unknown key {k!r}{hint}; known: {', '.join(known)}")
        if isinstance(params[k].default, bool) and not isinstance(kwargs[k], bool):
            # use_input_norm: 'false' (quoted) was taken by its truth value, i.e. as true
            raise ConfigError(f"{where}.{k}: true or false, not {kwargs[k]!r}")
    return key, kwargs


def build_loss(spec: dict | LossOptions, where: str = "train.losses") -> nn.Module:
    """The unweighted loss module for one `train.losses` entry; unknown type or key -> ConfigError."""
    key, kwargs = check_loss_spec(spec, where)
    try:
        return LOSSES[key](**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} ({key}): {exc}") from None
    except ConfigError as exc:
        raise ConfigError(placed(str(exc), key, where)) from None


def placed(said: str, key: str, where: str) -> str:
    """A loss's message about its own key ("mssimloss.color_space: ...") at the file's place of the entry
    ("train.losses[2].color_space: ..."), which is what finds it."""
    if said.startswith(f"{key}."):
        return f"{where}.{said.removeprefix(key + '.')}"
    if said.startswith(f"{key}: "):
        return f"{where} ({key}): {said.removeprefix(key + ': ')}"
    return said if said.startswith(where) else f"{where} ({key}): {said}"


@dataclass
class LossEntry:
    """A built loss with what the loop needs to apply it."""

    type: str
    module: nn.Module
    weight: float
    start_iter: int
    inputs: str
    log_name: str

    def active(self, current_iter: int) -> bool:
        return self.weight > 0 and current_iter >= self.start_iter


def skipped_note(opts: LossOptions, where: str) -> str:
    """The log note of an entry at loss_weight 0. traiNNer-redux's templates list losses upres lacks at weight 0:
    they keep their place in the list (not dropped before it is numbered), so later entries keep the file's index."""
    key = str(opts.type).lower()
    return f"{where} ({key}) skipped: loss_weight 0" + (
        "" if key in LOSSES else " (upres does not implement it)"
    )


def build_losses(
    specs: list[dict | LossOptions], where: str = "train.losses", crop: tuple[int, int] | None = None
) -> tuple[list[LossEntry], list[str]]:
    """All entries of `train.losses` (weight 0 dropped) and notes for the log ("... skipped: loss_weight 0").
    `crop`: (lq_size, scale) of the training crops; a loss that cannot work on them is a ConfigError now, not at its
    start_iter."""
    entries, notes = [], []
    used: dict[str, int] = {}
    for i, spec in enumerate(specs):
        here = f"{where}[{i}]"
        opts = spec if isinstance(spec, LossOptions) else LossOptions.model_validate(spec)
        if opts.loss_weight == 0:
            notes.append(skipped_note(opts, here))
            continue
        key = loss_type(opts.type, here)
        module = build_loss(opts, here)
        if crop is not None and hasattr(module, "check_crop"):
            try:
                module.check_crop(*crop)
            except ValueError as exc:
                raise ConfigError(f"{here} ({key}): {exc}") from None
        if key == "msssiml1loss":
            notes.append(
                f"{here} (msssiml1loss): upres's is Zhao et al.'s MS-SSIM (5 downsampled scales) + L1; traiNNer-redux's "
                "is a full-resolution Gaussian-weighted form with other values (about 0.11 where this gives 0.07): a "
                "weight tuned there may need retuning"
            )
        name = LOG_NAMES[key]
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            # Both count here (logged as l_g_<name>2); traiNNer-redux keys its losses by type and keeps the last.
            notes.append(
                f"{here} ({key}): a second {key} entry; upres adds both (logged as l_g_{name}{used[name]}), "
                "traiNNer-redux keeps only the last"
            )
            name = f"{name}{used[name]}"
        entries.append(
            LossEntry(key, module, float(opts.loss_weight), opts.start_iter, LOSS_INPUTS[key], name)
        )
    gans = [e for e in entries if e.inputs == "gan"]
    if len(gans) > 1:
        raise ConfigError(f"{where}: only one ganloss entry is supported, found {len(gans)}")
    return entries, notes


__all__ = [
    "LOSSES",
    "LOSS_INPUTS",
    "LossEntry",
    "LossOptions",
    "build_loss",
    "check_loss_spec",
    "skipped_note",
    "build_losses",
    "loss_type",
]
