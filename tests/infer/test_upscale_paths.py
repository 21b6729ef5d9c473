"""Where `upres upscale` writes, given the names users type."""

from __future__ import annotations

import numpy as np
from upscale_helpers import make_random_model, run_upscale

from upres.io.images import write_image


def test_an_output_named_like_an_image_is_refused_not_made_a_folder(tmp_path, capsys):
    """`-o result.png` made a folder `result.png` holding `a.png`: the user looked for a file that was not there."""
    model = make_random_model(tmp_path / "m.safetensors", scale=2)
    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    for name in ("result.png", "RESULT.JPG"):
        code, _, err = run_upscale(capsys, "-m", model, tmp_path / "a.png", "-o", tmp_path / name)
        assert code == 2
        assert err.strip() == (
            f"error: -o {tmp_path / name}: is the output folder, not the output file (results keep their input's "
            f"name inside it); give a folder, e.g. -o {tmp_path / name.split('.')[0]}"
        )
        assert not (tmp_path / name).exists()
    (tmp_path / "shots.png").mkdir()  # a folder of that name is a folder
    code, _, _ = run_upscale(capsys, "-m", model, tmp_path / "a.png", "-o", tmp_path / "shots.png")
    assert code == 0 and (tmp_path / "shots.png" / "a.png").is_file()
