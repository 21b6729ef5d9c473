"""`upres convert` keeps what a .safetensors header says besides upres's own keys (author, license, modelspec.*):
they were dropped without a word."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from test_model_files import _small
from upres.cli import main
from upres.io.model_files import read_tensors, save_model

THEIRS = {"author": "someone", "license": "CC-BY-4.0", "modelspec.title": "4x-Thing"}


def _header(path) -> dict[str, str]:
    with safe_open(str(path), "pt") as fh:
        return fh.metadata()


def _source(tmp_path):
    net, info = _small("compact")
    plain = save_model(tmp_path / "plain.safetensors", net, info)
    state, header = read_tensors(plain)
    src = tmp_path / "src.safetensors"
    save_file(state, str(src), metadata={**header, **THEIRS})
    return src, header


@pytest.mark.parametrize("dtype", [[], ["--dtype", "fp16"]])
def test_the_header_survives_a_round_trip(tmp_path, dtype):
    src, upres_keys = _source(tmp_path)
    mid, back = tmp_path / "mid.safetensors", tmp_path / "back.safetensors"
    assert main(["convert", str(src), str(mid), *dtype]) == 0
    assert main(["convert", str(mid), str(back), *(["--dtype", "fp32"] if dtype else [])]) == 0
    assert _header(mid) == _header(back) == {**upres_keys, **THEIRS}
    a, b = read_tensors(src)[0], read_tensors(back)[0]
    narrow = torch.float16 if dtype else torch.float32
    assert a.keys() == b.keys() and all(torch.equal(a[k].to(narrow).float(), b[k]) for k in a)


def test_the_header_cannot_claim_another_architecture(tmp_path):
    net, info = _small("compact")
    state, header = read_tensors(save_model(tmp_path / "plain.safetensors", net, info))
    src = tmp_path / "src.safetensors"
    save_file(state, str(src), metadata={**header, "upres_arch": "esrgan", "author": "someone"})
    assert main(["convert", str(src), str(tmp_path / "out.safetensors")]) == 0
    assert _header(tmp_path / "out.safetensors") == {**header, "author": "someone"}


@pytest.mark.parametrize("suffix", [".pth", ".onnx"])
def test_a_format_without_a_header_says_what_is_not_kept(tmp_path, capsys, suffix):
    if suffix == ".onnx":
        pytest.importorskip("onnx")
    src, _ = _source(tmp_path)
    out = tmp_path / f"out{suffix}"
    assert main(["convert", str(src), str(out)]) == 0
    assert (
        f"note: {out}: the header's author, license, modelspec.title cannot be kept in this format (a .safetensors "
        "output keeps them)\n"
    ) in capsys.readouterr().err
