"""Model file names users give to `convert` and `interp`."""

from __future__ import annotations

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import save_model


def test_an_output_without_an_extension_is_named_so(tmp_path, capsys):
    """`-o merged` said "cannot write ''"."""
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    model = save_model(tmp_path / "m.safetensors", net, info)
    for argv in (
        ["convert", str(model), str(tmp_path / "merged")],
        ["interp", str(model), str(model), "-o", str(tmp_path / "merged")],
    ):
        capsys.readouterr()
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == (
            f"error: {tmp_path / 'merged'}: cannot write a name without an extension; use .safetensors or .pth "
            "(or .onnx with `upres convert`)"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
