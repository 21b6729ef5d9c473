"""Output folders of the batch commands, given the names users type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from upres.archs import build_network
from upres.cli import main
from upres.io.images import write_image
from upres.io.model_files import save_model


def _argv(kind: str, tmp_path, out) -> list[str]:
    src = tmp_path / "in"
    if kind == "upscale":
        return [
            "upscale",
            "-q",
            "-m",
            str(tmp_path / "m.safetensors"),
            str(src),
            "-o",
            str(out),
            "--device",
            "cpu",
        ]
    if kind == "degrade":
        return ["degrade", "-c", str(tmp_path / "d.yml"), str(src), "-o", str(out), "--n", "1", "--crop", "0"]
    return ["prepare", "lr", str(src), "-o", str(out), "--scale", "2", "-j", "1"]


@pytest.mark.parametrize("kind", ["upscale", "degrade", "prepare"])
def test_an_output_named_like_an_image_is_refused_not_made_a_folder(tmp_path, capsys, kind):
    """`-o result.png` made a folder `result.png` holding the results: the user looked for a file that was not
    there."""
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    save_model(tmp_path / "m.safetensors", net, info)
    (tmp_path / "d.yml").write_text("scale: 2\n")
    write_image(tmp_path / "in" / "a.png", np.zeros((8, 8, 3), np.uint8))
    for name in ("result.png", "RESULT.JPG"):
        capsys.readouterr()
        assert main(_argv(kind, tmp_path, tmp_path / name)) == 2
        # upscale writes one input image to the file -o names (tests/cli/test_upscale_to_a_file.py), and says so
        note = " (-o names the output file only for one input image)" if kind == "upscale" else ""
        assert capsys.readouterr().err.strip() == (
            f"error: -o {tmp_path / name}: is the output folder, not the output file (the results are written "
            f"inside it); give a folder, e.g. -o {tmp_path / name.split('.')[0]}{note}"
        )
        assert not (tmp_path / name).exists()
    (tmp_path / "shots.png").mkdir()  # a folder of that name is a folder
    assert main(_argv(kind, tmp_path, tmp_path / "shots.png")) == 0
    assert any((tmp_path / "shots.png").iterdir())
