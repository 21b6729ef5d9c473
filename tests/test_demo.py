"""`upres demo` (behind `make demo`): trains, evaluates against bicubic, upscales, from bundled photos only."""

from __future__ import annotations

import pytest
from spandrel import ModelLoader

from upres.demo import run_demo


@pytest.mark.slow
def test_demo_writes_model_report_and_upscaled_photo(tmp_path, capsys):
    result = run_demo(tmp_path / "demo", iterations=40)
    out = capsys.readouterr().out
    assert "over bicubic" in out and str(tmp_path / "demo") in out
    desc = ModelLoader().load_from_file(result["model"])
    assert desc.scale == 2 and desc.architecture.id == "Compact"
    assert (tmp_path / "demo" / "experiment" / "report.html").stat().st_size > 1000
    assert (tmp_path / "demo" / "astronaut_x2.png").exists()
    assert result["gain_db"] == pytest.approx(result["model_psnr"] - result["bicubic_psnr"])
