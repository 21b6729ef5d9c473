"""Perceptual loss with a random VGG19 saved in torchvision's layout (no download)."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from amp_helpers import assert_float32_under_autocast

from upres.errors import ConfigError
from upres.losses.perceptual import VGG19_FILE, PerceptualLoss, VGGFeatures

CONV5_4 = 34  # index of conv5_4 in torchvision's vgg19.features


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    # Rescale each conv so its output has unit spread on natural-range inputs (deep random nets otherwise shrink
    # activations to ~1e-7, where float32 rounding hides what the tests compare).
    x = _normalise(torch.rand(2, 3, 32, 32))
    with torch.no_grad():
        for layer in features:
            y = layer(x)
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.div_(y.std())
                layer.bias.div_(y.std())
                y = layer(x)
            x = y
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


def _tv_features(path: Path) -> torch.nn.Sequential:
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    state = torch.load(path, weights_only=True)
    features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
    return features.eval()


def _normalise(x):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def test_features_match_torchvision_before_activation(vgg_file, tv):
    ours = VGGFeatures(["conv5_4", "relu2_2"])
    ours.load_torchvision(vgg_file)
    assert len(ours.features) == CONV5_4 + 1  # built only up to the deepest requested layer
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        got = ours(x)
        want = tv[: CONV5_4 + 1](_normalise(x))
        want_relu22 = tv[:9](_normalise(x))
    assert torch.allclose(got["conv5_4"], want, atol=1e-5)
    assert (got["conv5_4"] < 0).any()  # raw conv output, not rectified
    assert torch.allclose(got["relu2_2"], want_relu22, atol=1e-5)


@pytest.fixture(scope="module")
def tv(vgg_file) -> torch.nn.Sequential:
    return _tv_features(vgg_file)


@pytest.mark.slow
def test_loss_is_pre_activation(vgg_file, tv):
    torch.manual_seed(3)
    sr, gt = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        raw_sr, raw_gt = tv[: CONV5_4 + 1](_normalise(sr)), tv[: CONV5_4 + 1](_normalise(gt))
    expected = F.l1_loss(raw_sr, raw_gt).item()
    reach = 2 * max(raw_sr.abs().max().item(), raw_gt.abs().max().item())
    loss_fn = PerceptualLoss(
        {"conv5_4": 1.0}, criterion="l1", vgg_weights_path=vgg_file, first_padding="zeros"
    )
    bias = loss_fn.vgg.features[CONV5_4].bias
    losses = {}
    for shift in (-reach, 0.0, reach):
        with torch.no_grad():
            bias.add_(shift)
            feats = loss_fn.vgg(sr)["conv5_4"]
            losses[shift] = (loss_fn(sr, gt).item(), (feats > 0).float().mean().item())
            bias.sub_(shift)
    # Shifting conv5_4's bias by -reach makes every output negative: after ReLU both feature maps would be all
    # zero and the loss 0; by +reach every output is positive. Taken before activation, the difference of the raw
    # outputs does not depend on the bias at all, so the loss is the same in all three cases.
    assert losses[-reach][1] == 0.0 and losses[reach][1] == 1.0
    for value, _ in losses.values():
        assert value == pytest.approx(expected, rel=1e-4)
    assert expected > 0


def test_layer_weights_and_criterion(vgg_file, tv):
    torch.manual_seed(4)
    sr, gt = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        a4, b4 = tv[:26](_normalise(sr)), tv[:26](_normalise(gt))  # conv4_4 = index 25
        a5, b5 = tv[: CONV5_4 + 1](_normalise(sr)), tv[: CONV5_4 + 1](_normalise(gt))
        loss = PerceptualLoss(
            {"conv4_4": 0.5, "conv5_4": 2.0}, criterion="l2", vgg_weights_path=vgg_file, first_padding="zeros"
        )(sr, gt)
    expected = 0.5 * F.mse_loss(a4, b4) + 2.0 * F.mse_loss(a5, b5)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)


def test_defaults_are_traiNNer_redux_s(vgg_file, tv):
    """Five layers before activation, Charbonnier, conv1_1 padding by edge replication: what a redux file without
    layer_weights/criterion trains with (zero padding gave a gradient at a cosine of 0.85 to redux's at 96 px)."""
    import copy

    tv = copy.deepcopy(tv)
    tv[0].padding_mode = "replicate"
    torch.manual_seed(4)
    sr, gt = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    layers = {
        "conv1_2": (2, 0.1),
        "conv2_2": (7, 0.1),
        "conv3_4": (16, 1.0),
        "conv4_4": (25, 1.0),
        "conv5_4": (CONV5_4, 1.0),
    }
    expected = 0.0
    with torch.no_grad():
        for index, weight in layers.values():
            a, b = tv[: index + 1](_normalise(sr)), tv[: index + 1](_normalise(gt))
            expected += weight * torch.sqrt((a - b) ** 2 + 1e-12).mean().item()
        loss = PerceptualLoss(vgg_weights_path=vgg_file)(sr, gt).item()
    assert loss == pytest.approx(expected, rel=1e-4)


def test_amp_runs_the_perceptual_loss_in_float32(vgg_file):
    """Under bf16 autocast VGG19's features kept 8 significant bits: with SR 0.5/255 per pixel from GT the loss came
    out 1.5x the float32 one and its gradient at a cosine of 0.67 to float32's (traiNNer-redux runs it in float32)."""
    loss_fn = PerceptualLoss(vgg_weights_path=vgg_file)
    torch.manual_seed(0)
    gt = F.interpolate(torch.rand(2, 3, 8, 8), size=(48, 48), mode="bicubic").clamp(0, 1)
    start = (gt + 0.002 * torch.randn_like(gt)).clamp(0, 1)
    assert_float32_under_autocast(loss_fn, start, gt)


@pytest.mark.parametrize("use_input_norm", [True, False])
def test_a_gray_image_is_seen_as_rgb(vgg_file, use_input_norm):
    """`color: y` trains on 1-channel luma: without use_input_norm conv1_1 raised on the one channel."""
    loss_fn = PerceptualLoss(vgg_weights_path=vgg_file, use_input_norm=use_input_norm)
    torch.manual_seed(5)
    sr, gt = torch.rand(1, 1, 24, 24), torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        gray, rgb = loss_fn(sr, gt), loss_fn(sr.expand(-1, 3, -1, -1), gt.expand(-1, 3, -1, -1))
    assert gray.item() == rgb.item() > 0


def test_no_gradient_through_gt_and_vgg_frozen(vgg_file):
    loss_fn = PerceptualLoss(vgg_weights_path=vgg_file)
    loss_fn.train()
    assert not loss_fn.vgg.training
    sr = torch.rand(1, 3, 32, 32, requires_grad=True)
    gt = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss_fn(sr, gt).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert gt.grad is None
    assert all(p.grad is None and not p.requires_grad for p in loss_fn.parameters())


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    expected = tmp_path / "hub" / "checkpoints" / VGG19_FILE
    with pytest.raises(ConfigError, match="put the file at " + str(expected).replace("\\", "\\\\")):
        PerceptualLoss()
    with pytest.raises(ConfigError, match="vgg_weights_path: .*nope.pth does not exist"):
        PerceptualLoss(vgg_weights_path=tmp_path / "nope.pth")


def test_hub_cache_file_is_used(vgg_file, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / VGG19_FILE).write_bytes(vgg_file.read_bytes())
    x = torch.rand(1, 3, 16, 16)
    assert PerceptualLoss(criterion="l1")(x, x).item() == 0.0


def test_wrong_file_and_unknown_layer(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(ConfigError, match="is not torchvision's VGG19 file"):
        PerceptualLoss(vgg_weights_path=bad)
    with pytest.raises(ConfigError, match=r"unknown VGG19 layer\(s\) \['conv6_1'\]"):
        PerceptualLoss({"conv6_1": 1.0}, vgg_weights_path=bad)


@pytest.mark.parametrize(
    "weights",
    [{"conv5_4": -1.0}, {"conv5_4": float("nan")}, {"conv4_4": 0.0, "conv5_4": 0}, {"conv5_4": "a"}],
)
def test_layer_weights_that_train_nothing_sensible_are_refused(weights, vgg_file):
    """-1 maximised the feature distance, NaN made every step NaN, all zeros trained nothing, all without a word."""
    from upres.losses import build_loss

    with pytest.raises(ConfigError) as exc:
        build_loss(
            {"type": "perceptualloss", "layer_weights": weights, "vgg_weights_path": str(vgg_file)},
            "train.losses[3]",
        )
    bad = {k: v for k, v in weights.items() if v != 0} or weights
    assert str(exc.value) == (
        f"train.losses[3].layer_weights: each weight must be a number >= 0 and one above 0, got {bad}"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "refused: the file holds objects other than tensors"),
        (b"", "not a readable PyTorch file (truncated or corrupt?): EOFError"),
        (
            "cut",
            "not a readable PyTorch file (truncated or corrupt?): PytorchStreamReader failed reading zip archive",
        ),
    ],
)
def test_unreadable_vgg_file_is_one_line_naming_the_key(content, reason, vgg_file, tmp_path):
    """A picture or a cut-off download at vgg_weights_path gave torch's many-line advice to load it unsafely."""
    bad = tmp_path / "vgg.pth"
    bad.write_bytes(vgg_file.read_bytes()[:4096] if content == "cut" else content)
    with pytest.raises(ConfigError) as exc:
        PerceptualLoss(vgg_weights_path=bad)
    said = str(exc.value)
    assert said.startswith(f"perceptualloss.vgg_weights_path: {bad}: {reason}")
    assert said.endswith(f"; give torchvision's {VGG19_FILE}")
    assert "\n" not in said and "weights_only" not in said
