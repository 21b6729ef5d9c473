"""Typed option files: one validated object before anything starts.

Key names follow traiNNer-redux's option files so users' existing files run after editing only paths. The JSON
schema (`upres schema`) and docs/config.md are generated from these models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from upres.data.options import DatasetOptions
from upres.errors import ConfigError
from upres.io.names import experiment_name_problem
from upres.io.onnx_options import OnnxOptions
from upres.losses import LossOptions
from upres.option_file import Strict, describe_value, path_as_written
from upres.train.config_errors import degradation_fields, format_validation_error
from upres.train.optim_options import OptimizerOptions, default_optimizer
from upres.train.schedule_options import SchedulerOptions


class NetworkOptions(BaseModel):
    """`network_g` / `network_d`: `type` plus the architecture's own keyword arguments."""

    model_config = ConfigDict(extra="allow")
    type: str

    def kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PathOptions(Strict):
    _as_written = field_validator(
        "pretrain_network_g", "pretrain_network_d", "resume_state", "experiments_root", mode="before"
    )(path_as_written)
    pretrain_network_g: Path | None = None
    param_key_g: str | None = Field(
        None, description="key inside the pretrain file; default: params_ema, then params"
    )
    strict_load_g: bool = True
    pretrain_network_d: Path | None = None
    param_key_d: str | None = None
    strict_load_d: bool = True
    resume_state: Path | None = Field(None, description="a training state to resume; same as --resume PATH")
    experiments_root: Path | None = Field(None, description="default: ./experiments/<name>")


class PenaltyConfig(Strict):
    """Discriminator gradient penalty (perceptual stage)."""

    kind: Literal["real", "wgan_gp", "r1"] = "real"
    weight: float = Field(10.0, ge=0)
    center: float = 1.0
    every: int = Field(1, ge=1)


class TrainOptions(Strict):
    total_iter: int = Field(400_000, gt=0)
    warmup_iter: int = Field(
        -1, ge=-1, description="linear learning-rate warm-up over this many iterations; -1 (or 0) = off"
    )
    ema_decay: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="0 disables the EMA (traiNNer-redux's default); 0.999 is usual; it averages over about "
        "1/(1-ema_decay) iterations (a note at start when that is too slow for total_iter)",
    )
    ema_power: float = Field(
        10.0,
        ge=0,
        description="EMA warm-up: decay = min(ema_decay, 1 - (1 + it)^-ema_power); 10 (redux's) is no warm-up",
    )
    grad_clip: bool = Field(
        False, description="clip the gradient norm of G (and of D in the GAN stage) to grad_clip_max_norm"
    )
    grad_clip_max_norm: float = Field(100.0, gt=0)
    optim_g: OptimizerOptions = Field(default_factory=default_optimizer)
    optim_d: OptimizerOptions | None = None
    scheduler: SchedulerOptions = Field(default_factory=SchedulerOptions)
    scheduler_d: SchedulerOptions | None = None
    restart_scheduler: bool = Field(
        False,
        description="on resume, start the schedule again from its first step at optim_g/optim_d's lr (else: where "
        "the state left it, at the state's rate); once per lr and schedule: a later resume goes on",
    )
    losses: list[LossOptions] = Field(default_factory=lambda: [LossOptions(type="l1loss")])
    net_d_iters: int = Field(1, ge=1, description="G steps every N-th iteration once the GAN is on")
    net_d_init_iters: int = Field(
        0,
        ge=0,
        description="D-only warm-up iterations when the GAN starts (its first N GAN iterations); a note at start when "
        "it (or net_d_iters) leaves G no step before total_iter",
    )
    nan_rollback_after: int = Field(5, ge=1, description="consecutive non-finite steps before rolling back")
    early_stop_patience: int | None = Field(
        None, ge=1, description="stop after N validations without improvement"
    )
    early_stop_metric: str | None = None
    d_input_noise: float = Field(
        0.0, ge=0, description="uniform noise amplitude added to D inputs (perceptual stage)"
    )
    gradient_penalty: PenaltyConfig | None = None


class MetricOptions(Strict):
    type: str
    crop_border: int = Field(0, ge=0)
    test_y_channel: bool = False
    better: Literal["higher", "lower"] | None = Field(
        None,
        description="accepted for compatibility (traiNNer-redux's); upres knows each metric's direction and refuses "
        "a value that contradicts it",
    )


def suffix_problem(suffix: str) -> str | None:
    """Why `suffix` cannot end a file name (`upres test` writes `<name>_<suffix>.png` inside its results folder)."""
    if any(c in suffix for c in "/\\\0"):
        return f"{suffix!r} holds a path separator; a suffix is part of a file name, e.g. 'x4'"
    return None


class ValOptions(Strict):
    val_enabled: bool = True
    val_freq: int = Field(5000, gt=0)
    save_img: bool = True
    keep_img: int = Field(
        10, ge=0, description="validations whose pictures are kept (the latest, and the best); 0: every one"
    )
    tile_size: int = Field(0, ge=0)
    tile_overlap: int = Field(16, ge=0)
    metrics_enabled: bool = True
    suffix: str | None = Field(
        None, description="`upres test`: appended to each saved file name as _<suffix>"
    )

    @field_validator("suffix")
    @classmethod
    def _suffix_is_part_of_a_name(cls, v: str | None) -> str | None:
        if v is not None and (why := suffix_problem(v)):
            raise ValueError(why)
        return v

    metrics: dict[str, MetricOptions] = Field(
        default_factory=lambda: {
            "psnr": MetricOptions(type="calculate_psnr", crop_border=4, test_y_channel=True),
            "ssim": MetricOptions(type="calculate_ssim", crop_border=4, test_y_channel=True),
        }
    )
    pbar: bool = False

    @field_validator("metrics", mode="before")
    @classmethod
    def _none_is_no_metrics(cls, v: Any) -> Any:
        return {} if v is None else v  # traiNNer-redux's `metrics: ~`


class LoggerOptions(Strict):
    print_freq: int = Field(100, gt=0)
    save_checkpoint_freq: int = Field(5000, gt=0)
    save_checkpoint_format: Literal["safetensors", "pth"] = "safetensors"
    keep_checkpoints: int = Field(
        3, ge=1, description="training states and models kept (the best is kept too)"
    )
    use_tb_logger: bool = True
    wandb: dict | None = Field(None, description="accepted for compatibility; not used")


class DistOptions(Strict):
    backend: str = "nccl"
    port: int | None = None


class Options(Strict):
    """A whole option file."""

    name: str = Field(
        description="experiment name: experiments/<name>/ holds everything the run writes (a folder name Windows takes)"
    )
    scale: int = Field(4, ge=1, le=8, description="upscaling factor: esrgan 1, 2, 4, 8; compact 1-4")
    model_type: str | None = Field(
        None,
        description="accepted for compatibility; the stage follows from the losses. BasicSR's ESRGANModel reads a "
        "vanilla ganloss as ragan (the relativistic GAN it trains)",
    )
    num_gpu: int | Literal["auto"] = Field(
        "auto", description="accepted for compatibility; torchrun sets the process count"
    )
    manual_seed: int | None = Field(
        None,
        ge=0,
        lt=2**32,
        description="0 to 2^32-1 (numpy's seed range); None: drawn at start and recorded in the experiment's "
        "options.yml",
    )
    deterministic: bool = Field(False, description="deterministic kernels (exact resume and repeatable runs)")
    use_amp: bool = Field(
        False,
        description="mixed precision on the GPU: bf16 with amp_bf16, else fp16 with a gradient scaler (on CPU "
        "only with use_amp_on_cpu, and then bf16)",
    )
    amp_bf16: bool = Field(False, description="bf16 instead of fp16 for AMP (no gradient scaler needed)")
    use_amp_on_cpu: bool = Field(
        False,
        description="keep use_amp when training on CPU (bf16 autocast there is usually slower than fp32, so "
        "use_amp is off on CPU unless this is set)",
    )
    use_channels_last: bool = Field(
        True, description="NHWC memory format (faster convolutions on tensor cores)"
    )
    fast_matmul: bool = Field(False, description="TF32 matmuls (convolutions: cuDNN's TF32 default stays)")
    use_compile: bool = Field(False, description="torch.compile the generator")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
        "max-autotune-no-cudagraphs", description="torch.compile's mode when use_compile is on"
    )
    high_order_degradation: bool = Field(
        False, description="HR-only training: LR made on the fly (realesrgandataset)"
    )
    high_order_degradations_debug: bool = Field(
        False,
        description="save the first training batches (LR beside its target) to experiments/<name>/debug/otf",
    )
    high_order_degradations_debug_limit: int = Field(
        100, ge=0, description="iterations saved by high_order_degradations_debug (0: every one)"
    )
    dataroot_lq_prob: float = Field(
        0.0,
        ge=0,
        le=1,
        description="on-the-fly training: chance that an item takes its real LR from datasets.train.dataroot_lq",
    )
    degradation: dict[str, Any] = Field(
        default_factory=dict, description="OTF degradation keys (top level in files)"
    )
    datasets: dict[str, DatasetOptions] = Field(
        description="`train`, and any number of `val*`/`test*` sets (other names are refused)"
    )
    network_g: NetworkOptions = Field(description="the generator: `type` plus its hyperparameters")
    network_d: NetworkOptions | None = Field(None, description="the discriminator (perceptual stage)")
    path: PathOptions = Field(default_factory=PathOptions)
    train: TrainOptions = Field(default_factory=TrainOptions)
    val: ValOptions | None = Field(None, description="validation; off when absent")
    logger: LoggerOptions = Field(default_factory=LoggerOptions)
    onnx: OnnxOptions | None = Field(
        None, description="`upres convert -c` reads it: traiNNer-redux's ONNX export options"
    )
    dist_params: DistOptions | None = Field(
        None, description="accepted for compatibility; torchrun sets these"
    )

    # What `compat.translate` rewrote or ignored in the file; logged when training starts.
    _compat_notes: list[str] = PrivateAttr(default_factory=list)

    @property
    def compat_notes(self) -> list[str]:
        return self._compat_notes

    @field_validator("name")
    @classmethod
    def _one_folder_name(cls, v: str) -> str:
        # experiments/<name>/ is created and written: a name with a path in it would write elsewhere.
        if problem := experiment_name_problem(v):
            raise ValueError(problem)
        return v

    @model_validator(mode="before")
    @classmethod
    def _collect_degradation_keys(cls, data: Any) -> Any:
        # traiNNer-redux keeps degradation keys at the top level of the file; gather them into one block.
        if not isinstance(data, dict):
            return data
        known = set(cls.model_fields)
        deg_fields = degradation_fields()
        moved = {k: data[k] for k in list(data) if k not in known and k in deg_fields}
        if moved:
            data = {k: v for k, v in data.items() if k not in moved}
            data["degradation"] = {**data.get("degradation", {}), **moved}
        datasets = data.get("datasets")
        train = datasets.get("train") if isinstance(datasets, dict) else None
        if data.get("high_order_degradation") is True and isinstance(train, dict):
            # traiNNer-redux's switch: the training set's LR is made on the fly, whatever its block's type says
            # (set before the block is validated, so it may hold the kernel keys redux keeps there).
            data = {**data, "datasets": {**datasets, "train": {**train, "type": "realesrgandataset"}}}
        return data

    @model_validator(mode="after")
    def _check(self) -> Options:
        if "train" not in self.datasets and not any(k.startswith(("val", "test")) for k in self.datasets):
            raise ValueError("datasets needs a 'train' entry (and optionally 'val')")
        if other := [k for k in self.datasets if k != "train" and not k.startswith(("val", "test"))]:
            # Never read (traiNNer-redux refuses such a phase too): a validation set named 'eval' was silently unused.
            raise ValueError(f"datasets.{other[0]}: not read; name it train, or val*/test* for validation")
        tracked = self.train.early_stop_metric
        if tracked is not None:
            val = self.val
            computed = list(val.metrics) if val and val.val_enabled and val.metrics_enabled else []
            if tracked not in computed:
                # Stopping on a metric that is never computed stopped the run at its first validation.
                raise ValueError(
                    f"train.early_stop_metric {tracked!r} is not a validation metric of this file ("
                    + (f"val.metrics has {', '.join(computed)}" if computed else "validation computes none")
                    + "); name one of val.metrics, or remove the key"
                )
        return self

    @property
    def train_dataset(self) -> DatasetOptions | None:
        return self.datasets.get("train")

    @property
    def val_datasets(self) -> dict[str, DatasetOptions]:
        return {k: v for k, v in self.datasets.items() if k.startswith(("val", "test"))}


# Blocks that hold keys (a mapping) or entries (a list); checked before `compat.translate` walks into them.
MAPPINGS = ("datasets", "network_g", "network_d", "path", "train", "val", "logger", "dist_params")
SUB_BLOCKS = {("val", "metrics"): dict, ("train", "losses"): list}


def _check_block_shapes(data: dict, source: str) -> None:
    def kind(value: object) -> str:
        # Never the repr of a list: an aliased one (`a: &a [*b, *b, ...]`) would expand to billions of items.
        if isinstance(value, list | dict):
            return "a list" if isinstance(value, list) else "a mapping"
        return f"the {type(value).__name__} {describe_value(value)}"

    for key in MAPPINGS:
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ConfigError(
                f"{source}: {key}: expected a mapping of keys ({key}: {{...}}), got {kind(data[key])}"
            )
    for (block, key), expected in SUB_BLOCKS.items():
        value = (data.get(block) or {}).get(key)
        if value is not None and not isinstance(value, expected):
            want = "a mapping of keys" if expected is dict else "a list of entries (- type: ...)"
            raise ConfigError(f"{source}: {block}.{key}: expected {want}, got {kind(value)}")


def parse_options(data: dict, source: str = "<options>") -> Options:
    from upres.train.compat import idle_generator_note, translate, unused_discriminator_keys
    from upres.train.degradation_notes import degradation_notes
    from upres.train.schedule_notes import schedule_notes

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of option keys at the top level")
    _check_block_shapes(data, source)
    try:
        data, notes = translate(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        options = Options.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, Options)) from None
    notes += degradation_notes(options, source)
    notes += unused_discriminator_keys(options) if options.network_d is None else idle_generator_note(options)
    notes += schedule_notes(options)
    options._compat_notes = notes
    return options


def load_options(path: str | Path) -> Options:
    from upres.option_file import read_option_file

    return parse_options(read_option_file(path), str(path))
