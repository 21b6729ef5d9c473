"""Reading every supported layout safely, writing files spandrel and Real-ESRGAN load unchanged."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from spandrel import ModelLoader

from ref_basicsr import import_basicsr
from test_archs import _randomise, to_old_sequential_layout, to_original_repo_layout
from upres.archs import build_network
from upres.cli import main
from upres.errors import ModelFileError
from upres.io.model_files import load_model, read_tensors, save_model


def _small(name="esrgan", **kw):
    kw = (
        {"scale": 4, "num_feat": 8, "num_block": 2, **kw}
        if name.startswith("esrgan")
        else {"scale": 2, "num_feat": 8, "num_conv": 2, **kw}
    )
    net, info = build_network(name, **kw)
    net.load_state_dict(_randomise(net))
    return net, info


class _CreatesFile:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path, capsys):
    target = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as fh:
        pickle.dump({"params_ema": {"conv_first.weight": _CreatesFile(str(target))}}, fh)
    assert main(["info", str(evil)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {evil}: refused") and len(err.splitlines()) == 1
    assert not target.exists()


def test_hostile_pickle_inside_torch_zip_is_refused(tmp_path):
    target = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pth"
    torch.save({"params": _CreatesFile(str(target))}, evil)
    assert not target.exists()  # saving does not call open; loading would
    with pytest.raises(ModelFileError, match="refused"):
        read_tensors(evil)
    assert not target.exists()


def test_training_state_given_as_a_model_points_to_resume_and_the_generator(tmp_path, capsys):
    exp = tmp_path / "exp"
    (exp / "training_states").mkdir(parents=True)
    state = exp / "training_states" / "30.state"
    state.write_bytes(b"never read")
    net, info = _small()
    save_model(exp / "models" / "net_g_ema_30.safetensors", net, info)
    assert main(["info", str(state)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        f"a training state, not a model file: continue training from it with `upres train -c OPTIONS --resume {state}`"
        in err
    )
    assert err.endswith(f"its generator is {exp / 'models' / 'net_g_ema_30.safetensors'}")


@pytest.mark.parametrize(
    "content,message",
    [(b"", "file is empty"), (b"not a model at all", "not a PyTorch file"), (None, "truncated or corrupt")],
)
def test_unreadable_files_give_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.pth"
    if content is None:
        net, info = _small()
        save_model(path, net, info)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "wrapper", ["params_ema", "params", "state_dict", "model", "net", "model_state_dict", "single", None]
)
@pytest.mark.parametrize("prefix", ["", "module.", "netG.", "_orig_mod."])
def test_wrappers_and_prefixes(tmp_path, wrapper, prefix):
    net, info = _small()
    state = {prefix + k: v for k, v in net.state_dict().items()}
    obj = (
        {"whatever": state}
        if wrapper == "single"
        else state
        if wrapper is None
        else {wrapper: state, "iter": 5}
    )
    path = tmp_path / "m.pth"
    torch.save(obj, path)
    loaded = load_model(path)
    assert loaded.info.params == info.params
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(loaded.module(x), net(x))


def test_params_ema_is_preferred_over_params(tmp_path):
    ema, _ = _small()
    other, _ = _small()
    for p in other.parameters():
        p.data.add_(1)
    torch.save({"params": other.state_dict(), "params_ema": ema.state_dict()}, tmp_path / "m.pth")
    loaded = load_model(tmp_path / "m.pth")
    torch.testing.assert_close(loaded.module.conv_first.weight, ema.conv_first.weight)


@pytest.mark.parametrize("layout", [to_original_repo_layout, to_old_sequential_layout])
def test_community_layouts_load_from_files(tmp_path, layout):
    net, info = _small(scale=2)
    torch.save(layout(net.state_dict()), tmp_path / "old.pth")
    loaded = load_model(tmp_path / "old.pth")
    assert loaded.info.params == info.params
    x = torch.rand(1, 3, 6, 10)
    torch.testing.assert_close(loaded.module(x), net(x))


@pytest.mark.parametrize(
    "name,kw",
    [
        ("esrgan", {}),
        ("esrgan", {"scale": 2}),
        ("esrgan", {"scale": 1}),
        ("compact", {}),
        ("compact", {"scale": 4}),
    ],
)
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_written_files_load_in_spandrel_with_same_output(tmp_path, name, kw, suffix):
    net, info = _small(name, **kw)
    path = save_model(tmp_path / f"m{suffix}", net, info)
    desc = ModelLoader().load_from_file(path)
    assert (desc.scale, desc.input_channels, desc.output_channels) == (info.scale, 3, 3)
    assert set(info.tags) <= set(desc.tags)
    assert desc.architecture.id == {"esrgan": "ESRGAN", "compact": "Compact"}[name]
    x = torch.rand(1, 3, 12, 8)
    with torch.no_grad():
        torch.testing.assert_close(desc.model(x), net(x), atol=1e-5, rtol=0)


def test_pth_is_real_esrgan_layout(tmp_path):
    net, info = _small(scale=2)
    path = save_model(tmp_path / "m.pth", net, info)
    obj = torch.load(path, weights_only=True)
    assert list(obj) == ["params_ema"]
    assert all(type(v) is torch.Tensor and v.is_contiguous() for v in obj["params_ema"].values())
    basicsr_arch = import_basicsr("basicsr.archs.rrdbnet_arch")
    ref = basicsr_arch.RRDBNet(3, 3, scale=2, num_feat=8, num_block=2)
    ref.load_state_dict(obj["params_ema"], strict=True)
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(ref(x), net(x))


def test_safetensors_header_carries_architecture(tmp_path):
    net, info = _small("compact")
    path = save_model(tmp_path / "m.safetensors", net, info)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
    assert meta["upres_arch"] == "compact" and json.loads(meta["upres_params"]) == info.params


@pytest.mark.parametrize(
    "src,dst", [(".pth", ".safetensors"), (".safetensors", ".pth"), (".safetensors", ".safetensors")]
)
def test_convert_round_trip_is_bit_exact(tmp_path, src, dst):
    net, info = _small()
    a = save_model(tmp_path / f"a{src}", net, info)
    assert main(["convert", str(a), str(tmp_path / f"b{dst}")]) == 0
    assert main(["convert", str(tmp_path / f"b{dst}"), str(tmp_path / f"c{src}")]) == 0
    original = net.state_dict()
    for path in (tmp_path / f"b{dst}", tmp_path / f"c{src}"):
        state, _ = read_tensors(path)
        assert state.keys() == original.keys()
        for k in original:
            assert torch.equal(state[k], original[k]), k


def test_convert_dtype_fp16(tmp_path):
    net, info = _small()
    a = save_model(tmp_path / "a.pth", net, info)
    assert main(["convert", str(a), str(tmp_path / "h.safetensors"), "--dtype", "fp16"]) == 0
    state = load_file(tmp_path / "h.safetensors")
    assert all(v.dtype == torch.float16 for v in state.values())
    assert load_model(tmp_path / "h.safetensors").dtype == torch.float16


def test_info_json(tmp_path, capsys):
    net, info = _small(scale=2)
    path = save_model(tmp_path / "m.pth", net, info)
    assert main(["info", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["architecture"] == "esrgan" and d["scale"] == 2 and d["input_channels"] == 3
    assert d["tags"] == ["8nf", "2nb", "unshuffle"]
    assert d["parameters"] == sum(p.numel() for p in net.parameters())
    assert len(d["sha256"]) == 64
    assert d["finite"] is True and d["notes"] == []


def test_info_says_a_diverged_model_will_be_refused_elsewhere(tmp_path, capsys):
    """info described it (exit 0) without a word of the NaN weights that every other command refuses."""
    net, info = _small(scale=2)
    with torch.no_grad():
        net.conv_first.weight[0, 0, 0, 0] = float("nan")
    path = tmp_path / "m.pth"
    torch.save({"params_ema": {k: v.detach() for k, v in net.state_dict().items()}}, path)
    assert main(["info", str(path)]) == 0
    err = capsys.readouterr().err
    assert err == (
        "note: 1 tensor(s) hold NaN or infinity (first: 'conv_first.weight'): upscaling with it would give black or "
        "garbage, so the other commands refuse it; use an earlier checkpoint of the training that wrote it\n"
    )
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["finite"] is False


def test_interp_is_exact_and_refuses_mismatches(tmp_path, capsys):
    a, info = _small()
    b, _ = _small()
    for p in b.parameters():
        p.data.mul_(-3).add_(0.5)
    pa, pb = save_model(tmp_path / "a.pth", a, info), save_model(tmp_path / "b.safetensors", b, info)
    assert main(["interp", str(pa), str(pb), "--alpha", "0.8", "-o", str(tmp_path / "mix.pth")]) == 0
    mixed, _ = read_tensors(tmp_path / "mix.pth")
    for k, v in a.state_dict().items():
        expected = (0.8 * v.double() + (1 - 0.8) * b.state_dict()[k].double()).float()
        assert torch.equal(mixed[k], expected), k
    assert (
        main(
            [
                "interp",
                str(pa),
                str(pb),
                str(pa),
                "--weights",
                "0.5,0.25,0.25",
                "-o",
                str(tmp_path / "three.pth"),
            ]
        )
        == 0
    )

    c, cinfo = _small(num_feat=16)
    pc = save_model(tmp_path / "c.pth", c, cinfo)
    capsys.readouterr()
    assert main(["interp", str(pa), str(pc), "-o", str(tmp_path / "bad.pth")]) == 2
    assert "differs from" in capsys.readouterr().err
    assert not (tmp_path / "bad.pth").exists()


def test_interp_names_first_mismatching_key():
    from upres.infer.interpolate import interpolate_states

    a = {"x.weight": torch.zeros(2), "y.weight": torch.zeros(3)}
    b = {"x.weight": torch.zeros(2), "y.weight": torch.zeros(4)}
    with pytest.raises(ModelFileError, match=r"'y.weight' has shape \(3,\) in model 1 but \(4,\) in model 2"):
        interpolate_states([a, b], [0.5, 0.5])


def test_nan_model_is_never_written(tmp_path):
    net, info = _small()
    net.conv_last.bias.data[0] = float("nan")
    with pytest.raises(ModelFileError, match="NaN"):
        save_model(tmp_path / "m.safetensors", net, info)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name,kw", [("esrgan", {"scale": 2}), ("esrgan", {"scale": 1}), ("compact", {"scale": 4})]
)
def test_onnx_equals_pytorch_at_two_sizes(tmp_path, name, kw):
    pytest.importorskip("onnxruntime")
    from upres.io.onnx_export import run_onnx

    net, info = _small(name, **kw)
    src = save_model(tmp_path / "m.safetensors", net, info)
    with warnings.catch_warnings():  # the 1x/2x padding's TracerWarning reached the user's terminal
        warnings.simplefilter("error", torch.jit.TracerWarning)
        assert main(["convert", str(src), str(tmp_path / "m.onnx")]) == 0
    import onnx

    graph = onnx.load(tmp_path / "m.onnx").graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["output"]
    for shape in [(1, 3, 21, 15), (2, 3, 16, 24)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            ref = net(x).numpy()
        out = run_onnx(tmp_path / "m.onnx", x.numpy())
        assert out.shape == ref.shape
        assert abs(out - ref).max() < 1e-4


def test_python_dash_m_works():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "upres", "--version"], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.startswith("upres ")


def test_compact_pth_loads_strictly_in_real_esrgan_arch(tmp_path):
    net, info = _small("compact", scale=4)
    path = save_model(tmp_path / "m.pth", net, info)
    srvgg = import_basicsr("basicsr.archs.srvgg_arch")
    ref = srvgg.SRVGGNetCompact(3, 3, num_feat=8, num_conv=2, upscale=4, act_type="prelu")
    ref.load_state_dict(torch.load(path, weights_only=True)["params_ema"], strict=True)
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(ref(x), net(x))


def _compact_file(tmp_path: Path, name: str, nan: bool = False) -> Path:
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    if nan:
        state["body.0.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / name
    torch.save({"params": state}, path)
    return path


@pytest.mark.parametrize("verify", [[], ["--no-verify"]])
def test_onnx_export_refuses_nan_weights_before_writing(tmp_path, capsys, verify):
    """A NaN model's graph gives NaN for every input: refused as .safetensors/.pth and upscale refuse it, not
    exported (with --no-verify it was written and reported as done)."""
    src = _compact_file(tmp_path, "nan.pth", nan=True)
    out = tmp_path / "nan.onnx"
    assert main(["convert", str(src), str(out), *verify]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: {src}: 1 tensor(s) hold NaN or infinity (first: 'body.0.weight')"
    )
    assert list(tmp_path.iterdir()) == [src]


def test_a_graph_that_fails_verification_leaves_the_existing_file(tmp_path, capsys, monkeypatch):
    """--force replaces OUT with a verified graph only: a failed check deleted the file the user had."""
    import upres.io.onnx_export as onnx_export

    src = _compact_file(tmp_path, "m.pth")
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the user's earlier graph")
    monkeypatch.setattr(
        onnx_export, "run_onnx", lambda path, x: x[:, :3].repeat(2, axis=2).repeat(2, axis=3) + 1
    )
    assert main(["convert", str(src), str(out), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: ONNX output differs from PyTorch by ") and err.endswith(
        "; nothing written\n"
    ), err
    assert out.read_bytes() == b"the user's earlier graph"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.pth"]  # no part file left either
    monkeypatch.undo()
    assert main(["convert", str(src), str(out), "--force"]) == 0
    assert out.read_bytes()[:8] != b"the user"


@pytest.mark.parametrize("protocol", [4, 5])
def test_a_plain_tensor_file_in_a_newer_pickle_protocol_is_not_called_code(tmp_path, capsys, protocol):
    """torch's safe reader stops at protocol 4's framing: the file was refused as holding 'objects other than
    tensors', which a plain state dict does not."""
    torch.manual_seed(0)
    net, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    path = tmp_path / "p.pth"
    torch.save({"params": net.state_dict()}, path, pickle_protocol=protocol)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {path}: refused: written with pickle protocol 4 or later (instruction 149)"
    ), err
    assert "objects other than tensors" not in err


def test_converting_an_rrdbnet_chainner_cannot_build_says_so(tmp_path, capsys):
    """num_grow_ch is a network_g option; spandrel builds 32 only and failed on the file with a size mismatch."""
    torch.manual_seed(0)
    net, _ = build_network("esrgan", scale=4, num_feat=8, num_block=1, num_grow_ch=16)
    src = tmp_path / "gc16.pth"
    torch.save({"params": net.state_dict()}, src)
    out = tmp_path / "gc16.safetensors"
    assert main(["convert", str(src), str(out)]) == 0
    assert (
        f"note: {out}: an RRDBNet with num_grow_ch 16: chaiNNer/spandrel build 32 only, so its files open in upres "
        "but not in chaiNNer"
    ) in capsys.readouterr().err
    with pytest.raises(Exception, match="size mismatch"):  # what the note foretells
        ModelLoader().load_from_file(out)
    net32, _ = build_network("esrgan", scale=4, num_feat=8, num_block=1)
    torch.save({"params": net32.state_dict()}, tmp_path / "gc32.pth")
    assert main(["convert", str(tmp_path / "gc32.pth"), str(tmp_path / "gc32.safetensors")]) == 0
    assert "num_grow_ch" not in capsys.readouterr().err


def test_converting_a_compact_chainner_cannot_read_says_so(tmp_path, capsys):
    """A LeakyReLU Compact converted to .safetensors said nothing, and spandrel refused the file."""
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2, act_type="leakyrelu")
    src = save_model(tmp_path / "lr.safetensors", net, info)
    out = tmp_path / "lr2.safetensors"
    assert main(["convert", str(src), str(out)]) == 0
    assert f"note: {out}: a Compact with act_type leakyrelu: chaiNNer/spandrel only read PReLU Compact" in (
        capsys.readouterr().err
    )
    from spandrel import UnsupportedModelError

    with pytest.raises(UnsupportedModelError):  # what the note foretells
        ModelLoader().load_from_file(out)


def test_converting_a_native_2x_esrgan_to_pth_says_real_esrgan_cannot_build_it(tmp_path, capsys):
    """Real-ESRGAN's RRDBNet reads 2x input through pixel-unshuffle: an old-layout native 2x model in its key names
    fails its strict load (missing conv_up2, conv_first of 12 channels), so the .pth is said to open elsewhere only."""
    torch.manual_seed(0)
    net, _ = build_network("esrgan", scale=2, num_feat=8, num_block=1, use_pixel_unshuffle=False)
    src = tmp_path / "2x_old.pth"
    torch.save(to_old_sequential_layout(net.state_dict()), src)
    out = tmp_path / "2x.pth"
    assert main(["convert", str(src), str(out)]) == 0
    assert (
        f"note: {out}: a 2x RRDBNet without pixel-unshuffle: Real-ESRGAN/BasicSR build 4x, and 2x/1x with "
        "pixel-unshuffle only, so it opens in chaiNNer and upres, not there"
    ) in capsys.readouterr().err
    arch = import_basicsr("basicsr.archs.rrdbnet_arch")
    with pytest.raises(RuntimeError, match="conv_up2"):  # what the note foretells
        arch.RRDBNet(3, 3, scale=2, num_feat=8, num_block=1).load_state_dict(torch.load(out)["params_ema"])
    # a 2x with pixel-unshuffle (Real-ESRGAN's x2plus) is theirs: no note
    net, _ = build_network("esrgan", scale=2, num_feat=8, num_block=1)
    torch.save({"params": net.state_dict()}, tmp_path / "x2plus.pth")
    assert main(["convert", str(tmp_path / "x2plus.pth"), str(tmp_path / "x2plus_out.pth")]) == 0
    assert "Real-ESRGAN/BasicSR build" not in capsys.readouterr().err


def test_a_param_key_the_file_lacks_names_the_keys_and_the_way_on(tmp_path):
    """redux's templates set param_key_g: params; a file holding only params_ema got a bare 'has no entry'."""
    import torch

    from upres.io.model_files import ModelFileError, read_tensors

    path = tmp_path / "ema_only.pth"
    torch.save({"params_ema": {"w": torch.zeros(1)}}, path)
    with pytest.raises(ModelFileError) as err:
        read_tensors(path, "params")
    assert str(err.value) == (
        f"{path}: has no 'params' entry (it has: params_ema); name one of those as the param_key, or leave the key "
        "out and upres takes the file's weights (params_ema first, as traiNNer-redux falls back)"
    )
    assert read_tensors(path)[0]["w"].shape == (1,)
