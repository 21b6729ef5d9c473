"""What upres does with each traiNNer-redux key that it does not simply honour (see redux_keys.py).

Rules are (pattern over redux key paths, category, one-line note); the first match wins. "b" keys are rewritten by
upres.train.compat; "c" keys are accepted and logged as having no effect; "d" keys are accepted at a value that
changes nothing (redux's default, or off) and refused otherwise; their note names what upres does not implement.
OVERRIDES apply even where upres's option models accept the key (a compatibility field with another meaning);
RULES apply only to keys upres's models do not accept, so a rule for a feature being added (marked PENDING) lapses
by itself once the feature's option exists, and the key becomes (a).
A_NOTES: a note for an (a) key.
DEFAULT_DIFFERS: (a) keys whose upres default is not redux's on purpose, with the reason; a note is logged when a
redux file relies on the default.
"""

from __future__ import annotations

PENDING = " (being added)"
TORCHRUN = "torchrun and the environment decide"
RUNTIME = "redux fills it in at run time"
LAYOUT = "upres writes everything under experiments_root (experiments/<name>/ by default)"
PD_FD = "only used by the pd/fd criteria, which upres reads as l1"
NO_LOSS = "this loss (accepted with loss_weight 0)"

OVERRIDES: list[tuple[str, str, str]] = [
    ("num_gpu", "c", TORCHRUN),
    ("dist_params", "c", TORCHRUN),
    ("datasets.*.dataset_enlarge_ratio", "b", "'auto' is read as 1: upres's sampler never runs out of data"),
    ("datasets.*.gt_size", "b", "read as lq_size = gt_size / scale"),
    (
        "datasets.*.io_backend",
        "d",
        "data backends other than disk, such as lmdb (convert the dataset to image folders)",
    ),
    ("datasets.*.blur_kernel_size*", "c", "kernel sizes come from kernel_range, as in redux"),
    ("train.losses.perceptualloss.criterion", "b", "pd+l1, fd+l1, pd and fd are read as l1 (with a note)"),
    ("val.pbar", "c", "upres shows no validation progress bar; the log says when validation starts and ends"),
    ("logger.wandb.*", "c", "Weights & Biases logging is not implemented; TensorBoard is (use_tb_logger)"),
    ("onnx.optimize", "c", "OnnxSlim is not part of upres; `upres convert -c` writes the graph as exported"),
    ("onnx.bf16_exclude_depthwise", "c", "bf16 ONNX export is not implemented in upres"),
    ("onnx.wrap_5d_to_4d", "c", "for video networks; upres's networks take 4-D input"),
]

RULES: list[tuple[str, str, str]] = [
    # ---- top level
    ("dist", "c", TORCHRUN),
    ("launcher", "c", TORCHRUN),
    ("rank", "c", TORCHRUN),
    ("world_size", "c", TORCHRUN),
    ("find_unused_parameters", "c", "DDP detail; upres's networks use every parameter"),
    ("auto_resume", "c", "pass `upres train --resume auto`"),
    ("watch", "c", "redux's option-file watcher; not used"),
    ("is_train", "c", RUNTIME),
    ("root_path", "c", RUNTIME),
    ("contents", "c", RUNTIME),
    ("start_iter", "c", RUNTIME + "; upres reads the iteration from the training state"),
    ("switch_iter_per_epoch", "c", RUNTIME),
    (
        "detect_anomaly",
        "c",
        "debugging aid with no effect on the result; upres reports non-finite losses itself",
    ),
    ("input_pixel_format", "d", "pixel formats other than rgb"),
    ("output_pixel_format", "d", "pixel formats other than rgb"),
    ("network_g_teacher", "d", "teacher networks (distillation)"),
    ("network_ae", "d", "autoencoder networks"),
    # ---- datasets
    ("datasets.*.mean", "d", "input normalization (mean/std)"),
    ("datasets.*.std", "d", "input normalization (mean/std)"),
    ("datasets.*.clip_size", "c", "video datasets only; upres trains on images"),
    # ---- path
    ("path.models", "c", LAYOUT),
    ("path.training_states", "c", LAYOUT),
    ("path.log", "c", LAYOUT),
    ("path.visualization", "c", LAYOUT),
    ("path.results_root", "c", LAYOUT),
    ("path.resume_models", "c", "upres resumes networks from the training state (path.resume_state)"),
    ("path.pretrain_network_g_ema", "d", "a separate EMA pretrain (the EMA starts from network_g)"),
    ("path.pretrain_network_g_teacher", "d", "teacher networks (distillation)"),
    ("path.pretrain_network_g_path", "d", "autoencoder and teacher pretrains"),
    ("path.pretrain_network_ae*", "d", "autoencoder networks"),
    ("path.ignore_resume_networks", "d", "resuming only some networks (upres resumes every network)"),
    # ---- train
    ("train.adaptive_d", "d", "adaptive discriminator updates"),
    ("train.adaptive_d_*", "c", "only used with adaptive_d, which upres does not implement"),
    ("train.ema_switch_iter", "d", "switching the online model to the EMA"),
    ("train.ema_update_after_step", "d", "a delayed EMA start"),
    ("train.use_moa", "d", "mixture of augmentations (MoA)"),
    ("train.moa_*", "c", "only used with use_moa, which upres does not implement"),
    ("train.eco.enabled", "d", "ECO training (it needs a teacher network)"),
    ("train.eco.*", "c", "only used with eco.enabled, which upres does not implement"),
    ("train.optim_ae", "d", "autoencoder networks"),
    ("train.*_opt", "b", "BasicSR's one block per loss, read as an entry of train.losses"),
    # ---- losses
    ("train.losses.perceptualloss.verbose_logging", "c", "logging detail only"),
    ("train.losses.*.reduction", "d", "loss reductions other than mean" + PENDING),
    (
        "train.losses.mssimloss.channels",
        "c",
        "redux does not read it either: the channels come from the images",
    ),
    ("train.losses.mssimloss.downsample", "d", "MATLAB-style averaging of images over 384 px before MS-SSIM"),
    ("train.losses.mssimloss.is_prod", "d", "MS-SSIM scales combined as a weighted sum (is_prod: false)"),
    ("train.losses.perceptualloss.w_lambda", "c", PD_FD),
    ("train.losses.perceptualloss.num_proj_fd", "c", PD_FD),
    ("train.losses.perceptualloss.phase_weight_fd", "c", PD_FD),
    ("train.losses.perceptualloss.stride_fd", "c", PD_FD),
    ("train.losses.perceptualloss.alpha", "d", "per-layer mixing weights of the pd/fd criteria with l1"),
    ("train.losses.perceptualloss.clip_min", "d", "a lower bound on the perceptual loss"),
    ("train.losses.perceptualloss.antialiased", "d", "an anti-aliased VGG19 (antialiased_cnns)"),
    ("train.losses.msssiml1loss.cuda_dev", "c", "device placement; upres uses the training device"),
    ("train.losses.msssiml1loss.*", "d", "this msssiml1loss parameter"),
    ("train.losses.*", "d", NO_LOSS),
    # ---- val
    ("val.metrics.calculate_psnr_pt.*", "b", "read as calculate_psnr (the same metric on tensors)"),
    ("val.metrics.calculate_ssim_pt.*", "b", "read as calculate_ssim (the same metric on tensors)"),
    ("val.metrics.*.input_order", "c", "upres's metrics take tensors; the layout is fixed"),
    ("val.metrics.calculate_lpips.net", "d", "LPIPS on networks other than AlexNet"),
    # ---- logger
    # ---- networks
    ("network_d.metagan2.*", "d", "the metagan2 discriminator (dunet and unetdiscriminatorsn are there)"),
]

A_NOTES: dict[str, str] = {
    "network_g.*.scale": "must equal the top-level scale",
    "onnx.*": "read by `upres convert -c FILE`",
    "onnx.dtype": "fp32 and fp16 are exported; bf16 is refused",
    "network_g.*compact.act_type": "relu/leakyrelu models open in upres but not in chaiNNer/spandrel (the run says so)",
    "network_g.*compact.learn_residual": "false: such models open in upres but not in chaiNNer/spandrel",
    "dataroot_lq_prob": "drawn per item (redux: once per batch)",
    "network_d.*patchgandiscriminatorsn.use_sigmoid": (
        "true is refused for training: every ganloss takes logits (redux applies the sigmoid twice)"
    ),
    "train.losses.*.reduction": "mean or sum; none is refused",
    "train.restart_scheduler": (
        "meaning differs: upres starts the schedule again from its first step at the options' lr, so warm-up and "
        "milestones count from the resumed iteration; redux keeps counting from 0 (upres does so without the key, "
        "following milestones moved in the file)"
    ),
}

# (a) keys whose upres default differs from redux's on purpose: key -> why. A file that leaves such a key out while
# the default is used gets a note in the log (upres.train.redux_accept).
DEFAULT_DIFFERS: dict[str, str] = {
    "val.metrics_enabled": (
        "upres computes the metrics a file lists (redux only with metrics_enabled: true); no effect on the weights"
    ),
    "val.metrics": "upres computes psnr and ssim (Y channel, crop 4) when none are listed; redux computes none",
    "val.val_freq": "upres validates every 5000 iterations; redux has no default",
    "val.tile_overlap": "upres blends validation tiles over 16 pixels (0 leaves seams); no effect on the weights",
    "train.optim_g": "upres uses AdamW, lr 1e-4, betas [0.9, 0.99], weight_decay 0 when none is given (a block that leaves a parameter out gets torch's default, as in redux); redux has no default",
    "train.losses": "upres trains with l1loss when none are given; redux has no default",
    "network_g": "required by upres; redux builds no generator without it",
    "train.scheduler": "none in redux is a constant learning rate, as upres's default MultiStepLR without milestones",
    "datasets.*.prefetch_factor": "upres's loader workers prepare 4 batches ahead (redux: 2); speed only",
}

# What redux's constructors use where their signature says None (traiNNer/losses/perceptual_fp16_loss.py:
# VGG19_CONV_LAYER_WEIGHTS for the l1/charbonnier criteria); compared with upres's by tests/train/test_redux_keys.py.
REDUX_EFFECTIVE: dict[str, object] = {
    "train.losses.perceptualloss.layer_weights": {
        "conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1,
    },
}  # fmt: skip
