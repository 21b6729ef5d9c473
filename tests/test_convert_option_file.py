"""`upres convert -c FILE`: traiNNer-redux onnx option files (path.pretrain_network_g and the onnx block)."""

from __future__ import annotations

import pytest
import torch
import yaml

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import save_model

onnx = pytest.importorskip("onnx", reason="needs the onnx extra")


@pytest.fixture
def redux_onnx_file(tmp_path):
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    model = save_model(tmp_path / "m.safetensors", net, info)

    def write(**block):
        options = {
            "name": "2x_small",
            "scale": 2,
            "num_gpu": "auto",
            "network_g": {"type": "compact"},
            "path": {"pretrain_network_g": str(model)},
            "onnx": {"dynamo": False, "optimize": False, **block},
        }
        path = tmp_path / "onnx.yml"
        path.write_text(yaml.safe_dump(options))
        return path

    return write


def _input_dims(path) -> list:
    graph = onnx.load(str(path)).graph
    return [d.dim_value or d.dim_param for d in graph.input[0].type.tensor_type.shape.dim]


def test_static_shape_opset_and_dtype_from_the_block(redux_onnx_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = redux_onnx_file(dtype="fp32", opset=17, shape="1x3x24x20", verify=True)
    assert main(["convert", "-c", str(cfg)]) == 0
    out = tmp_path / "onnx" / "2x_small_1x3x24x20_static_fp32_op17.onnx"
    assert _input_dims(out) == [1, 3, 24, 20]
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 17
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return  # verification is skipped without onnxruntime
    assert "verified with onnxruntime" in capsys.readouterr().out


def test_redux_defaults_dynamic_hw_fp16_opset_20(redux_onnx_file, tmp_path):
    out = tmp_path / "x.onnx"
    assert (
        main(["convert", "-c", str(redux_onnx_file(verify=False)), str(tmp_path / "m.safetensors"), str(out)])
        == 0
    )
    dims = _input_dims(out)
    assert dims[:2] == [1, 3] and isinstance(dims[2], str) and isinstance(dims[3], str)
    model = onnx.load(str(out))
    # Its own names for the output's height and width: in ONNX one name is one size, and a 2x output is not the
    # input's size (they shared "height" and "width").
    out_dims = [d.dim_value or d.dim_param for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims[:2] == [1, 3] and {out_dims[2], out_dims[3]}.isdisjoint({dims[2], dims[3]})
    assert model.opset_import[0].version == 20
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"dtype": "bf16"}, "onnx.dtype bf16 is not implemented in upres"),
        ({"opsett": 17}, "onnx.opsett: unknown key"),
        ({"shape": "1x3xH"}, "onnx.shape: '1x3xH' is not NxCxHxW"),
    ],
)
def test_bad_blocks_are_one_line(redux_onnx_file, capsys, block, message):
    assert main(["convert", "-c", str(redux_onnx_file(**block))]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_optimize_is_a_note_and_training_files_accept_the_block(redux_onnx_file, tmp_path, capsys):
    cfg = redux_onnx_file(optimize=True, dtype="fp32", verify=False)
    assert main(["convert", "-c", str(cfg), str(tmp_path / "m.safetensors"), str(tmp_path / "o.onnx")]) == 0
    assert "onnx.optimize: OnnxSlim is not part of upres" in capsys.readouterr().err
    from upres.train.config import parse_options

    data = yaml.safe_load(cfg.read_text())
    data["datasets"] = {"train": {"type": "pairedimagedataset", "dataroot_gt": "hr"}}
    assert parse_options(data).onnx.opset == 20
