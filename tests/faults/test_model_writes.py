"""What `convert` and `interp` write from the weights they are given: a fault of the input is named by the input
with its cause, and an interpolation's ends give back their models exactly."""

from __future__ import annotations

import pytest
import torch
from fault_helpers import compact_model

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import export_state, read_tensors


def _compact_pth(path, change=None, dtype=torch.float32):
    net, _ = build_network("compact", scale=2, num_feat=4, num_conv=1)
    state = {k: v.to(dtype) for k, v in export_state(net).items()}
    if change:
        change(state)
    torch.save({"params_ema": state}, path)
    return path


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".onnx"])
def test_converting_a_diverged_model_names_the_input_and_the_cause(tmp_path, capsys, suffix):
    """.safetensors and .pth said 'OUT: refusing to write: tensor ... contains NaN/Inf', of the output."""
    model = _compact_pth(
        tmp_path / "diverged.pth", lambda s: s["body.0.weight"].view(-1)[0].fill_(float("nan"))
    )
    out = tmp_path / f"out{suffix}"
    assert main(["convert", str(model), str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: {model}: 1 tensor(s) hold NaN or infinity (first: 'body.0.weight'), so every result would be black "
        "or garbage; use an earlier checkpoint of the training that wrote it\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".onnx"])
def test_a_weight_half_precision_cannot_hold_is_named_before_fp16_is_written(tmp_path, capsys, suffix):
    """It was refused as 'contains NaN/Inf' (the cast made it infinite), and as ONNX with numpy warnings first."""
    model = _compact_pth(tmp_path / "big.pth", lambda s: s["body.0.bias"].fill_(1e6))
    out = tmp_path / f"out{suffix}"
    assert main(["convert", str(model), str(out), "--dtype", "fp16"]) == 2
    assert capsys.readouterr().err == (
        f"error: {model}: tensor 'body.0.bias' holds 1e+06, beyond half precision's 65504: in fp16 it would be "
        "infinite; keep fp32 (--dtype fp32) or use bf16\n"
    )
    assert not out.exists()
    assert main(["convert", str(model), str(tmp_path / "big_bf16.safetensors"), "--dtype", "bf16"]) == 0


@pytest.mark.parametrize("alpha, exact", [("0", "b"), ("1", "a")])
def test_interpolation_ends_give_back_each_model_exactly_across_dtypes(tmp_path, alpha, exact):
    """The mix took the first model's dtype: an fp16 A rounded an fp32 B, so --alpha 0 did not give B back."""
    a = _compact_pth(tmp_path / "a.pth", dtype=torch.float16)
    b = compact_model(tmp_path / "b.safetensors", zero=False)  # float32
    out = tmp_path / "mix.safetensors"
    assert main(["interp", str(a), str(b), "--alpha", alpha, "-o", str(out)]) == 0
    mixed, _ = read_tensors(out)
    want, _ = read_tensors({"a": a, "b": b}[exact])
    want = want.get("params_ema", want)
    assert all(v.dtype == torch.float32 for v in mixed.values())
    assert all(torch.equal(mixed[k], want[k].float()) for k in mixed)
