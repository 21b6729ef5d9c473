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


def test_a_second_demo_into_the_same_folder_moves_the_first_aside(tmp_path, capsys):
    """It trained over the first: models, states and the report of two runs in one folder, the first's model
    replaced, and `--resume auto` then picked the first run's state. The demo's own hint then failed too."""
    import hashlib

    from upres.cli import main

    run_demo(tmp_path / "demo", iterations=6)
    first = hashlib.sha256(
        (tmp_path / "demo" / "experiment" / "models" / "net_g_ema_6.safetensors").read_bytes()
    )
    capsys.readouterr()
    run_demo(tmp_path / "demo", iterations=4)
    out = capsys.readouterr().out
    (aside,) = [p for p in (tmp_path / "demo").iterdir() if p.name.startswith("experiment_archived_")]
    assert f"moved it to {aside}" in out or str(aside) in out
    kept = hashlib.sha256((aside / "models" / "net_g_ema_6.safetensors").read_bytes())
    assert kept.hexdigest() == first.hexdigest()
    assert sorted(p.name for p in (tmp_path / "demo" / "experiment" / "training_states").iterdir()) == [
        "4.state"
    ]
    # the printed way to train on works: raise total_iter, resume
    hint = next(line for line in out.splitlines() if "option file:" in line)
    assert f"upres train -c {tmp_path / 'demo' / 'demo.yml'} --resume auto" in hint
    import yaml

    options = yaml.safe_load((tmp_path / "demo" / "demo.yml").read_text())
    options["train"]["total_iter"] = 5
    (tmp_path / "demo" / "demo.yml").write_text(yaml.safe_dump(options))
    assert main(["train", "-c", str(tmp_path / "demo" / "demo.yml"), "--resume", "auto"]) == 0
    assert "finished at iteration 5" in capsys.readouterr().out
