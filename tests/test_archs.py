"""Our generators against spandrel's on the same random weights, in every ESRGAN key layout."""

from __future__ import annotations

import re

import pytest
import torch
from spandrel import ModelLoader

from upres.archs import build_network, recognise
from upres.errors import ModelFileError


def _randomise(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    # Small random weights keep 23-block activations bounded yet make every tensor matter.
    return {k: torch.randn(v.shape, generator=g) * 0.05 for k, v in module.state_dict().items()}


def to_original_repo_layout(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        k = re.sub(r"^body\.(\d+)\.rdb(\d)\.conv(\d)", r"RRDB_trunk.\1.RDB\2.conv\3", k)
        k = k.replace("conv_body.", "trunk_conv.").replace("conv_hr.", "HRconv.")
        k = re.sub(r"^conv_up(\d)", r"upconv\1", k)
        out[k] = v
    return out


def to_old_sequential_layout(state: dict) -> dict:
    n_up = sum(1 for k in state if re.fullmatch(r"conv_up\d\.weight", k))
    nb = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body."))
    hr = 3 * n_up + 2
    out = {}
    for k, v in state.items():
        kind = k.rsplit(".", 1)[1]
        if m := re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.", k):
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{kind}"] = v
        elif k.startswith("conv_first."):
            out[f"model.0.{kind}"] = v
        elif k.startswith("conv_body."):
            out[f"model.1.sub.{nb}.{kind}"] = v
        elif m := re.match(r"conv_up(\d)\.", k):
            out[f"model.{3 * int(m[1])}.{kind}"] = v
        elif k.startswith("conv_hr."):
            out[f"model.{hr}.{kind}"] = v
        elif k.startswith("conv_last."):
            out[f"model.{hr + 2}.{kind}"] = v
    return out


LAYOUTS = {"basicsr": lambda s: s, "original": to_original_repo_layout, "old": to_old_sequential_layout}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize(
    "scale,feat,blocks,unshuffle",
    [
        (4, 16, 2, True),
        (2, 24, 1, True),
        (1, 16, 1, True),
        (8, 16, 1, True),
        (2, 16, 2, False),
        (1, 8, 1, False),
    ],
)
def test_rrdbnet_matches_spandrel_in_every_layout(layout, scale, feat, blocks, unshuffle):
    net, info = build_network(
        "esrgan", scale=scale, num_feat=feat, num_block=blocks, use_pixel_unshuffle=unshuffle
    )
    state = _randomise(net)
    net.load_state_dict(state)
    file_state = LAYOUTS[layout](state)

    ours_info, canonical = recognise(file_state)
    assert ours_info.params == info.params
    assert ours_info.family == "esrgan"
    ours = build_network("esrgan", **ours_info.params)[0]
    ours.load_state_dict(canonical)

    theirs = ModelLoader().load_from_state_dict(file_state)
    assert theirs.scale == scale
    x = torch.rand(1, 3, 12, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs.model(x), atol=1e-5, rtol=0)
        assert ours(x).shape == (1, 3, 12 * scale, 16 * scale)


def test_rrdbnet_pads_odd_sizes_like_spandrel():
    net, _ = build_network("esrgan", scale=1, num_feat=8, num_block=1)
    net.load_state_dict(_randomise(net))
    theirs = ModelLoader().load_from_state_dict(net.state_dict())
    x = torch.rand(1, 3, 13, 11)
    with torch.no_grad():
        out = net(x)
        assert out.shape == (1, 3, 13, 11)
        torch.testing.assert_close(out, theirs.model(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "name,feat,convs", [("compact", 64, 16), ("ultracompact", 64, 8), ("superultracompact", 24, 8)]
)
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_compact_matches_spandrel(name, feat, convs, scale):
    net, info = build_network(name, scale=scale)
    assert (info.params["num_feat"], info.params["num_conv"]) == (feat, convs)
    state = _randomise(net)
    net.load_state_dict(state)
    recognised, canonical = recognise(state)
    assert recognised.params == info.params
    theirs = ModelLoader().load_from_state_dict(state)
    assert (theirs.scale, theirs.input_channels, theirs.output_channels) == (scale, 3, 3)
    x = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(net(x), theirs.model(x), atol=1e-5, rtol=0)


def test_esrgan_presets_and_init():
    net, info = build_network("esrgan_lite", scale=4)
    assert (
        info.params["num_feat"] == 32 and info.params["num_block"] == 12 and info.params["num_grow_ch"] == 32
    )
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    # Dense-block convs start with Kaiming init scaled by 0.1: std about 0.1 * sqrt(2 / fan_in).
    w = net.body[0].rdb1.conv5.weight
    expected = 0.1 * (2 / (w.shape[1] * 9)) ** 0.5
    assert abs(w.std().item() - expected) / expected < 0.1


def test_scale_three_is_refused_with_the_reason():
    with pytest.raises(ModelFileError, match="same layers as a 2x"):
        build_network("esrgan", scale=3)


def test_unknown_state_dict_names_the_supported_architectures():
    with pytest.raises(ModelFileError, match="unknown architecture.*ESRGAN"):
        recognise({"foo.weight": torch.zeros(1)})


def test_an_old_layout_file_without_its_trunk_convolution_is_a_model_file_error():
    """The old layout's trunk conv is model.1.sub.<blocks>; without it the renaming itself failed (a traceback)."""

    net, _ = build_network("esrgan", scale=4, num_feat=8, num_block=1)
    old = to_old_sequential_layout(net.state_dict())
    damaged = {k: v for k, v in old.items() if not k.startswith("model.1.sub.1.")}
    with pytest.raises(ModelFileError, match="^looks like esrgan but its tensors do not fit"):
        recognise(damaged)


def test_an_architecture_spandrel_knows_is_named_instead_of_unknown(tmp_path, capsys):
    """A SPAN file said "unknown architecture (first keys: ...)": damaged, or not for upres? spandrel can tell."""
    pytest.importorskip("spandrel")
    from spandrel.architectures.SPAN import SPAN

    from upres.cli import main

    path = tmp_path / "2x-SPAN.pth"
    torch.save(
        {"params_ema": SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2).state_dict()}, path
    )
    assert main(["info", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: a SPAN model (spandrel recognises it), an architecture upres does not implement; upres "
        "reads ESRGAN/RRDBNet and SRVGGNetCompact files (chaiNNer runs this one)\n"
    )
    with pytest.raises(ModelFileError, match=r"^unknown architecture \(first keys: foo.weight\)"):
        recognise({"foo.weight": torch.zeros(1)})  # what spandrel does not know either
