"""`--output=~/out` (bash expands `~` only at a word's start) and `~` on Windows shells, which never expand it: upres
took the `~` literally and wrote into a folder named `~` in the current folder."""

from __future__ import annotations

import numpy as np
from PIL import Image

from upres.archs import build_network
from upres.cli import main
from upres.cli.argtypes import expand_home
from upres.io.model_files import save_model


def test_a_leading_tilde_is_the_home_folder_after_an_equals_sign_too(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    assert expand_home(["--output=~/out", "~/a.png", "~", "-o", "~/x", "a~/b", "--suffix=x~", "~user/z"]) == [
        f"--output={home / 'out'}",
        str(home / "a.png"),
        str(home),
        "-o",
        str(home / "x"),
        "a~/b",
        "--suffix=x~",
        "~user/z",
    ]


def test_upscale_writes_under_home_and_not_into_a_folder_named_tilde(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.chdir(work)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    save_model(home / "m.safetensors", net, info)
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(home / "a.png")
    argv = ["upscale", "--model=~/m.safetensors", "~/a.png", "--output=~/out", "--device", "cpu", "-q"]
    assert main(argv) == 0
    assert Image.open(home / "out" / "a.png").size == (20, 24)
    assert list(work.iterdir()) == []
