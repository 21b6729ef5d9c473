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


def _option_file(tmp_path, model, **onnx_block):
    import yaml

    path = tmp_path / "onnx.yml"
    onnx_block = {"dtype": "fp32", "optimize": False, **onnx_block}
    path.write_text(
        yaml.safe_dump({"name": "t", "path": {"pretrain_network_g": str(model)}, "onnx": onnx_block})
    )
    return path


@pytest.mark.parametrize("scale,multiple", [(1, 4), (2, 2)])
@pytest.mark.parametrize("shape", ["1x3xHxW", "1x3x20x24"])
@pytest.mark.parametrize("opset", [9, 10])
def test_an_opset_below_11_for_a_padding_rrdbnet_is_one_line(tmp_path, capfd, scale, multiple, shape, opset):
    """torch refused it with a 255-line traceback and a dump of its graph (exit 1)."""
    net, info = _small(scale=scale)
    src = save_model(tmp_path / "m.safetensors", net, info)
    out = tmp_path / "m.onnx"
    assert (
        main(
            ["convert", "-c", str(_option_file(tmp_path, src, opset=opset, shape=shape)), str(src), str(out)]
        )
        == 2
    )
    captured = capfd.readouterr()
    assert captured.err == (
        f"error: {out}: a {scale}x RRDBNet pads its input to a multiple of {multiple} inside the graph, which ONNX "
        f"can express from opset 11 (opset {opset} asked); use opset 11 or later\n"
    )
    assert "graph" not in captured.out and not out.exists()


def test_a_compact_still_exports_at_opset_9(tmp_path):
    net, info = _small("compact")
    src = save_model(tmp_path / "m.safetensors", net, info)
    out = tmp_path / "m.onnx"
    assert main(["convert", "-c", str(_option_file(tmp_path, src, opset=9)), str(src), str(out)]) == 0


@pytest.mark.parametrize("shape", ["1x3x0x0", "0x3xHxW"])
def test_a_zero_size_in_the_shape_is_refused_when_read(tmp_path, capsys, shape):
    net, info = _small("compact")
    src = save_model(tmp_path / "m.safetensors", net, info)
    cfg = _option_file(tmp_path, src, shape=shape)
    assert main(["convert", "-c", str(cfg), str(src), str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err == (
        f"error: {cfg}: onnx.shape: {shape!r} has a size of 0; a number is a fixed size (1 or more), a letter a "
        "dynamic one\n"
    )
    assert not (tmp_path / "m.onnx").exists()


def test_a_gray_model_with_an_rgb_shape_names_the_key_and_the_shape_to_set(tmp_path, capsys):
    net, info = _small("compact", num_in_ch=1, num_out_ch=1)
    src = save_model(tmp_path / "gray.safetensors", net, info)
    cfg = _option_file(tmp_path, src, shape="1x3xHxW")
    assert main(["convert", "-c", str(cfg), str(src), str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err == (
        f"error: {cfg}: onnx.shape 1x3xHxW has 3 channels but {src} takes 1; set onnx.shape: 1x1xHxW\n"
    )


def test_an_exporter_failure_is_one_line_with_torch_reason(tmp_path, capsys, monkeypatch):
    net, info = _small("compact")
    src = save_model(tmp_path / "m.safetensors", net, info)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the user's graph")

    def refuse(*args, **kwargs):
        raise torch.onnx.errors.OnnxExporterError(
            "Unsupported: ONNX export of Foo in opset 17. Please try opset version 18.  [Caused by the value "
            "'87 defined in (%87 : int[] = prim::ListConstruct(%86))' (type 'List[int]') in the TorchScript graph.]"
        )

    monkeypatch.setattr(torch.onnx, "export", refuse)
    assert main(["convert", str(src), str(out), "--force"]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: torch cannot export this model at opset 17: Unsupported: ONNX export of Foo in opset 17. "
        "Please try opset version 18; nothing written\n"
    )
    assert out.read_bytes() == b"the user's graph"


def test_an_onnxruntime_failure_in_the_check_is_one_line_and_keeps_the_file(tmp_path, capsys, monkeypatch):
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

    import upres.io.onnx_export as onnx_export

    net, info = _small("compact")
    src = save_model(tmp_path / "m.safetensors", net, info)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the user's graph")

    def fail(path, x):
        raise InvalidArgument(
            "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: input for the following "
            "indices\n index: 2 Got: 37 Expected: 17"
        )

    monkeypatch.setattr(onnx_export, "run_onnx", fail)
    assert main(["convert", str(src), str(out), "--force"]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: onnxruntime cannot run the exported graph ([ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got "
        "invalid dimensions for input: input for the following indices index: 2 Got: 37 Expected: 17); nothing "
        "written\n"
    )
    assert out.read_bytes() == b"the user's graph"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.safetensors"]


def _named_option_file(tmp_path, model, network_g):
    import yaml

    path = tmp_path / "net.yml"
    options = {"name": "t", "network_g": network_g, "path": {"pretrain_network_g": str(model)}}
    path.write_text(yaml.safe_dump({**options, "onnx": {"dtype": "fp32", "optimize": False}}))
    return path


@pytest.mark.parametrize(
    "network_g,why",
    [
        ({"type": "esrgan", "num_block": 6}, "network_g.type is esrgan"),
        ({"type": "compact", "num_feat": 8, "num_conv": 4}, "network_g.num_conv is 4 (the model's is 2)"),
        ({"type": "SRVGGNetCompact", "upscale": 4}, "network_g.upscale is 4 (the model's is 2)"),
    ],
)
def test_a_network_g_that_is_not_the_model_is_refused(tmp_path, capsys, network_g, why):
    """traiNNer-redux builds network_g and refuses weights that do not fit it; upres exported the file's model."""
    net, info = _small("compact")
    src = save_model(tmp_path / "m.safetensors", net, info)
    cfg = _named_option_file(tmp_path, src, network_g)
    assert main(["convert", "-c", str(cfg), str(src), str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err == (
        f"error: {cfg}: {why}, but {src} is a compact (8nf 2nc); make network_g describe it, or convert the model "
        "it describes\n"
    )
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    "network_g", [{"type": "compact"}, {"type": "compact", "num_feat": 8, "num_conv": 2, "upscale": 2}]
)
def test_a_network_g_that_names_the_model_or_only_its_type_exports(tmp_path, network_g):
    net, info = _small("compact")
    src = save_model(tmp_path / "m.safetensors", net, info)
    cfg = _named_option_file(tmp_path, src, network_g)
    assert main(["convert", "-c", str(cfg), str(src), str(tmp_path / "m.onnx")]) == 0


def test_a_lone_onnx_argument_with_c_is_the_output_also_when_it_exists(tmp_path, capsys):
    """It was taken as MODEL: 'MODEL out.onnx: no such file', then on a rerun 'unknown model file type'."""
    net, info = _small("compact")
    src = save_model(tmp_path / "m.safetensors", net, info)
    cfg = _option_file(tmp_path, src)
    out = tmp_path / "out.onnx"
    assert main(["convert", "-c", str(cfg), str(out)]) == 0 and out.is_file()
    assert main(["convert", "-c", str(cfg), str(out)]) == 2
    assert capsys.readouterr().err.endswith(
        f"error: {out}: exists; add --force to replace it, or choose another name\n"
    )
    assert main(["convert", "-c", str(cfg), str(out), "--force"]) == 0


def test_info_on_an_onnx_graph_says_what_it_is(tmp_path, capsys):
    net, info = _small("compact")
    src = save_model(tmp_path / "m.safetensors", net, info)
    out = tmp_path / "m.onnx"
    assert main(["convert", str(src), str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: an ONNX graph, which upres exports but does not read; use the .pth or .safetensors it came "
        "from\n"
    )


def test_an_fp16_graph_that_overflows_says_to_export_fp32(tmp_path, capsys):
    """Its activations pass 65504 (the weights fit fp16): the check said 'differs from PyTorch by nan (> 0.02)'."""
    net, info = _small("compact")
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(300)
    src = save_model(tmp_path / "m.safetensors", net, info)
    out = tmp_path / "m.onnx"
    assert main(["convert", str(src), str(out), "--dtype", "fp16"]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: the fp16 graph gives infinite or NaN values where PyTorch in fp32 does not (values inside "
        "the network pass half precision's 65504); export it in fp32 (--dtype fp32, or onnx.dtype: fp32); nothing "
        "written\n"
    )
    assert not out.exists()


def test_the_dtype_help_says_what_convert_does_without_it(tmp_path, capsys):
    """--dtype's help said "default: keep", but an fp16 file became an fp32 graph (as docs/using-models.md says)."""
    import onnx

    net, info = _small("compact", scale=2)
    src = save_model(tmp_path / "m.safetensors", net, info, dtype="fp16")
    assert main(["convert", str(src), str(tmp_path / "m.onnx")]) == 0
    assert main(["convert", str(src), str(tmp_path / "copy.safetensors")]) == 0
    graph_input = onnx.load(str(tmp_path / "m.onnx")).graph.input[0].type.tensor_type.elem_type
    assert graph_input == onnx.TensorProto.FLOAT
    from upres.io.model_files import load_model

    assert load_model(tmp_path / "copy.safetensors").dtype == torch.float16
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert (
        "tensor precision (default: the file's; for .onnx fp32, or with -c the onnx block's dtype)"
        in help_text
    )
