"""ONNX exports at their edges: what docs/using-models.md says about the graph, and failures of the exporter or of
onnxruntime given as one line with nothing written."""

from __future__ import annotations

import pytest
import torch

from test_model_files import _small
from upres.cli import main
from upres.io.model_files import save_model

pytest.importorskip("onnxruntime")


def test_the_graph_output_is_the_network_output_unclamped_as_documented(tmp_path):
    """docs/using-models.md: the output is not clamped (clip before 8 bits); it had said "in [0, 1]"."""
    from upres.io.onnx_export import run_onnx

    net, info = _small("compact", scale=2)
    with torch.no_grad():
        net.body[-1].bias += 2.0  # every output pixel well above 1
    src = save_model(tmp_path / "m.safetensors", net, info)
    assert main(["convert", str(src), str(tmp_path / "m.onnx")]) == 0
    x = torch.rand(1, 3, 9, 7)
    out = run_onnx(tmp_path / "m.onnx", x.numpy())
    with torch.no_grad():
        ref = net(x).numpy()
    assert out.max() > 1.5 and abs(out - ref).max() < 1e-4
