"""Option-file keys of traiNNer-redux and BasicSR that upres reads differently or not at all.

Rewrites happen before validation, and each one leaves a note for the log, so a user's existing file runs after
editing only its paths and the log says what was translated or ignored. Which redux key is honoured, translated,
accepted without effect or refused comes from redux's own option structs (upres.train.redux_keys); keys whose
feature is missing and *enabled* are refused: silently training without a requested feature would waste a week of
GPU time.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from upres.doc_pages import doc_page
from upres.errors import ConfigError
from upres.train.realesrgan_keys import translate_realesrgan_keys
from upres.train.redux_accept import accept_redux_keys

if TYPE_CHECKING:
    from upres.train.config import Options

# BasicSR/old traiNNer-redux: one block per loss under `train` instead of the `train.losses` list.
LEGACY_LOSS_BLOCKS = (
    "pixel_opt", "mssim_opt", "ms_ssim_l1_opt", "perceptual_opt", "hsluv_opt", "gan_opt", "ldl_opt", "ff_opt",
    "color_opt", "luma_opt", "dists_opt", "contextual_opt", "avg_opt", "bicubic_opt", "cx_opt", "gv_opt",
    "hr_inversion_opt", "dinov2_opt", "topiq_opt", "pd_opt", "fd_opt",
)  # fmt: skip
# traiNNer-redux perceptual criteria upres maps to the nearest one it has.
PERCEPTUAL_CRITERIA = {"pd+l1": "l1", "fd+l1": "l1", "pd": "l1", "fd": "l1"}
PERCEPTUAL_IGNORED = ("vgg_type", "style_weight", "use_pd")
# LPIPS is checked here (its weights are files we can look for); DISTS/TOPIQ are tried through pyiqa at start-up.
UNAVAILABLE_METRICS = {"calculate_lpips", "calculate_niqe", "lpips", "niqe"}


def translate(data: dict) -> tuple[dict, list[str]]:
    """A copy of `data` with compatible spellings rewritten, and notes saying what changed."""
    if not isinstance(data, dict):
        return data, []
    data = copy.deepcopy(data)
    notes: list[str] = []
    train = data.get("train")
    if isinstance(train, dict):
        _legacy_loss_blocks(train, notes)
        _sorted_milestones(train, notes)
    _metric_spellings(data.get("val"), notes)
    translate_realesrgan_keys(data, notes)
    notes += accept_redux_keys(data)
    if isinstance(train, dict):
        for i, spec in enumerate(train.get("losses") or []):
            if isinstance(spec, dict):
                _perceptual(spec, f"train.losses[{i}]", notes)
                _esrgan_model_gan(data.get("model_type"), spec, f"train.losses[{i}]", notes)
                _basicsr_vgg_padding(data.get("model_type"), spec, f"train.losses[{i}]", notes)
    for key, ds in (data.get("datasets") or {}).items():
        if isinstance(ds, dict):
            _single_gt_dataset(key, ds, notes)
            _realesrgan_paired_dataset(key, ds, data.get("high_order_degradation"), notes)
        if isinstance(ds, dict) and ds.get("dataset_enlarge_ratio") == "auto":
            ds["dataset_enlarge_ratio"] = (
                1  # the sampler never runs out of data, so enlarging changes nothing
            )
    val = data.get("val")
    if isinstance(val, dict):
        enabled = val.get("val_enabled", True) and val.get("metrics_enabled", True)
        for name, metric in list((val.get("metrics") or {}).items()):
            kind = str(metric.get("type", "")).lower() if isinstance(metric, dict) else ""
            if kind in UNAVAILABLE_METRICS:
                reason = _metric_unavailable(kind)
                if reason is None:
                    continue
                val["metrics"].pop(name)
                if enabled:
                    notes.append(f"val.metrics.{name} ({metric['type']}) skipped: {reason}")
    return data, notes


# traiNNer-redux's tensor versions of the metrics: the same numbers as upres's (which run on tensors anyway).
METRIC_SPELLINGS = {"calculate_psnr_pt": "calculate_psnr", "calculate_ssim_pt": "calculate_ssim"}


def _metric_spellings(val: object, notes: list[str]) -> None:
    metrics = val.get("metrics") if isinstance(val, dict) else None
    for name, metric in (metrics or {}).items() if isinstance(metrics, dict) else ():
        kind = str(metric.get("type", "")).lower() if isinstance(metric, dict) else ""
        if kind in METRIC_SPELLINGS:
            metric["type"] = METRIC_SPELLINGS[kind]
            notes.append(f"val.metrics.{name}: {kind} read as {METRIC_SPELLINGS[kind]}")


def _sorted_milestones(train: dict, notes: list[str]) -> None:
    """traiNNer-redux sorts milestones (torch's MultiStepLR counts them as a multiset); say so when they were not."""
    for name in ("scheduler", "scheduler_d"):
        block = train.get(name)
        milestones = block.get("milestones") if isinstance(block, dict) else None
        numbers = isinstance(milestones, list) and all(isinstance(m, int | float) for m in milestones)
        if numbers and milestones != sorted(milestones):
            block["milestones"] = sorted(milestones)
            notes.append(
                f"train.{name}.milestones {milestones} sorted to {block['milestones']}, as redux does"
            )


def _single_gt_dataset(key: str, ds: dict, notes: list[str]) -> None:
    """traiNNer-redux's SingleGtDataset: GT crops whose LR the model makes by resizing (lq_resize_mode), which is
    upres's pairedimagedataset without dataroot_lq."""
    if str(ds.get("type", "")).lower() != "singlegtdataset":
        return
    ds["type"] = "pairedimagedataset"
    how = ds.get("lq_resize_mode") or "MATLAB bicubic (no lq_resize_mode)"
    note = f"datasets.{key}: singlegtdataset is read as pairedimagedataset without dataroot_lq, each LR its GT resized by {how}"
    if ds.pop("dataroot_lq", None) is not None:
        note += "; its dataroot_lq is not read (neither does traiNNer-redux's)"
    notes.append(note)


def _realesrgan_paired_dataset(key: str, ds: dict, high_order: object, notes: list[str]) -> None:
    """traiNNer-redux's RealESRGANPairedDataset: the on-the-fly set that also yields the real LR of each GT, which
    its model takes at dataroot_lq_prob; upres's realesrgandataset with dataroot_lq does the same. Real-ESRGAN's own
    (its finetune_realesrgan_x4plus_pairdata.yml, with high_order_degradation: false) is LR/GT pairs read from disk,
    which redux's cannot train without high_order_degradation: the LR files of such a file are its LR."""
    if str(ds.get("type", "")).lower() != "realesrganpaireddataset":
        return
    if high_order is False and key == "train":
        ds["type"] = "pairedimagedataset"
        notes.append(
            f"datasets.{key}: realesrganpaireddataset with high_order_degradation: false (Real-ESRGAN's paired "
            "fine-tune) is read as pairedimagedataset: its dataroot_lq files are the LR, nothing is made on the fly"
        )
        return
    ds["type"] = "realesrgandataset"
    notes.append(
        f"datasets.{key}: realesrganpaireddataset is read as realesrgandataset, its dataroot_lq mixed in at "
        "dataroot_lq_prob"
    )


def _legacy_loss_blocks(train: dict, notes: list[str]) -> None:
    found = [k for k in LEGACY_LOSS_BLOCKS if k in train]
    if not found:
        return
    losses = list(train.get("losses") or [])
    for key in found:
        block = train.pop(key)
        if not isinstance(block, dict):
            continue
        spec = {k: v for k, v in block.items() if k != "perceptual_weight"}
        spec["type"] = str(spec.get("type", key.removesuffix("_opt"))).lower()
        if "perceptual_weight" in block:
            spec["loss_weight"] = block["perceptual_weight"]
        losses.append(spec)
    train["losses"] = losses
    notes.append(f"train.{', train.'.join(found)} read as entries of train.losses")


def _perceptual(spec: dict, where: str, notes: list[str]) -> None:
    if str(spec.get("type", "")).lower() != "perceptualloss":
        return
    crit = str(spec.get("criterion", "l1")).lower()
    if crit in PERCEPTUAL_CRITERIA:
        spec["criterion"] = PERCEPTUAL_CRITERIA[crit]
        notes.append(
            f"{where}: perceptual criterion {crit!r} is not implemented; using {spec['criterion']!r}"
        )
    for key in PERCEPTUAL_IGNORED:
        if key in spec:
            value = spec.pop(key)
            if key == "vgg_type" and str(value).lower() != "vgg19":
                raise ConfigError(f"{where}.vgg_type: only vgg19 is supported, not {value!r}")
            if key == "style_weight" and value:
                raise ConfigError(
                    f"{where}.style_weight: the style (Gram) loss is not implemented; set it to 0"
                )


def _esrgan_model_gan(model_type: object, spec: dict, where: str, notes: list[str]) -> None:
    """BasicSR's ESRGANModel trains its GANLoss in the relativistic average form (ESRGAN eq. 1-2) whatever the
    gan_type; its ESRGAN files say `gan_type: vanilla`, which upres (as traiNNer-redux) trains as a plain GAN."""
    if str(model_type or "").lower() != "esrganmodel" or str(spec.get("type", "")).lower() != "ganloss":
        return
    gan_type = str(spec.get("gan_type", "vanilla")).lower()
    if gan_type == "vanilla":
        spec["gan_type"] = "ragan"
        notes.append(
            f"{where}: model_type ESRGANModel trains the relativistic GAN (BasicSR's ESRGAN): gan_type vanilla read "
            "as ragan"
        )
    elif gan_type != "ragan":
        raise ConfigError(
            f"{where}.gan_type: model_type ESRGANModel trains a relativistic {gan_type} GAN, which upres does not "
            "implement (its relativistic form is ragan, on BCE); use gan_type: vanilla (read as ragan), or remove "
            "model_type for a plain GAN"
        )


def _basicsr_vgg_padding(model_type: object, spec: dict, where: str, notes: list[str]) -> None:
    """`model_type` is only in BasicSR's files and traiNNer-redux's before v1 (July 2024), whose VGG padded conv1_1
    with zeros; upres's default is today's redux's edge replication (a gradient at a cosine of ~0.9 to the other's on
    128 px crops)."""
    if not model_type or str(spec.get("type", "")).lower() != "perceptualloss" or "first_padding" in spec:
        return
    spec["first_padding"] = "zeros"
    notes.append(
        f"{where}: model_type {model_type} (a BasicSR-era file): perceptualloss first_padding zeros, as BasicSR's VGG "
        "pads (set first_padding: replicate for traiNNer-redux's)"
    )


def _metric_unavailable(kind: str) -> str | None:
    """Why a perceptual metric cannot run here, or None when it can."""
    if kind in ("calculate_lpips", "lpips"):
        from upres.metrics.lpips import unavailable_reason

        return unavailable_reason()
    return (
        f"upres does not implement it (LPIPS, DISTS and TOPIQ are available; see {doc_page('migrating.md')})"
    )


D_KEYS = ("optim_d", "scheduler_d", "net_d_iters", "net_d_init_iters", "d_input_noise", "gradient_penalty")
D_NOTE = "no effect, there is no network_d (a GAN stage needs a network_d block and a ganloss)"


def unused_discriminator_keys(options: Options) -> list[str]:
    """The discriminator's keys in a file without network_d were ignored without a word."""
    fields = type(options.train).model_fields
    given = [f"train.{k}" for k in D_KEYS if getattr(options.train, k) != fields[k].default]
    given += ["path.pretrain_network_d"] if options.path.pretrain_network_d is not None else []
    return [f"{', '.join(given)}: {D_NOTE}"] if given else []


def idle_generator_note(options: Options) -> list[str]:
    """A D warm-up (net_d_init_iters) or G period (net_d_iters) that outlasts the run: G stopped at the GAN's start
    while the progress lines went on showing its losses (the schedule of `gan_step.gan_schedule`)."""
    t = options.train
    starts = [
        e.start_iter
        for e in t.losses
        if e.type.lower() in ("ganloss", "multiscaleganloss") and e.loss_weight > 0
    ]
    if options.network_d is None or not starts or min(starts) > t.total_iter:
        return []
    gan_start = max(min(starts), 1)
    first_g_step = -(-(gan_start + t.net_d_init_iters) // t.net_d_iters) * t.net_d_iters
    if first_g_step <= t.total_iter:
        return []
    return [
        f"train.net_d_init_iters {t.net_d_init_iters}, net_d_iters {t.net_d_iters}: the generator does not step "
        f"from iteration {gan_start} (the GAN's start) to train.total_iter {t.total_iter}, only the discriminator "
        f"trains; its first step would be iteration {first_g_step}"
    ]
