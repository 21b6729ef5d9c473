"""Everything a run needs, built from the options before the first iteration (or a dry run) starts."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from upres.archs import ArchInfo, build_network_for, chainner_note, spandrel_incompatibility
from upres.data import build_dataset, build_otf
from upres.data.options import DatasetOptions, errors_in_block
from upres.errors import ConfigError
from upres.losses import LossEntry, build_losses
from upres.train.config import Options
from upres.train.ema import EMA, window_note
from upres.train.experiment import experiment_dir  # noqa: F401 - the loop's import
from upres.train.loss_needs import unmet_loss_needs
from upres.train.pretrain import load_pretrain, pretrain_exists
from upres.train.sampler import check_epoch_size, epoch_size_words
from upres.train.schedule import Schedule, build_optimizer


@dataclass
class Generator:
    net: nn.Module
    info: ArchInfo
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    ema: EMA | None


@dataclass
class Discriminator:
    net: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    # path.pretrain_network_d passed over on resume (no such file): the state must hold D's weights instead
    pretrain_missing: Path | None = None


@dataclass
class Run:
    """The run's parts; the loop reads them top to bottom."""

    g: Generator
    d: Discriminator | None
    losses: list[LossEntry]
    train_set: Dataset
    val_sets: dict[str, Dataset]
    batch_size: int
    accum_iter: int
    num_workers: int
    notes: list[str] = field(default_factory=list)
    prefetch_factor: int = 4


def build_train_dataset(opts: Options, seed: int) -> tuple[Dataset, DatasetOptions]:
    ds_opts = opts.train_dataset
    if ds_opts is None:
        raise ConfigError("datasets.train is missing: training needs a training set")
    if ds_opts.type == "singleimagedataset":
        raise ConfigError(
            "datasets.train: singleimagedataset holds LR images only (no ground truth to train on); use "
            "pairedimagedataset (dataroot_gt, dataroot_lq) or realesrgandataset (LR made on the fly from dataroot_gt)"
        )
    if ds_opts.type == "realesrgandataset":
        otf = build_otf(ds_opts, opts.scale, seed, opts.degradation)
        if opts.dataroot_lq_prob == 0:
            return otf, ds_opts
        if not ds_opts.dataroot_lq:
            raise ConfigError(
                f"dataroot_lq_prob {opts.dataroot_lq_prob} needs datasets.train.dataroot_lq (the real LR images)"
            )
        from upres.data.mixed_lq import MixedLQDataset

        paired = build_dataset(ds_opts.model_copy(update={"type": "pairedimagedataset"}), opts.scale, seed)
        return MixedLQDataset(otf, paired, opts.dataroot_lq_prob, seed), ds_opts
    return build_dataset(ds_opts, opts.scale, seed), ds_opts


def build_generator(
    opts: Options, device: torch.device, notes: list[str], resuming: bool = False
) -> Generator:
    net, info = build_network_for(opts.network_g.type, opts.network_g.kwargs(), opts.scale)
    if (why := spandrel_incompatibility(info)) is not None:
        if opts.logger.save_checkpoint_format != "safetensors":
            raise ConfigError(f"network_g is {why}; set logger.save_checkpoint_format: safetensors")
        notes.append(f"network_g is {why}")
    if (why := chainner_note(info)) is not None:
        notes.append(f"network_g is {why}")
    pretrain = opts.path.pretrain_network_g
    if pretrain is not None and pretrain_exists(pretrain, "path.pretrain_network_g", resuming, notes):
        report = load_pretrain(
            net, opts.path.pretrain_network_g, opts.path.strict_load_g, opts.path.param_key_g, info
        )
        notes.append(f"pretrain {opts.path.pretrain_network_g}: {report.summary()}")
    net = net.to(device)
    if opts.use_channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(net.parameters(), opts.train.optim_g)
    if opts.train.optim_g.lr == 0:
        notes.append("train.optim_g.lr is 0: the generator's weights stay as they are (a frozen G)")
    schedule = Schedule(optimizer, opts.train.scheduler, opts.train.warmup_iter, opts.train.total_iter)
    ema = EMA(net, opts.train.ema_decay, opts.train.ema_power) if opts.train.ema_decay > 0 else None
    if ema is not None and (note := window_note(ema.decay, ema.power, opts.train.total_iter)):
        notes.append(note)
    return Generator(net, info, optimizer, schedule, ema)


def build_discriminator_part(
    opts: Options, device: torch.device, notes: list[str], trained: bool = True, resuming: bool = False
) -> Discriminator | None:
    """`trained`: a ganloss with a weight above 0 is in train.losses; without one D never runs, so its crop size is
    not checked (a fidelity stage keeps the GAN file's network_d with the ganloss at weight 0) and a note says so."""
    if opts.network_d is None:
        return None
    from upres.archs.discriminators import build_discriminator, check_trainable

    net = build_discriminator(opts.network_d.type, **opts.network_d.kwargs())
    lq_size = opts.train_dataset.crop_size(opts.scale) if opts.train_dataset else None
    if trained:
        check_trainable(net, opts.network_d.type, lq_size, opts.scale)
    if (
        trained
        and opts.train.gradient_penalty is not None
        and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    ):
        notes.append(
            f"train.gradient_penalty with a BatchNorm discriminator ({opts.network_d.type}): BatchNorm mixes the "
            "samples of a batch, so each sample's penalised gradient depends on the others (WGAN-GP's critic has no "
            "batch normalisation); a spectral-norm D (unetdiscriminatorsn, patchgandiscriminatorsn, dunet) fits a "
            "penalty better"
        )
    if not trained:
        notes.append(
            f"network_d ({opts.network_d.type}) is not trained in this run: train.losses has no ganloss with a weight "
            "above 0; its files are saved as it was loaded or initialised"
        )
    pretrain, missing = opts.path.pretrain_network_d, None
    if pretrain is not None and not pretrain_exists(pretrain, "path.pretrain_network_d", resuming, notes):
        missing = pretrain
    elif pretrain is not None:
        from upres.archs.discriminators import load_discriminator

        report = load_discriminator(
            net, opts.path.pretrain_network_d, opts.path.param_key_d, opts.path.strict_load_d
        )
        notes.append(f"pretrain_network_d {opts.path.pretrain_network_d}: {report}")
    net = net.to(device)
    optim_opts = opts.train.optim_d or opts.train.optim_g
    if trained and opts.train.optim_d is None:
        # traiNNer-redux stops on a network_d without optim_d; upres trains D as G, and says so
        notes.append(
            f"train.optim_d not given: network_d is trained with train.optim_g's settings ({optim_opts.type}, lr "
            f"{optim_opts.lr:g}); add an optim_d block to choose its own"
        )
    optimizer = build_optimizer(net.parameters(), optim_opts)
    if trained and optim_opts.lr == 0:
        notes.append("the discriminator's lr is 0: its weights stay as they are (a frozen D)")
    schedule = Schedule(
        optimizer,
        opts.train.scheduler_d or opts.train.scheduler,
        opts.train.warmup_iter,
        opts.train.total_iter,
    )
    return Discriminator(net, optimizer, schedule, missing)


# Faults of one sample, which the datasets skip when they meet them (at most 1% of the data may be bad).
PER_SAMPLE_FAULTS = {"unreadable", "scale_mismatch", "too_small"}


def check_train_data(opts: Options, announce: Callable[[str], None] | None = None) -> list[str]:
    """The dataset doctor's checks before anything is trained. Per-sample faults within the datasets' 1% budget are
    notes (those samples are skipped when drawn, so one bad file never stops a run); other errors, or more bad
    samples, stop the run. Returns the notes."""
    ds = opts.train_dataset
    if ds is None or ds.type not in ("pairedimagedataset", "realesrgandataset"):
        return []
    from upres.data.bad_samples import DEFAULT_MAX_FRACTION
    from upres.data.doctor_block import SAID_BY_TRAINING, check_dataset, empty_folder_notes, unlike_pair_notes

    report = check_dataset(ds, opts.scale, "train", announce=announce)
    bad = [f for f in report.errors if f.kind in PER_SAMPLE_FAULTS]
    # (a set smaller than one step is refused below, with the process count the check does not know)
    fatal = [f for f in report.errors if f.kind not in PER_SAMPLE_FAULTS and f.kind not in SAID_BY_TRAINING]
    if fatal or len(bad) > DEFAULT_MAX_FRACTION * max(report.pairs, 1):
        errors = fatal or bad
        shown = "; ".join(f"{f.path}: {f.detail}" for f in errors[:3])
        fixes = "".join(f"hint: {fix}; " for fix in report.fixes)
        raise ConfigError(
            f"datasets.train: the dataset check found {len(report.errors)} error(s), e.g. {shown}; {fixes}"
            "`upres doctor -c OPTIONS` lists them all"
        )
    notes = [_listing("datasets.train", bad, "will be skipped when drawn")] if bad else []
    notes += empty_folder_notes(report) + unlike_pair_notes(report)
    for name, val in validation_datasets(opts).items():
        # Checked now rather than met at the first validation, hours in; bad images are left out of the metrics.
        val_report = check_dataset(val, opts.scale, name)
        val_bad = [f for f in val_report.errors if f.kind in PER_SAMPLE_FAULTS]
        if val_bad:
            notes.append(_listing(f"datasets.{name}", val_bad, "will be left out of validation"))
        problem = metric_size_problem(opts, name, val, val_report)
        if problem:
            raise ConfigError(f"datasets.{name}: {problem[0]}: {problem[1]}")
    return notes + [f"datasets.train: {hint}" for hint in report.hints]


def validation_datasets(opts: Options) -> dict[str, DatasetOptions]:
    """The val datasets a training run reads: none while validation is off (traiNNer-redux's templates ship
    val_enabled: false with placeholder folders, which redux does not read either)."""
    return opts.val_datasets if opts.val is not None and opts.val.val_enabled else {}


SSIM_WINDOW = 11  # the Gaussian window SSIM slides over the image (crop_border taken off first)


def metric_size_problem(opts: Options, name: str, ds: DatasetOptions, report) -> tuple[str, str] | None:
    """Every validation image must be large enough for every metric after its crop_border: a smaller one ended the
    run in a traceback at the first validation (SSIM), or scored NaN (PSNR of nothing). (image, what is wrong)."""
    if opts.val is None or report.min_size is None:
        return None
    if ds.type == "singleimagedataset":  # no ground truth to score (refused for validation elsewhere)
        return None
    if not (opts.val.val_enabled and opts.val.metrics_enabled):
        return None
    s = opts.scale
    side = min(report.min_size[0] // s * s, report.min_size[1] // s * s)
    for key, metric in opts.val.metrics.items():
        need = SSIM_WINDOW if metric.type.lower() in ("calculate_ssim", "ssim") else 1
        left = side - 2 * metric.crop_border
        if left < need:
            return report.narrowest or "", (
                f"{side} pixels on its short side, {max(left, 0)} after "
                f"val.metrics.{key}.crop_border {metric.crop_border}, but {metric.type} needs at least {need}; "
                "lower crop_border or leave the image out"
            )
    return None


def _listing(block: str, faults: list, fate: str) -> str:
    shown = "; ".join(f"{f.path}: {f.detail.removeprefix(f'{f.path}: ')}" for f in faults[:3])
    return f"{block}: {len(faults)} bad sample(s) {fate}: {shown}{' ...' if len(faults) > 3 else ''}"


def build_run(
    opts: Options,
    device: torch.device,
    seed: int,
    world_size: int,
    check_data: bool = True,
    announce: Callable[[str], None] | None = None,
    resuming: bool = False,
) -> Run:
    """`check_data`: run the dataset check (one process of a torchrun group is enough); `announce` hears about a
    long one before it starts; `resuming`: a training state replaces the pretrained weights."""
    notes: list[str] = check_train_data(opts, announce) if check_data else []
    if opts.train.warmup_iter > opts.train.total_iter:
        notes.append(
            f"train.warmup_iter {opts.train.warmup_iter} is longer than train.total_iter {opts.train.total_iter}: "
            "the learning rate never reaches its set value in this run"
        )
    with errors_in_block("train"):
        train_set, ds_opts = build_train_dataset(opts, seed)
    if ds_opts.type == "realesrgandataset" and ds_opts.dataroot_lq and opts.dataroot_lq_prob == 0:
        notes.append(
            "datasets.train.dataroot_lq is not read: realesrgandataset makes each LR from its GT on the fly "
            "(dataroot_lq_prob mixes its real LRs in; for LR/GT pairs only use pairedimagedataset with "
            "high_order_degradation: false)"
        )
    if ds_opts.type != "realesrgandataset" and opts.dataroot_lq_prob > 0:
        notes.append(
            "dataroot_lq_prob: no effect, the LR is made on the fly only with high_order_degradation: true"
        )
    batch = ds_opts.train_batch()
    refuse_a_pair_pool_too_big(train_set, opts.scale, device)
    check_epoch_size(train_set.__len__(), ds_opts.dataset_enlarge_ratio)  # len() overflows past 2^63
    per_step = batch * ds_opts.accum_iter * world_size
    if len(train_set) < per_step:
        raise ConfigError(
            f"datasets.train: {epoch_size_words(len(train_set), ds_opts.dataset_enlarge_ratio)} but batch_size_per_gpu "
            f"{batch} x accum_iter {ds_opts.accum_iter} x {world_size} process(es) needs at least {per_step}; "
            "lower the batch size or add images"
        )
    val_sets = {}
    if opts.val_datasets and not validation_datasets(opts):
        notes.append(
            f"{', '.join(f'datasets.{n}' for n in opts.val_datasets)}: not read, validation is off "
            f"({'val.val_enabled: false' if opts.val is not None else 'no val block'})"
        )
    for name, v in validation_datasets(opts).items():
        if v.type == "singleimagedataset":
            notes.append(
                f"datasets.{name}: LR images only (singleimagedataset): each validation saves their upscaled "
                "pictures, without scores; net_g_best and early stopping follow a set with ground truth"
            )
        with errors_in_block(name):
            val_sets[name] = build_dataset(v.as_scored(), opts.scale, seed)
    crop = (lq, opts.scale) if (lq := opts.train_dataset.crop_size(opts.scale)) else None
    losses, loss_notes = build_losses([spec.model_dump() for spec in opts.train.losses], crop=crop)
    notes += loss_notes
    if ds_opts.color == "y" and any(e.type == "hsluvloss" for e in losses):
        notes.append(
            "hsluvloss on 1-channel images (color: y): gray has no hue or saturation, only its lightness trains"
        )
    for i, spec in enumerate(opts.train.losses):
        if spec.loss_weight > 0 and spec.start_iter > opts.train.total_iter:
            # Trained without it, and without a word (a GAN that never started, in a shortened test run).
            notes.append(
                f"train.losses[{i}] ({spec.type}) starts at iteration {spec.start_iter}, after train.total_iter "
                f"{opts.train.total_iter}: this run never applies it"
            )
    if not losses:
        raise ConfigError("train.losses: every loss has weight 0; nothing to train")
    for entry in losses:
        entry.module.to(device)
    if unmet := unmet_loss_needs(opts):
        raise ConfigError(unmet[0][1])
    g = build_generator(opts, device, notes, resuming)
    check_channels(opts, g.info.in_channels, g.info.out_channels)
    trained = any(e.inputs == "gan" for e in losses)
    d = build_discriminator_part(opts, device, notes, trained, resuming)
    workers = loader_workers(ds_opts.num_worker_per_gpu, notes)
    prefetch = ds_opts.prefetch_factor or 4
    return Run(g, d, losses, train_set, val_sets, batch, ds_opts.accum_iter, workers, notes, prefetch)


def refuse_a_pair_pool_too_big(train_set: Dataset, scale: int, device: torch.device) -> None:
    """The pair pool (queue_size) holds float32 GT and LR crops on the training device; one over half its memory ran
    out at the first iteration, with advice about batch_size and lq_size."""
    otf, gt = getattr(train_set, "degradations", None), getattr(train_set, "gt_size", None)
    if otf is None or gt is None or not otf.queue_size:
        return
    pool = otf.queue_size * 3 * (gt * gt + (gt // scale) ** 2) * 4
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
    elif hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    else:
        return
    if pool > total / 2:
        raise ConfigError(
            f"queue_size {otf.queue_size}: its pair pool would hold {pool / 2**30:.1f} GiB of crops on {device}, more "
            f"than half its {total / 2**30:.1f} GiB; Real-ESRGAN uses 180 (0 turns the pool off)"
        )


def loader_workers(requested: int | None, notes: list[str]) -> int:
    """Data-loading processes for this training process: as asked, but no more than its share of the CPU cores
    (option files written for a 16-core box otherwise start 8 workers per GPU on a laptop, and torch only warns).
    Every sample is seeded by its index, so the count never changes what is trained on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    share = max(cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)
    if requested is None:
        return min(2, share)
    if requested > share:
        notes.append(
            f"datasets.train.num_worker_per_gpu {requested} is more than the {share} CPU core(s) this process "
            f"has: using {share} (more would only add memory and contention)"
        )
        return share
    return requested


def check_channels(opts: Options, g_in: int, g_out: int) -> None:
    """Every dataset's channels (1 with `color: y`, else 3) must be what the generator takes and gives."""
    blocks = {"train": opts.train_dataset, **opts.val_datasets}
    for name, ds in blocks.items():
        if ds is None:
            continue
        channels = 1 if ds.color == "y" else 3
        if (g_in, g_out) != (channels, channels):
            what = (
                "color: y gives 1-channel (luma) images" if channels == 1 else "images are RGB (3 channels)"
            )
            fix = f"set network_g.num_in_ch and num_out_ch to {channels}" + (
                "" if channels == 1 else ", or color: y in every dataset"
            )
            raise ConfigError(
                f"datasets.{name}: {what} but network_g takes {g_in} and gives {g_out} channels; {fix}"
            )
    d = opts.network_d
    if d is not None:
        kw = d.kwargs()
        d_in = int(kw.get("num_in_ch", kw.get("in_nc", 3)))
        if d_in != g_out:
            raise ConfigError(
                f"network_d.num_in_ch is {d_in} but the generator gives {g_out}-channel images; set it to {g_out}"
            )
