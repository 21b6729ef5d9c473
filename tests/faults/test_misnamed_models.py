"""Model files whose name says one format and whose bytes another (a .pth that is safetensors, a .safetensors saved
by torch.save), a TorchScript program named .pth, and a .safetensors holding a header alone: each is one line
saying what the file is and the fix."""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch
from fault_helpers import compact_model, png
from safetensors.torch import save_file

from upres.cli import main


def _cli(capsys, *args: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".ckpt"])
@pytest.mark.parametrize("command", ["info", "upscale"])
def test_a_safetensors_file_named_pth_says_to_rename_it(tmp_path, capsys, suffix, command):
    model = tmp_path / f"4x-Model{suffix}"
    shutil.copy(compact_model(tmp_path / "m.safetensors"), model)
    image = png(tmp_path / "in" / "a.png")
    args = ["-m", model, image, "-o", tmp_path / "out"] if command == "upscale" else [model]
    code, _, err = _cli(capsys, command, *args)
    assert code == 2
    assert err == f"error: {model}: a safetensors file named {suffix}; rename it to 4x-Model.safetensors\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("legacy", [False, True])
def test_a_torch_file_named_safetensors_says_to_rename_it(tmp_path, capsys, legacy):
    from upres.io.model_files import read_tensors

    state, _ = read_tensors(compact_model(tmp_path / "m.safetensors"))
    model = tmp_path / "4x-Model.safetensors"
    torch.save({"params_ema": state}, model, _use_new_zipfile_serialization=not legacy)
    code, _, err = _cli(capsys, "info", model)
    assert code == 2
    assert err == f"error: {model}: a PyTorch (.pth) file named .safetensors; rename it to 4x-Model.pth\n"
    renamed = model.rename(tmp_path / "4x-Model.pth")
    assert _cli(capsys, "info", renamed)[0] == 0


def test_a_pth_of_other_bytes_is_still_not_a_pytorch_file(tmp_path, capsys):
    model = tmp_path / "m.pth"
    model.write_bytes(b"<html>404 Not Found</html>")
    code, _, err = _cli(capsys, "info", model)
    assert code == 2
    assert err == f"error: {model}: not a PyTorch file (neither a torch zip archive nor a pickle)\n"


def test_a_safetensors_header_without_tensors_says_so(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    save_file({}, str(model), metadata={"author": "me"})
    code, _, err = _cli(capsys, "convert", model, tmp_path / "out.pth")
    assert code == 2
    assert err == f"error: {model}: holds no tensors (a header alone)\n"
    assert not (tmp_path / "out.pth").exists()


def test_a_torchscript_file_is_refused_as_a_program_without_mentioning_the_unsafe_loader(tmp_path, capsys):
    from upres.io.model_files import load_model

    net = load_model(compact_model(tmp_path / "m.safetensors", zero=False)).module
    model = tmp_path / "traced.pth"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated, and still what many older releases shipped
        torch.jit.save(torch.jit.trace(net, torch.rand(1, 3, 8, 8)), str(model))
    code, _, err = _cli(capsys, "convert", model, tmp_path / "out.safetensors")
    assert code == 2
    assert err == (
        f"error: {model}: a TorchScript program (torch.jit.save), which upres does not run; use the .pth or "
        ".safetensors of its weights (torch.save(model.state_dict()) where it was made)\n"
    )
    assert "weights_only" not in err and not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("start", [b"PK", b"\x80\x02"])
def test_a_damaged_safetensors_starting_like_a_torch_file_is_not_told_to_become_one(tmp_path, capsys, start):
    model = tmp_path / "m.safetensors"
    model.write_bytes(start + bytes(range(200)))
    code, _, err = _cli(capsys, "info", model)
    assert code == 2
    assert err.startswith(f"error: {model}: not a readable safetensors file (")
