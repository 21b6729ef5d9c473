"""Issue 14 items 4, 5, 8, 10, 13: model files from strangers (header metadata, resized tensors, pickles holding
code), `convert` to places it cannot write, folders given as files."""

from __future__ import annotations

import json
import os
import pickle
import sys

import pytest
import torch
from fault_helpers import compact_model, mp4, png
from safetensors.torch import save_file

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import export_state


def _cli(capsys, *args: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _with_header(path, **metadata: str):
    net, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    save_file(export_state(net), str(path), metadata={"format": "pt", **metadata})
    return path


@pytest.mark.parametrize(
    ("metadata", "note"),
    [
        ({"upres_arch": "nosuch"}, "the header says upres_arch='nosuch' but the tensors are compact"),
        ({"upres_arch": "esrgan"}, "the header says upres_arch='esrgan' but the tensors are compact"),
        (
            {"upres_arch": "compact", "upres_params": "{not json"},
            "the header's upres_params is not a JSON object",
        ),
        (
            {"upres_arch": "compact", "upres_params": "[1, 2]"},
            "the header's upres_params is not a JSON object",
        ),
        ({"upres_arch": "compact", "upres_params": "{}"}, None),
        (
            {"upres_arch": "compact", "upres_params": json.dumps({"scale": 4, "num_feat": 4})},
            "the header's upres_params disagree with the tensors (scale 4 vs 2, header vs tensors)",
        ),
        # PReLU weights show the activation: a header naming another (or none upres knows) is a note, not a refusal
        (
            {"upres_arch": "compact", "upres_params": json.dumps({"act_type": "gelu"})},
            "the header's upres_params disagree with the tensors (act_type 'gelu' vs 'prelu', header vs tensors)",
        ),
        (
            {"upres_arch": "compact", "upres_params": json.dumps({"act_type": "relu"})},
            "the header's upres_params disagree with the tensors (act_type 'relu' vs 'prelu', header vs tensors)",
        ),
    ],
)
def test_header_metadata_is_checked_and_the_tensors_win(tmp_path, capsys, metadata, note):
    model = _with_header(tmp_path / "m.safetensors", **metadata)
    code, out, err = _cli(capsys, "info", "--json", model)
    assert code == 0, err
    d = json.loads(out)
    assert (d["architecture"], d["scale"], d["hyperparameters"]["num_feat"]) == ("compact", 2, 4)
    assert d["notes"] == ([f"{model}: {note}; " + ("ignored, the tensors are used" if "JSON" in note else
                                                   "the tensors are used")] if note else [])  # fmt: skip
    code, out, err = _cli(capsys, "info", model)
    assert code == 0 and "Traceback" not in err
    assert err == (f"note: {d['notes'][0]}\n" if note else "")
    png(tmp_path / "in" / "a.png")
    code, out, err = _cli(capsys, "upscale", "-m", model, tmp_path / "in", "-o", tmp_path / "out")
    assert code == 0, err
    assert (f"note: {d['notes'][0]}" in err) if note else "note:" not in err


def _resized_compact_pth(path):
    net, _ = build_network("compact", scale=2, num_feat=4, num_conv=2)
    state = export_state(net)
    state["body.2.weight"] = torch.zeros(4, 4, 5, 5)  # a 5x5 kernel where Compact has 3x3
    torch.save({"params_ema": state}, path)
    return path


@pytest.mark.parametrize("command", ["info", "upscale", "convert", "interp", "interp_sweep"])
def test_resized_tensor_is_one_line_naming_it(tmp_path, capsys, command):
    """interp mixed two such files into one no tool could load (exit 0), and named neither file when one was good."""
    model = _resized_compact_pth(tmp_path / "m.pth")
    good = compact_model(tmp_path / "good.safetensors", zero=False)
    png(tmp_path / "a.png")
    args = {
        "info": ["info", model],
        "upscale": ["upscale", "-m", model, tmp_path / "a.png", "-o", tmp_path / "out"],
        "convert": ["convert", model, tmp_path / "out.safetensors"],
        "interp": ["interp", good, model, "-o", tmp_path / "out.safetensors"],
        "interp_sweep": ["interp", model, model, "--sweep", "0,1", "--image", tmp_path / "a.png", "-o", tmp_path / "out"],
    }[command]  # fmt: skip
    code, _, err = _cli(capsys, *args)
    assert code == 2
    assert err == (
        f"error: {model}: tensor 'body.2.weight' has shape (4, 4, 5, 5), but the compact that the other tensors "
        "describe needs (4, 4, 3, 3); the file is damaged or was edited\n"
    )
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo ran",))


@pytest.mark.parametrize("layout", ["zip", "legacy", "pickle"])
def test_pickle_with_code_is_refused_without_suggesting_the_unsafe_loader(tmp_path, capsys, layout):
    path = tmp_path / "evil.pth"
    if layout == "pickle":
        path.write_bytes(pickle.dumps({"params_ema": _Evil()}, protocol=2))
    else:
        torch.save({"params_ema": _Evil()}, path, _use_new_zipfile_serialization=layout == "zip")
    code, out, err = _cli(capsys, "info", path)
    assert code == 2
    system = "nt.system" if sys.platform == "win32" else "posix.system"
    assert err == (
        f"error: {path}: refused: the file holds objects other than tensors (it asks for {system}), which upres "
        "does not run; only files of plain tensors are opened (ask its author for a .safetensors file)\n"
    )
    assert "weights_only" not in err and "ran" not in out


def test_convert_onto_a_folder_or_an_unwritable_place_is_one_line(tmp_path, capsys):
    model = compact_model(tmp_path / "m.safetensors")
    (tmp_path / "folder").mkdir()
    code, _, err = _cli(capsys, "convert", model, tmp_path / "folder")
    assert code == 2
    assert err == (
        f"error: {tmp_path / 'folder'}: is a folder; give the output file's name, e.g. "
        f"{tmp_path / 'folder' / 'm'}.safetensors\n"
    )
    (tmp_path / "file").write_text("x")
    code, _, err = _cli(capsys, "convert", model, tmp_path / "file" / "m.pth")
    assert code == 2
    assert (
        err.startswith(f"error: {tmp_path / 'file' / 'm.pth'}: cannot write there (") and err.count("\n") == 1
    )
    assert err.endswith("); choose another place\n")


@pytest.mark.skipif(
    not os.path.isdir("/proc/self"), reason="needs Linux /proc: a place even root cannot write"
)
def test_convert_into_a_read_only_place_is_one_line(tmp_path, capsys):
    model = compact_model(tmp_path / "m.safetensors")
    code, _, err = _cli(capsys, "convert", model, "/proc/upres-test.pth")
    assert code == 2
    assert err.startswith("error: /proc/upres-test.pth: cannot write there (") and err.count("\n") == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_convert_into_a_read_only_folder_is_one_line(tmp_path, capsys):
    model = compact_model(tmp_path / "m.safetensors")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, _, err = _cli(capsys, "convert", model, ro / "m.pth")
    finally:
        ro.chmod(0o700)
    assert code == 2
    assert err == f"error: {ro / 'm.pth'}: cannot write there (Permission denied); choose another place\n"


@pytest.mark.parametrize("command", ["info", "upscale", "video", "convert"])
def test_a_folder_given_as_model_is_reported_as_a_folder(tmp_path, capsys, command):
    folder = tmp_path / "model.pth"
    folder.mkdir()
    png(tmp_path / "a.png")
    args = {
        "info": lambda: ["info", folder],
        "upscale": lambda: ["upscale", "-m", folder, tmp_path / "a.png", "-o", tmp_path / "out"],
        "video": lambda: [
            "video",
            "-m",
            folder,
            mp4(tmp_path / "c.mp4", frames=2),
            "-o",
            tmp_path / "out.mkv",
        ],
        "convert": lambda: ["convert", folder, tmp_path / "x.safetensors"],
    }[command]()  # only the video case needs PyAV
    code, _, err = _cli(capsys, *args)
    assert code == 2
    assert (
        err == f"error: {folder}: is a folder, not a model file; give the .pth or .safetensors file in it\n"
    )


def _altered_rrdb(path, change):
    net, _ = build_network("esrgan", scale=2, num_feat=8, num_block=1)
    torch.save({k: change(k, v) for k, v in export_state(net).items()}, path)
    return path


TENSOR_FAULTS = {
    # Cast to float32 without a word before: every command ran and the output was garbage.
    "integers": (
        lambda k, v: (v * 100).to(torch.int32),
        "tensor 'conv_first.weight' is int32; a model's weights",
    ),
    "booleans": (lambda k, v: v > 0, "tensor 'conv_first.weight' is bool; a model's weights"),
    "complex": (
        lambda k, v: v.to(torch.complex64),
        "tensor 'conv_first.weight' is complex64; a model's weights",
    ),
    # torch's own loader raised a traceback with dozens of lines.
    "sparse": (
        lambda k, v: v.to_sparse() if v.ndim == 4 else v,
        "tensor 'conv_first.weight' is stored sparse_coo, not as a dense array",
    ),
    "empty_dimension": (
        lambda k, v: v[:, :0] if k == "conv_first.weight" else v,
        "tensor 'conv_first.weight' has shape (8, 0, 3, 3), with nothing in it",
    ),
}


@pytest.mark.parametrize("fault", TENSOR_FAULTS)
@pytest.mark.parametrize("command", ["info", "upscale", "convert", "interp"])
def test_tensors_that_are_not_weights_are_one_line(tmp_path, capsys, fault, command):
    change, message = TENSOR_FAULTS[fault]
    model = _altered_rrdb(tmp_path / "m.pth", change)
    png(tmp_path / "a.png")
    args = {
        "info": ["info", model],
        "upscale": ["upscale", "-m", model, tmp_path / "a.png", "-o", tmp_path / "out"],
        "convert": ["convert", model, tmp_path / "m.safetensors"],
        "interp": ["interp", model, model, "-o", tmp_path / "i.pth"],
    }[command]
    code, _, err = _cli(capsys, *args)
    assert code == 2
    assert err.startswith(f"error: {model}: {message}") and err.count("\n") == 1, err


def test_a_header_value_the_tensors_cannot_show_is_refused_naming_the_header(tmp_path, capsys):
    model = _with_header(tmp_path / "m.safetensors", upres_params=json.dumps({"learn_residual": "no"}))
    code, _, err = _cli(capsys, "info", model)
    assert code == 2
    assert err == (
        f"error: {model}: the header's upres_params: compact learn_residual must be true or false, not 'no', and "
        "the tensors cannot show it; write the file again with the value it was trained with\n"
    )


def test_info_shows_what_else_the_header_holds(tmp_path, capsys):
    """author, license, modelspec.*: `convert` carries them into a .safetensors OUT, and info showed none of them."""
    long = "x" * 150
    model = _with_header(tmp_path / "m.safetensors", license="CC-BY-4.0", author="Jane\nDoe", title=long)
    code, out, _ = _cli(capsys, "info", "--json", model)
    assert code == 0
    assert json.loads(out)["header"] == {"author": "Jane\nDoe", "license": "CC-BY-4.0", "title": long}
    code, out, _ = _cli(capsys, "info", model)
    assert code == 0
    assert f"header           author=Jane\\nDoe; license=CC-BY-4.0; title={'x' * 120}...\n" in out
    assert main(["convert", str(model), str(tmp_path / "copy.safetensors")]) == 0
    code, out, _ = _cli(capsys, "info", "--json", tmp_path / "copy.safetensors")
    assert json.loads(out)["header"] == {"author": "Jane\nDoe", "license": "CC-BY-4.0", "title": long}
    plain = compact_model(tmp_path / "plain.safetensors")
    code, out, _ = _cli(capsys, "info", plain)
    assert code == 0 and "header" not in out  # upres's own keys are what the other lines say
    code, out, _ = _cli(capsys, "info", "--json", plain)
    assert json.loads(out)["header"] == {}
