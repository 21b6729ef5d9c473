"""`upres eval -m A -m B` into a log file (80 columns) or a narrow terminal cut long model names to the same
"4x_MyModel_trained_…": the rows of the comparison could not be told apart. Names now wrap; numbers are never cut."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import save_model


def _method_column(out: str) -> str:
    """The first column's cells, joined: a name wrapped over several lines reads whole again."""
    return "".join(line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│"))


def test_long_model_names_are_shown_whole_at_any_width(tmp_path, capsys, monkeypatch):
    gt = tmp_path / "gt"
    gt.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(gt / "a.png")
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    stem = "4x_MyModel_trained_on_DIV2K_and_Flickr2K_with_the_new_degradations_net_g_ema_"
    names = [f"{stem}{n}.safetensors" for n in (100000, 200000)]
    for name in names:
        save_model(tmp_path / name, net, info)
    for columns in ("80", "40"):
        monkeypatch.setenv("COLUMNS", columns)
        argv = ["eval", "--bicubic", str(gt), "-s", "2", "--device", "cpu"]
        assert main([*argv, "-m", str(tmp_path / names[0]), "-m", str(tmp_path / names[1])]) == 0
        out = capsys.readouterr().out
        assert "…" not in out
        assert _method_column(out) == f"bicubic{names[0]}{names[1]}"
        psnr = [line.split("│")[2].strip() for line in out.splitlines() if line.startswith("│")]
        assert [bool(re.fullmatch(r"\d+\.\d\d", cell)) for cell in psnr if cell] == [True] * 3
