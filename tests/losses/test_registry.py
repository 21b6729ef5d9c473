import pytest
import torch
import yaml
from pydantic import ValidationError

from upres.errors import ConfigError
from upres.losses import LOSSES, LossOptions, build_loss, build_losses
from upres.losses.gan import GANLoss
from upres.losses.pixel import L1Loss


def test_traiNNer_names_and_basicsr_class_names():
    assert isinstance(build_loss({"type": "l1loss"}), L1Loss)
    assert isinstance(build_loss({"type": "L1Loss", "loss_weight": 0.01}), L1Loss)
    gan = build_loss({"type": "GANLoss", "gan_type": "ragan", "real_label_val": 1.0, "fake_label_val": 0.0})
    assert isinstance(gan, GANLoss) and gan.relativistic


def test_unknown_type_lists_what_exists():
    with pytest.raises(ConfigError) as err:
        build_loss({"type": "contextualloss"})
    assert str(err.value) == (
        "train.losses: loss type 'contextualloss' is not implemented (did you mean 'perceptualloss'?); "
        "available: " + ", ".join(LOSSES)
    )


def test_unknown_key_suggests():
    with pytest.raises(
        ConfigError, match=r"\(ganloss\): unknown key 'gan_typ' \(did you mean 'gan_type'\?\)"
    ):
        build_loss({"type": "ganloss", "gan_typ": "vanilla"})


def test_build_losses_skips_zero_weight_and_names_entries():
    entries, notes = build_losses(
        [
            {"type": "l1loss", "loss_weight": 0.01},
            {"type": "mssimloss", "loss_weight": 0},
            {"type": "ganloss", "gan_type": "vanilla", "loss_weight": 0.1, "start_iter": 100},
            {"type": "charbonnierloss", "loss_weight": 1},
        ]
    )
    assert [e.type for e in entries] == ["l1loss", "ganloss", "charbonnierloss"]
    assert notes == ["train.losses[1] (mssimloss) skipped: loss_weight 0"]
    gan = entries[1]
    assert gan.inputs == "gan" and not gan.active(99) and gan.active(100) and gan.weight == 0.1


def test_a_loss_upres_lacks_at_weight_0_keeps_every_later_index():
    """redux's templates list losses upres lacks at weight 0; dropping them before numbering named the wrong entry in
    every later note and error."""
    specs = [
        {"type": "l1loss", "loss_weight": 1},
        {"type": "distsloss", "loss_weight": 0},
        {"type": "mssimloss", "loss_weight": 0},
        {"type": "ldlloss", "loss_weight": "big"},
    ]
    with pytest.raises(ValidationError):
        build_losses(specs)
    specs[3]["loss_weight"] = 0
    _, notes = build_losses(specs)
    assert notes == [
        "train.losses[1] (distsloss) skipped: loss_weight 0 (upres does not implement it)",
        "train.losses[2] (mssimloss) skipped: loss_weight 0",
        "train.losses[3] (ldlloss) skipped: loss_weight 0",
    ]
    specs[3] = {"type": "ffloss", "loss_weight": 1, "alpha": "big"}
    with pytest.raises(ConfigError, match=r"^train\.losses\[3\] \(ffloss\)"):
        build_losses(specs)


def test_loss_options_validate_common_keys():
    with pytest.raises(ValidationError):
        LossOptions.model_validate({"type": "l1loss", "loss_weight": -1})
    with pytest.raises(ConfigError, match="only one ganloss"):
        build_losses([{"type": "ganloss"}, {"type": "ganloss"}])


def test_check_loss_spec_validates_without_building(tmp_path, monkeypatch):
    import torch

    from upres.losses import check_loss_spec

    # no VGG file anywhere: checking the entry must not try to load it
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    key, kwargs = check_loss_spec(
        {"type": "perceptualloss", "layer_weights": {"conv5_4": 1}, "criterion": "l1"}
    )
    assert key == "perceptualloss" and kwargs == {"layer_weights": {"conv5_4": 1}, "criterion": "l1"}
    with pytest.raises(
        ConfigError, match=r"train.losses\[3\] \(perceptualloss\): unknown key 'layer_weight'"
    ):
        check_loss_spec({"type": "perceptualloss", "layer_weight": {}}, "train.losses[3]")


def test_ffloss_patch_factor_below_one_is_a_config_error():
    """0 divided by zero at the first step (a traceback)."""
    with pytest.raises(
        ConfigError, match=r"^train.losses \(ffloss\): patch_factor must be a positive integer, got 0$"
    ):
        build_loss({"type": "ffloss", "patch_factor": 0})


def test_a_loss_type_given_twice_counts_twice_with_a_note():
    """traiNNer-redux keeps only the last entry of a type; upres adds both, which a migrating user should be told."""
    from upres.losses import build_losses

    entries, notes = build_losses(
        [{"type": "l1loss", "loss_weight": 1.0}, {"type": "l1loss", "loss_weight": 0.5, "start_iter": 10}]
    )
    assert [(e.log_name, e.weight) for e in entries] == [("l1", 1.0), ("l12", 0.5)]
    assert notes == [
        "train.losses[1] (l1loss): a second l1loss entry; upres adds both (logged as l_g_l12), traiNNer-redux keeps "
        "only the last"
    ]


def test_msssiml1loss_says_it_is_not_redux_s_formula():
    from upres.losses import build_losses

    _, notes = build_losses([{"type": "msssiml1loss", "loss_weight": 1.0}])
    assert notes == [
        "train.losses[0] (msssiml1loss): upres's is Zhao et al.'s MS-SSIM (5 downsampled scales) + L1; "
        "traiNNer-redux's is a full-resolution Gaussian-weighted form with other values (about 0.11 where this gives "
        "0.07): a weight tuned there may need retuning"
    ]


def test_a_loss_s_own_message_names_the_entry_once(tmp_path):
    """'train.losses[2] (ganloss): ganloss: unknown gan_type' named the loss twice."""
    with pytest.raises(ConfigError) as exc:
        build_loss({"type": "ganloss", "gan_type": "rgan"}, "train.losses[2]")
    assert str(exc.value) == (
        "train.losses[2] (ganloss): unknown gan_type 'rgan'; available: vanilla, ragan, lsgan, hinge, wgan, "
        "wgan_softplus"
    )
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(ConfigError) as exc:
        build_loss({"type": "perceptualloss", "vgg_weights_path": str(bad)}, "train.losses[1]")
    assert str(exc.value).startswith(
        f"train.losses[1] (perceptualloss): {bad} is not torchvision's VGG19 file"
    )


def test_redux_s_multiscaleganloss_is_the_gan_loss_over_a_multiscale_d_s_maps():
    """A traiNNer-redux file for a multi-scale PatchGAN names it multiscaleganloss; it was refused as not implemented,
    though ganloss computes the same (each map's mean loss, averaged over the maps)."""
    entries, _ = build_losses([{"type": "multiscaleganloss", "gan_type": "lsgan", "loss_weight": 0.1}])
    (gan,) = entries
    assert (gan.inputs, gan.log_name, gan.weight) == ("gan", "gan", 0.1)
    maps = [torch.zeros(1, 1, 4, 4), torch.full((1, 1, 2, 2), 3.0)]
    assert gan.module(maps, True).item() == pytest.approx(((0 - 1) ** 2 + (3 - 1) ** 2) / 2)
    with pytest.raises(ConfigError, match="only one ganloss entry"):
        build_losses([{"type": "ganloss"}, {"type": "multiscaleganloss"}])


def test_numbers_in_exponent_form_that_yaml_1_1_reads_as_text_are_numbers():
    """PyYAML reads `eps: 1e-6` as the string '1e-6': charbonnierloss refused it, translationalloss stopped on
    Python's "'<' not supported between 'float' and 'str'", while loss_weight took the same text as a number."""
    specs = yaml.safe_load(
        """
        - {type: charbonnierloss, eps: 1e-6, loss_weight: 5e-3}
        - {type: translationalloss, crop_fraction: 5e-1, criterion: l1}
        - {type: mssimloss, sigma: 15e-1, padding: same}
        - {type: ganloss, real_label_val: 9E-1}
        """
    )
    assert specs[0]["eps"] == "1e-6"  # the trap itself
    entries, _ = build_losses(specs)
    charbonnier, translational, mssim, gan = (e.module for e in entries)
    assert (charbonnier.eps, entries[0].weight) == (1e-6, 5e-3)
    assert translational.crop_fraction == 0.5
    assert (mssim.sigma, mssim.padding) == (1.5, "same")
    assert gan.real_label_val == 0.9


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "translationalloss", "crop_fraction": "abc"}, "crop_fraction must be a number, not 'abc'"),
        ({"type": "translationalloss", "border": 1.5}, "border must be a whole number, not 1.5"),
        ({"type": "ffloss", "alpha": "abc"}, "alpha must be a number, not 'abc'"),
        ({"type": "ffloss", "patch_factor": 2.5}, "patch_factor must be a whole number, not 2.5"),
        ({"type": "ganloss", "real_label_val": "abc"}, "real_label_val must be a number, not 'abc'"),
        ({"type": "ganloss", "fake_label_val": True}, "fake_label_val must be a number, not True"),
    ],
)
def test_a_key_of_the_wrong_kind_is_named(spec, message):
    """Text ended in Python's "'<' not supported between instances of 'float' and 'str'" or "could not convert string
    to float" without the key; 1.5 where a whole number goes was cut to 1 without a word."""
    with pytest.raises(ConfigError) as exc:
        build_loss(spec, "train.losses[0]")
    assert str(exc.value) == f"train.losses[0] ({spec['type']}): {message}"


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"type": "mssimloss", "test_y_channel": "false"}, "test_y_channel"),
        ({"type": "ffloss", "ave_spectrum": "no"}, "ave_spectrum"),
        ({"type": "ffloss", "log_matrix": 1}, "log_matrix"),
    ],
)
def test_a_switch_given_as_text_or_a_number_is_refused(spec, key):
    """test_y_channel: 'false' (quoted) was taken by its truth value, i.e. as true, without a word."""
    with pytest.raises(ConfigError) as exc:
        build_loss(spec, "train.losses[0]")
    assert str(exc.value) == f"train.losses[0].{key}: true or false, not {spec[key]!r}"
