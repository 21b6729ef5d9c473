"""`train.optim_g` / `optim_d`: torch's optimizers by name (any case), each with the keyword arguments it takes.

The parameter names are kept here rather than read from torch so that validating an option file does not import
torch; `tests/train/test_optimizers.py` checks them against torch's signatures.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from upres.option_file import no_bool_for_number

# Canonical name -> the keyword arguments an option file may give (torch's, less the implementation switches
# foreach/fused/capturable/differentiable/maximize, which upres chooses).
OPTIMIZER_PARAMS: dict[str, tuple[str, ...]] = {
    "Adam": ("lr", "betas", "eps", "weight_decay", "amsgrad"),
    "AdamW": ("lr", "betas", "eps", "weight_decay", "amsgrad"),
    "NAdam": ("lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay"),
    "RAdam": ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay"),
    "Adamax": ("lr", "betas", "eps", "weight_decay"),
    "SGD": ("lr", "momentum", "dampening", "weight_decay", "nesterov"),
    "RMSprop": ("lr", "alpha", "eps", "weight_decay", "momentum", "centered"),
    "Adagrad": ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
    "Adadelta": ("lr", "rho", "eps", "weight_decay"),
}
# traiNNer-redux optimizers that come from outside torch (pytorch_optimizer or its own code).
REFUSED_OPTIMIZERS = {
    name.lower(): name
    for name in ("ADOPT", "SOAP", "StableAdamW", "Adan", "AdamWScheduleFree", "AdanScheduleFree")
}
OptimizerName = Literal["Adam", "AdamW", "NAdam", "RAdam", "Adamax", "SGD", "RMSprop", "Adagrad", "Adadelta"]


class OptimizerOptions(BaseModel):
    """`type` plus that optimizer's keyword arguments (torch's names; unset ones keep torch's defaults)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
    _no_bool_for_number = field_validator("*", mode="before")(no_bool_for_number)
    type: OptimizerName = Field(
        "AdamW",
        description=f"one of {', '.join(OPTIMIZER_PARAMS)} (any case); a parameter left out takes torch's default, "
        "as in traiNNer-redux (AdamW: betas [0.9, 0.999], weight_decay 0.01); without an optim_g block upres uses "
        "AdamW, lr 1e-4, betas [0.9, 0.99], weight_decay 0",
    )
    lr: float = Field(
        1e-4,
        ge=0,
        allow_inf_nan=False,
        description="0 (as torch allows) leaves the network's weights as they are",
    )
    weight_decay: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="torch's default when left out"
    )
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] | None = Field(
        None, description="torch's default when left out"
    )
    eps: float | None = Field(None, ge=0, allow_inf_nan=False, description="torch's default when left out")
    amsgrad: bool | None = Field(None, description="Adam, AdamW")
    # Coefficients bounded to what they mean: out of range (alpha 5, momentum inf) torch accepted them and every step
    # was non-finite, which the NaN guard then blamed on the learning rate.
    momentum: float | None = Field(None, ge=0, lt=1, description="SGD, RMSprop: 0 to below 1 (0.9 is usual)")
    dampening: float | None = Field(None, ge=0, le=1, description="SGD")
    nesterov: bool | None = Field(None, description="SGD")
    alpha: float | None = Field(
        None, ge=0, lt=1, description="RMSprop: the squared-gradient average's smoothing"
    )
    centered: bool | None = Field(None, description="RMSprop")
    momentum_decay: float | None = Field(None, ge=0, allow_inf_nan=False, description="NAdam")
    decoupled_weight_decay: bool | None = Field(None, description="NAdam, RAdam")
    lr_decay: float | None = Field(None, ge=0, allow_inf_nan=False, description="Adagrad")
    initial_accumulator_value: float | None = Field(None, ge=0, allow_inf_nan=False, description="Adagrad")
    rho: float | None = Field(None, ge=0, le=1, description="Adadelta")

    @field_validator("type", mode="before")
    @classmethod
    def _canonical(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        by_lower = {name.lower(): name for name in OPTIMIZER_PARAMS}
        if v.lower() in REFUSED_OPTIMIZERS:
            raise ValueError(
                f"{REFUSED_OPTIMIZERS[v.lower()]} is a traiNNer-redux optimizer from outside PyTorch, which upres "
                f"does not ship; use one of {', '.join(OPTIMIZER_PARAMS)} (AdamW is the usual choice)"
            )
        return by_lower.get(v.lower(), v)

    @model_validator(mode="after")
    def _params_of_the_type(self) -> OptimizerOptions:
        allowed = OPTIMIZER_PARAMS[self.type]
        wrong = sorted(k for k in self.model_fields_set - {"type"} if k not in allowed)
        if wrong:
            raise ValueError(
                f"{self.type} has no parameter {', '.join(wrong)}; it takes {', '.join(allowed)}"
            )
        if self.nesterov and (not self.momentum or self.dampening):
            # torch's SGD refuses it when built: a traceback after the dataset scan, not a line naming the key.
            given = ", ".join(
                f"{k} {'not set' if v is None else v}"
                for k, v in (("momentum", self.momentum), ("dampening", self.dampening))
            )
            raise ValueError(
                f"nesterov needs momentum above 0 and dampening 0, got {given}; set momentum (0.9 is usual), or "
                "remove nesterov"
            )
        return self

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments for the torch class: lr, and what the file gave; torch's own defaults for the rest,
        as traiNNer-redux passes them (`torch.optim.AdamW(params, **opt)`)."""
        allowed = OPTIMIZER_PARAMS[self.type]
        return {
            k: getattr(self, k)
            for k in allowed
            if k == "lr" or (k in self.model_fields_set and getattr(self, k) is not None)
        }


def default_optimizer() -> OptimizerOptions:
    """optim_g when an option file has none: AdamW as the ESRGAN-family recipes set it (Real-ESRGAN's and
    traiNNer-redux's templates), betas [0.9, 0.99] and no weight decay."""
    return OptimizerOptions(type="AdamW", lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)
