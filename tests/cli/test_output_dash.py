"""`-o -`, the usual name for standard output, made a folder named "-" (upscale, prepare, test, degrade) or a file
named "-" (schema, init, interp, video), and the command reported success."""

from __future__ import annotations

import pytest

from upres.cli import main

MESSAGE = "argument -o/--output: '-' (standard output) is not supported; give a file or folder name (./- for one named '-')"


@pytest.mark.parametrize(
    "argv",
    [
        ["upscale", "-m", "m.pth", "a.png"],
        ["video", "-m", "m.pth", "a.mp4"],
        ["interp", "a.pth", "b.pth"],
        ["prepare", "lr", "src", "-s", "2"],
        ["test", "-c", "o.yml"],
        ["degrade", "-c", "o.yml", "a.png"],
        ["schema"],
        ["init", "compact_x2_fidelity", "x"],
        ["demo"],
    ],
)
def test_dash_as_output_is_refused_and_nothing_is_written(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main([*argv, "-o", "-"])
    assert stop.value.code == 2
    assert MESSAGE in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
