"""What a traiNNer-redux file gets beyond the key table: spellings redux accepts (type names in any case, unsorted
milestones, `key: ~`) and the log notes for keys that change nothing."""

from __future__ import annotations

import copy

import pytest

from upres.archs import build_network
from upres.archs.discriminators import build_discriminator
from upres.errors import ConfigError
from upres.losses import build_losses
from upres.train.config import parse_options

BASE = {
    "name": "x",
    "scale": 4,
    "datasets": {
        "train": {"type": "PairedImageDataset", "dataroot_gt": "hr", "lq_size": 16},
        "val": {"type": "PAIREDIMAGEDATASET", "dataroot_gt": "hr"},
    },
    "network_g": {"type": "ESRGAN_Lite"},
    "train": {"total_iter": 10},
}


def _parse(**blocks):
    data = copy.deepcopy(BASE)
    for k, v in blocks.items():
        data[k] = {**data[k], **v} if isinstance(data.get(k), dict) else v
    return parse_options(data, "opt.yml")


def test_type_names_in_any_case():
    opts = _parse(
        train={
            "total_iter": 10,
            "losses": [{"type": "L1Loss", "loss_weight": 1}, {"type": "MSSIMLoss", "loss_weight": 0.5}],
        },
        val={"val_freq": 5, "metrics": {"psnr": {"type": "CALCULATE_PSNR", "crop_border": 4}}},
    )
    assert opts.datasets["train"].type == opts.datasets["val"].type == "pairedimagedataset"
    entries, _ = build_losses(opts.train.losses)
    assert [e.type for e in entries] == ["l1loss", "mssimloss"]
    _, info = build_network(opts.network_g.type, num_block=1, scale=4)
    assert info.params["num_feat"] == 32  # esrgan_lite's width
    assert type(build_discriminator("UNetDiscriminatorSN", num_feat=8)).__name__ == "UNetDiscriminatorSN"


def test_unsorted_milestones_are_sorted_with_a_note():
    opts = _parse(
        train={"total_iter": 10, "scheduler": {"type": "MultiStepLR", "milestones": [300, 100, 200]}}
    )
    assert opts.train.scheduler.milestones == [100, 200, 300]
    assert (
        "train.scheduler.milestones [300, 100, 200] sorted to [100, 200, 300], as redux does"
        in opts.compat_notes
    )


def test_null_for_a_key_redux_defaults_to_null_means_upres_s_default():
    opts = _parse(
        val={"val_freq": None, "metrics_enabled": True, "metrics": None}, path={"param_key_g": None}
    )
    assert opts.val.val_freq == 5000 and opts.val.metrics == {}
    assert opts.path.param_key_g is None


def test_keys_without_effect_are_noted_once_per_reason():
    opts = _parse(num_gpu="auto", dist_params={"backend": "nccl"}, launcher="pytorch", detect_anomaly=False)
    notes = [n for n in opts.compat_notes if "no effect in upres" in n]
    assert "num_gpu, dist_params, launcher: no effect in upres (torchrun and the environment decide)" in notes
    assert any(n.startswith("detect_anomaly: no effect in upres (debugging aid") for n in notes)


def test_switched_on_and_unimplemented_keys_are_refused_by_name():
    for block, key, value, default in [
        ("train", "ema_switch_iter", 1000, "0"),
        ("train", "ema_update_after_step", 10, "0"),
        ("train", "adaptive_d", True, "false"),
        ("datasets", "mean", [0.5, 0.5, 0.5], "null"),
        (None, "input_pixel_format", "y", "rgb"),
    ]:
        data = copy.deepcopy(BASE)
        owner = data if block is None else data["datasets"]["train"] if block == "datasets" else data[block]
        owner[key] = value
        with pytest.raises(ConfigError) as exc:
            parse_options(data, "opt.yml")
        shown = {None: key, "datasets": f"datasets.train.{key}"}.get(block, f"{block}.{key}")
        assert str(exc.value).startswith(f"opt.yml: {shown}: not implemented in upres: "), str(exc.value)
        assert str(exc.value).endswith(f"; set it to {default} or remove it")


def test_moa_settings_are_accepted_while_moa_is_off():
    opts = _parse(
        train={"total_iter": 10, "use_moa": False, "moa_augs": ["none", "mixup"], "moa_probs": [0.5, 0.5]}
    )
    assert (
        "train.use_moa: accepted at traiNNer-redux's default (not implemented in upres)" in opts.compat_notes
    )
    assert any(n.startswith("train.moa_augs, train.moa_probs: no effect in upres") for n in opts.compat_notes)


GAN_OPT = {
    "type": "GANLoss",
    "gan_type": "vanilla",
    "real_label_val": 1.0,
    "fake_label_val": 0.0,
    "loss_weight": 5e-3,
}


@pytest.mark.parametrize("model_type", ["ESRGANModel", None])
def test_basicsr_s_esrgan_model_trains_the_relativistic_gan(model_type):
    """BasicSR's ESRGAN files (model_type ESRGANModel, gan_opt gan_type vanilla) mean the relativistic average GAN of
    the ESRGAN paper, which BasicSR's ESRGANModel trains; upres trained a plain GAN from them without a word."""
    opts = _parse(
        model_type=model_type,
        train={"total_iter": 10, "pixel_opt": {"type": "L1Loss", "loss_weight": 1e-2}, "gan_opt": GAN_OPT},
    )
    entries, _ = build_losses(opts.train.losses)
    (gan,) = [e for e in entries if e.type == "ganloss"]
    note = (
        "train.losses[1]: model_type ESRGANModel trains the relativistic GAN (BasicSR's ESRGAN): gan_type vanilla "
        "read as ragan"
    )
    if model_type:
        assert gan.module.relativistic and gan.weight == 5e-3
        assert note in opts.compat_notes
    else:  # traiNNer-redux has no relativistic GAN: its files mean the plain one
        assert not gan.module.relativistic and note not in opts.compat_notes


def test_basicsr_s_esrgan_model_with_a_gan_type_upres_has_no_relativistic_form_is_refused():
    with pytest.raises(ConfigError) as exc:
        _parse(
            model_type="ESRGANModel", train={"total_iter": 10, "gan_opt": {**GAN_OPT, "gan_type": "lsgan"}}
        )
    assert str(exc.value).endswith(
        "train.losses[0].gan_type: model_type ESRGANModel trains a relativistic lsgan GAN, which upres does not "
        "implement (its relativistic form is ragan, on BCE); use gan_type: vanilla (read as ragan), or remove "
        "model_type for a plain GAN"
    )


PERCEPTUAL_OPT = {"type": "PerceptualLoss", "layer_weights": {"conv5_4": 1}, "vgg_type": "vgg19", "perceptual_weight": 1.0,
                  "style_weight": 0, "criterion": "l1"}  # fmt: skip


@pytest.mark.parametrize(
    ("model_type", "given", "padding"),
    [("ESRGANModel", None, "zeros"), ("RealESRGANModel", None, "zeros"), ("ESRGANModel", "replicate", "replicate"),
     (None, None, None)],
)  # fmt: skip
def test_basicsr_era_files_keep_basicsr_s_vgg_padding(model_type, given, padding):
    """BasicSR's VGG (and traiNNer-redux's before v1, the files with a model_type) pads conv1_1 with zeros; upres's
    default is today's redux's edge replication, so such a file trained another perceptual loss without a word."""
    spec = {**PERCEPTUAL_OPT, **({"first_padding": given} if given else {})}
    opts = _parse(model_type=model_type, train={"total_iter": 10, "perceptual_opt": spec})
    (entry,) = opts.train.losses
    assert entry.kwargs().get("first_padding") == padding
    note = (
        f"train.losses[0]: model_type {model_type} (a BasicSR-era file): perceptualloss first_padding zeros, as "
        "BasicSR's VGG pads (set first_padding: replicate for traiNNer-redux's)"
    )
    assert (note in opts.compat_notes) == (model_type is not None and given is None)
