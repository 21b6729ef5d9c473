"""traiNNer-redux and BasicSR `network_g` keys: scale inside the block, ESRGAN aliases, Compact act_type/residual."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from upres.archs import build_network, build_network_for, recognise
from upres.cli import main
from upres.errors import ConfigError, ModelFileError
from upres.io.model_files import load_model, save_model


def _reference_compact(
    module: torch.nn.Module, x: torch.Tensor, act, residual: bool, scale: int
) -> torch.Tensor:
    """SRVGGNetCompact written out from its weights: conv, act, ..., conv, pixel shuffle (+ nearest input)."""
    convs = [m for m in module.body if isinstance(m, torch.nn.Conv2d)]
    out = x
    for conv in convs[:-1]:
        out = act(F.conv2d(out, conv.weight, conv.bias, padding=1))
    out = F.pixel_shuffle(F.conv2d(out, convs[-1].weight, convs[-1].bias, padding=1), scale)
    return out + F.interpolate(x, scale_factor=scale, mode="nearest") if residual else out


@pytest.mark.parametrize(
    ("act_type", "act", "residual"),
    [
        ("relu", F.relu, True),
        ("leakyrelu", lambda t: F.leaky_relu(t, 0.1), True),
        ("relu", F.relu, False),
    ],
)
def test_compact_act_type_and_learn_residual(act_type, act, residual):
    torch.manual_seed(0)
    net, info = build_network_for(
        "ultracompact", {"num_feat": 8, "num_conv": 3, "act_type": act_type, "learn_residual": residual}, 2
    )
    x = torch.rand(1, 3, 9, 7)
    torch.testing.assert_close(net.eval()(x), _reference_compact(net, x, act, residual, 2))
    assert info.params["act_type"] == act_type
    assert info.params.get("learn_residual", True) is residual


def test_non_prelu_compact_round_trips_through_safetensors_but_not_pth(tmp_path):
    torch.manual_seed(0)
    net, info = build_network_for("compact", {"num_feat": 8, "num_conv": 2, "act_type": "leakyrelu"}, 4)
    loaded = load_model(save_model(tmp_path / "m.safetensors", net, info))
    assert loaded.info.params == info.params
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(loaded.module(x), net.eval()(x))
    with pytest.raises(
        ModelFileError, match=r"m\.pth: cannot write a Compact with act_type leakyrelu: chaiNNer/spandrel"
    ):
        save_model(tmp_path / "m.pth", net, info)
    with pytest.raises(ModelFileError, match="a Compact without PReLU weights .* and no header saying which"):
        recognise(net.state_dict())


def test_prelu_weights_win_over_a_header_that_says_relu():
    net, _ = build_network("compact", num_feat=8, num_conv=1, scale=2)
    info, _ = recognise(net.state_dict(), {"act_type": "relu"})
    assert "act_type" not in info.params


def test_bad_act_type_is_a_config_error():
    with pytest.raises(
        ConfigError, match=r"network_g \(compact\): compact act_type .gelu. is not one of prelu"
    ):
        build_network_for("compact", {"act_type": "gelu"}, 2)


def test_esrgan_num_filters_and_num_blocks_are_num_feat_and_num_block():
    _, a = build_network_for("esrgan", {"num_filters": 16, "num_blocks": 2}, 4)
    _, b = build_network_for("esrgan", {"num_feat": 16, "num_block": 2}, 4)
    assert a == b and a.params["num_feat"] == 16 and a.params["num_block"] == 2
    with pytest.raises(
        ConfigError, match="network_g: num_feat and num_filters are the same setting; give one"
    ):
        build_network_for("esrgan", {"num_feat": 16, "num_filters": 16}, 4)


@pytest.mark.parametrize("key", ["scale", "upscale"])
def test_scale_in_the_network_block_may_repeat_the_top_level_scale_but_not_contradict_it(key):
    _, info = build_network_for("rrdbnet", {"num_feat": 8, "num_block": 1, key: 2}, 2)
    assert info.scale == 2
    with pytest.raises(ConfigError) as exc:
        build_network_for("rrdbnet", {"num_feat": 8, "num_block": 1, key: 4}, 2)
    assert str(exc.value) == (
        f"network_g.{key} 4 differs from the top-level scale 2; remove network_g.{key} "
        "(the top-level scale sets the model's scale)"
    )


def _dry_run_file(tmp_path, network_g: dict) -> str:
    hr = tmp_path / "hr"
    hr.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(hr / f"{i}.png")
    options = {
        "name": "n",
        "scale": 2,
        "datasets": {
            "train": {
                "type": "pairedimagedataset",
                "dataroot_gt": str(hr),
                "lq_size": 8,
                "batch_size_per_gpu": 1,
                "num_worker_per_gpu": 0,
            }
        },
        "network_g": network_g,
        "path": {"experiments_root": str(tmp_path / "exp")},
        "train": {"total_iter": 1},
    }
    cfg = tmp_path / "o.yml"
    cfg.write_text(yaml.safe_dump(options))
    return str(cfg)


def test_basicsr_rrdbnet_block_with_its_scale_trains(tmp_path):
    block = {
        "type": "RRDBNet",
        "num_in_ch": 3,
        "num_out_ch": 3,
        "num_feat": 8,
        "num_block": 1,
        "num_grow_ch": 32,
    }
    assert main(["train", "-c", _dry_run_file(tmp_path, {**block, "scale": 2}), "--dry-run"]) == 0


def test_network_upscale_that_disagrees_is_one_line_before_training(tmp_path, capsys):
    cfg = _dry_run_file(tmp_path, {"type": "compact", "num_feat": 8, "num_conv": 1, "upscale": 4})
    assert main(["train", "-c", cfg, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "network_g.upscale 4 differs from the top-level scale 2; remove network_g.upscale "
        "(the top-level scale sets the model's scale)"
    )
    assert "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["patchgandiscriminatorsn", "multiscalepatchgandiscriminatorsn"])
def test_patchgan_takes_redux_keys_input_nc_ndf_n_layers_use_sigmoid(name):
    from upres.archs.discriminators import build_discriminator

    redux = build_discriminator(name, input_nc=1, ndf=8, n_layers=2, use_sigmoid=True)
    ours = build_discriminator(name, num_in_ch=1, num_feat=8, num_layers=2)
    shapes = {k: v.shape for k, v in ours.state_dict().items()}
    assert {k: v.shape for k, v in redux.state_dict().items()} == shapes
    ours.load_state_dict(redux.state_dict())
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        a, b = redux.eval()(x), ours.eval()(x)
    for got, logits in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b], strict=True):
        torch.testing.assert_close(got, torch.sigmoid(logits))
