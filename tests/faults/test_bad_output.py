"""Issue 14 item 9 (images): a model whose weights or output are not finite is a failure, never a black 'done'."""

from __future__ import annotations

import json

import torch
from fault_helpers import png
from safetensors.torch import save_file

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import export_state


def _compact_file(path, fill: float, only: str | None = None):
    net, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    state = export_state(net)
    for k, v in state.items():
        if only is None or k == only:
            v.fill_(fill)
    metadata = {"format": "pt", "upres_arch": "compact", "upres_params": json.dumps(info.params)}
    save_file(state, str(path), metadata=metadata)
    return path


def test_nan_weights_are_refused_before_any_image(tmp_path, capsys):
    model = _compact_file(tmp_path / "nan.safetensors", float("nan"), only="body.0.weight")
    png(tmp_path / "in" / "a.png")
    code = main(["upscale", "-m", str(model), str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {model}: 1 tensor(s) hold NaN or infinity (first: 'body.0.weight'), so every result would be "
        "black or garbage; use an earlier checkpoint of the training that wrote it\n"
    )
    assert not (tmp_path / "out" / "a.png").exists()


def test_output_that_overflows_to_infinity_fails_the_file(tmp_path, capsys):
    model = _compact_file(tmp_path / "huge.safetensors", 1e30)
    assert torch.isfinite(torch.tensor(1e30))
    png(tmp_path / "in" / "a.png")
    png(tmp_path / "in" / "b.png", seed=1)
    code = main(["upscale", "-m", str(model), str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert code == 1
    out = capsys.readouterr().out
    assert "upscaled 0, skipped 0, failed 2" in out
    assert (
        f"failed: {tmp_path / 'in' / 'a.png'}: the model's output is not finite (NaN or infinity) for this image"
    ) in out
    assert not (tmp_path / "out").exists()  # nothing written, not even the folder
