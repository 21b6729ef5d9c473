"""`.pth` checkpoints in BasicSR's layout: the raw weights under "params" and the EMA model under "params_ema". The raw
net_g was stored under "params_ema" too, which told Real-ESRGAN's loader (and a reader) it was the EMA model."""

from __future__ import annotations

import pytest
import torch
from train_helpers import base_options, merge

from ref_basicsr import import_basicsr
from upres.train.config import parse_options
from upres.train.loop import train


def test_raw_and_ema_weights_are_written_under_basicsrs_keys_and_load_unchanged(tmp_path, hr_folder):
    spandrel = pytest.importorskip("spandrel")
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {"train": {"total_iter": 5}, "logger": {"save_checkpoint_format": "pth"}},
    )
    train(parse_options(opts), device="cpu")
    models = exp / "models"
    raw = torch.load(models / "net_g_5.pth", weights_only=True)
    ema = torch.load(models / "net_g_ema_5.pth", weights_only=True)
    assert list(raw) == ["params"] and list(ema) == ["params_ema"]
    assert any(not torch.equal(raw["params"][k], ema["params_ema"][k]) for k in raw["params"])  # two models
    best = (
        torch.load(models / "net_g_best.pth", weights_only=True)
        if (models / "net_g_best.pth").exists()
        else None
    )
    assert best is None or list(best) == ["params_ema"]  # validation scores the EMA model
    srvgg = import_basicsr("basicsr.archs.srvgg_arch")
    for path, state in (
        (models / "net_g_5.pth", raw["params"]),
        (models / "net_g_ema_5.pth", ema["params_ema"]),
    ):
        # Real-ESRGAN's inference: params_ema when present, else params; strict.
        net = srvgg.SRVGGNetCompact(
            num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2, act_type="prelu"
        )
        net.load_state_dict(state, strict=True)
        loaded = spandrel.ModelLoader().load_from_file(path)
        assert loaded.scale == 2
        x = torch.rand(1, 3, 12, 10)
        with torch.no_grad():
            assert torch.allclose(loaded.model(x), net(x), atol=1e-6)
