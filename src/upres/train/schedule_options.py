"""`train.scheduler`: torch's learning-rate schedulers by name (any case), with torch's parameter names and defaults.

traiNNer-redux builds `torch.optim.lr_scheduler.<type>(optimizer, **block)` and steps it once per iteration; upres
computes the same values in closed form (train/lr_schedules.py), so that warm-up, the NaN guard's halving and an
exact resume compose with every type. tests/train/test_schedulers.py compares each type with torch's class.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from upres.option_file import no_bool_for_number

SchedulerName = Literal[
    "MultiStepLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "constant", "StepLR", "ExponentialLR",
    "LinearLR", "ConstantLR", "PolynomialLR", "OneCycleLR", "CosineAnnealingRestartLR",
]  # fmt: skip
_NAMES = {name.lower(): name for name in SchedulerName.__args__}
# traiNNer-redux's other schedulers, and why upres has none of them.
REFUSED_SCHEDULERS = {
    "lambdalr": "takes a Python function, which an option file cannot hold",
    "multiplicativelr": "takes a Python function, which an option file cannot hold",
    "sequentiallr": "takes other scheduler objects, which an option file cannot hold",
    "chainedscheduler": "takes other scheduler objects, which an option file cannot hold",
    "reducelronplateau": "follows a validation metric, which upres's schedules do not read",
    "cycliclr": "is not implemented in upres",
    "cosineannealingwarmuplr": "is traiNNer-redux's own and not implemented in upres (use warmup_iter with CosineAnnealingLR)",
    "kneelr": "is traiNNer-redux's own and not implemented in upres",
    "warmupstabledecaylr": "is traiNNer-redux's own and not implemented in upres",
}  # fmt: skip


class SchedulerOptions(BaseModel):
    # gamma, eta_min or a factor at NaN or infinity passed the range checks and made the rate non-finite mid-run.
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)
    _no_bool_for_number = field_validator("*", mode="before")(no_bool_for_number)

    type: SchedulerName = Field(
        "MultiStepLR", description="torch.optim.lr_scheduler's name (any case), or constant"
    )
    milestones: list[int] = Field(default_factory=list, description="MultiStepLR")
    gamma: float | None = Field(
        None,
        gt=0,
        description="MultiStepLR and StepLR (default 0.1, torch's; the templates halve: 0.5), ExponentialLR (required)",
    )
    step_size: int | None = Field(None, gt=0, description="StepLR: iterations between decays")
    T_max: int | None = Field(
        None,
        gt=0,
        description="CosineAnnealingLR reaches eta_min after T_max steps (past it the rate rises again, as in torch); "
        "default: train.total_iter",
    )
    T_0: int | None = Field(
        None, gt=0, description="CosineAnnealingWarmRestarts' first period; default: train.total_iter"
    )
    T_mult: int = Field(
        1, ge=1, description="CosineAnnealingWarmRestarts: each period is T_mult times the last"
    )
    eta_min: float = Field(
        0.0,
        ge=0,
        description="the cosine schedules' lowest learning rate, absolute as in torch.optim.lr_scheduler, BasicSR "
        "and traiNNer-redux (e.g. 1e-7), not a fraction of lr",
    )
    periods: list[int] | None = Field(
        None, description="CosineAnnealingRestartLR (BasicSR's): each cycle's length (> 0)"
    )
    restart_weights: list[float] = Field(
        default_factory=lambda: [1.0],
        description="CosineAnnealingRestartLR, and MultiStepLR with restarts: each cycle's share of lr (each >= 0)",
    )
    restarts: list[int] | None = Field(
        None,
        description="MultiStepLR (BasicSR's MultiStepRestartLR): iterations where the rate goes back to lr times "
        "the matching restart_weights entry; milestones after a restart decay from there",
    )
    factor: float = Field(1 / 3, gt=0, description="ConstantLR: the factor for the first total_iters")
    start_factor: float = Field(1 / 3, gt=0, description="LinearLR")
    end_factor: float = Field(1.0, ge=0, description="LinearLR")
    total_iters: int = Field(5, ge=0, description="ConstantLR, LinearLR, PolynomialLR")
    power: float = Field(
        1.0, ge=0, description="PolynomialLR (>= 0: a negative power makes the rate infinite at total_iters)"
    )
    max_lr: float | None = Field(None, gt=0, description="OneCycleLR (required)")
    total_steps: int | None = Field(None, gt=0, description="OneCycleLR (default: train.total_iter)")
    pct_start: float = Field(0.3, gt=0, lt=1, description="OneCycleLR")
    anneal_strategy: Literal["cos", "linear"] = Field("cos", description="OneCycleLR")
    div_factor: float = Field(25.0, gt=0, description="OneCycleLR: initial lr = max_lr / div_factor")
    final_div_factor: float = Field(
        1e4, gt=0, description="OneCycleLR: final lr = initial lr / final_div_factor"
    )
    three_phase: bool = Field(False, description="OneCycleLR")
    cycle_momentum: bool = Field(
        True, description="OneCycleLR: cycle Adam's beta1 (or SGD's momentum) inversely"
    )
    # They become Adam's beta1 (or SGD's momentum): bounded as optim_g's betas and momentum are.
    base_momentum: float = Field(0.85, ge=0, lt=1, description="OneCycleLR: 0 to below 1")
    max_momentum: float = Field(0.95, ge=0, lt=1, description="OneCycleLR: 0 to below 1")
    last_epoch: int = Field(
        -1,
        description="torch's argument, as traiNNer-redux passes it: only -1 (a new schedule); a resumed run continues "
        "its schedule from the training state",
    )

    @field_validator("last_epoch")
    @classmethod
    def _new_schedule(cls, v: int) -> int:
        if v != -1:
            raise ValueError(
                f"{v}: upres starts a schedule at -1 (torch's default) and a resumed run takes its position from the "
                "training state (--resume); remove the key or set it to -1"
            )
        return v

    @field_validator("type", mode="before")
    @classmethod
    def _canonical(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        if v.lower() == "multisteprestartlr":  # BasicSR's name; its MultiStepLR is this one too
            return "MultiStepLR"
        if v.lower() in REFUSED_SCHEDULERS:
            raise ValueError(f"{v} {REFUSED_SCHEDULERS[v.lower()]}; use one of {', '.join(_NAMES.values())}")
        return _NAMES.get(v.lower(), v)

    @field_validator("periods", "restart_weights")
    @classmethod
    def _cycles(cls, v: list | None, info: Any) -> list | None:
        # A cycle of 0 divided by zero when the schedule was built; a negative restart weight gave negative learning
        # rates (the optimizer then climbs the loss).
        positive = info.field_name == "periods"
        bad = [x for x in v or [] if (x <= 0 if positive else x < 0)]
        if bad:
            raise ValueError(f"{bad[0]}: each value must be {'> 0' if positive else '>= 0'}")
        return v

    @field_validator("restarts")
    @classmethod
    def _restarts(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(r < 0 for r in v):
            raise ValueError(f"{min(v)}: each restart is an iteration (>= 0)")
        return v

    @field_validator("milestones")
    @classmethod
    def _ascending(cls, v: list[int]) -> list[int]:
        if v != sorted(v):
            raise ValueError("milestones must be in ascending order")
        return v

    @model_validator(mode="after")
    def _required(self) -> SchedulerOptions:
        needs = {
            "StepLR": "step_size",
            "ExponentialLR": "gamma",
            "OneCycleLR": "max_lr",
            "CosineAnnealingRestartLR": "periods",
        }
        key = needs.get(self.type)
        if key and getattr(self, key) is None:
            raise ValueError(f"{self.type} needs {key}")
        if self.type == "CosineAnnealingRestartLR" and len(self.periods or []) != len(self.restart_weights):
            raise ValueError(
                f"periods has {len(self.periods or [])} entries but restart_weights has {len(self.restart_weights)}"
            )
        if self.restarts is not None:
            if self.type != "MultiStepLR":
                raise ValueError(
                    f"restarts is for MultiStepLR (BasicSR's MultiStepRestartLR), not {self.type}"
                )
            if len(self.restarts) != len(self.restart_weights):
                raise ValueError(
                    f"restarts has {len(self.restarts)} entries but restart_weights has {len(self.restart_weights)}"
                )
        if self.type == "ConstantLR" and self.factor > 1:
            raise ValueError("ConstantLR factor must be between 0 and 1")
        return self
