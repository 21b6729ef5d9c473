"""`upres interp --sweep`: one upscaled image per alpha and a strip, alpha weighting the first model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from upres.archs import build_network
from upres.cli import main
from upres.infer.tiling import Upscaler
from upres.io.images import array_to_tensor, read_image, tensor_to_array
from upres.io.model_files import save_model


def test_sweep_endpoints_equal_each_model(tmp_path):
    torch.manual_seed(3)
    a, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    b, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    pa, pb = save_model(tmp_path / "a.safetensors", a, info), save_model(tmp_path / "b.pth", b, info)
    img = (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    assert (
        main(
            [
                "interp",
                str(pa),
                str(pb),
                "--sweep",
                "1,0.5,0",
                "--image",
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / "out"),
                "--device",  # the reference below is float32 on the CPU; auto is fp16 on a CUDA machine
                "cpu",
            ]
        )
        == 0
    )
    x = array_to_tensor(img)[None]
    for alpha, net in (("1", a), ("0", b)):
        expected = tensor_to_array(Upscaler(net, 2)(x)[0])
        assert np.array_equal(read_image(tmp_path / "out" / f"in_alpha{alpha}.png"), expected)
    strip = read_image(tmp_path / "out" / "in_sweep.png")
    assert strip.shape == (40, 48 * 3, 3)


def test_sweep_needs_an_image(tmp_path, capsys):
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    p = save_model(tmp_path / "a.pth", net, info)
    assert main(["interp", str(p), str(p), "--sweep", "0,1", "-o", str(tmp_path / "o")]) == 2
    assert "--sweep takes exactly two models (A B) and --image IMG" in capsys.readouterr().err


def _img(tmp_path):
    img = (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    return tmp_path / "in.png", img


def _compact(tmp_path, name: str, seed: int, **kw):
    torch.manual_seed(seed)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2, **kw)
    return net, save_model(tmp_path / name, net, info)


def test_interp_keeps_what_only_the_header_says(tmp_path, capsys):
    """A Compact without its residual (or with relu) looks like any Compact in its tensors: interp read them alone,
    built the default architecture and wrote a header without the setting (A mixed with itself was not A)."""
    a, pa = _compact(tmp_path, "a.safetensors", 0, learn_residual=False)
    _, pa2 = _compact(tmp_path, "a2.safetensors", 0, learn_residual=False)
    assert main(["interp", str(pa), str(pa2), "-o", str(tmp_path / "mix.safetensors")]) == 0
    from upres.io.model_files import load_model

    mixed = load_model(tmp_path / "mix.safetensors")
    assert mixed.info.params.get("learn_residual") is False
    x = torch.rand(1, 3, 12, 16)
    with torch.no_grad():
        torch.testing.assert_close(mixed.module(x), a.eval()(x), rtol=1e-5, atol=1e-6)
    # relu Compacts (no PReLU weights): the header says which activation
    _, r1 = _compact(tmp_path, "r1.safetensors", 1, act_type="relu")
    _, r2 = _compact(tmp_path, "r2.safetensors", 2, act_type="relu")
    assert main(["interp", str(r1), str(r2), "-o", str(tmp_path / "relu_mix.safetensors")]) == 0
    assert load_model(tmp_path / "relu_mix.safetensors").info.params.get("act_type") == "relu"
    # a residual and a non-residual Compact are different architectures
    _, res = _compact(tmp_path, "res.safetensors", 3)
    capsys.readouterr()
    assert main(["interp", str(pa), str(res), "-o", str(tmp_path / "bad.safetensors")]) == 2
    assert "differs from" in capsys.readouterr().err
    assert not (tmp_path / "bad.safetensors").exists()


def test_a_model_with_nan_weights_is_refused_by_interp_and_the_sweep(tmp_path, capsys):
    """0 x NaN is NaN: a sweep with one diverged model gave black images at every alpha, the good model's too."""
    net, good = _compact(tmp_path, "good.safetensors", 0)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["body.0.weight"][0, 0, 0, 0] = float("nan")
    nan = tmp_path / "nan.pth"
    torch.save({"params": state}, nan)
    image, _ = _img(tmp_path)
    for args in (
        [str(good), str(nan), "-o", str(tmp_path / "mix.safetensors")],
        [str(good), str(nan), "--sweep", "0,1", "--image", str(image), "-o", str(tmp_path / "sweep")],
    ):
        capsys.readouterr()
        assert main(["interp", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {nan}: 1 tensor(s) hold NaN or infinity (first: 'body.0.weight')"), err
    assert not (tmp_path / "mix.safetensors").exists() and not (tmp_path / "sweep").exists()


def test_the_sweep_keeps_existing_images_unless_forced(tmp_path, capsys):
    _, pa = _compact(tmp_path, "a.safetensors", 0)
    _, pb = _compact(tmp_path, "b.safetensors", 1)
    image, _ = _img(tmp_path)
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "in_alpha0.5.png").write_bytes(b"mine")
    args = ["interp", str(pa), str(pb), "--sweep", "0.5", "--image", str(image), "-o", str(out)]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"error: {out / 'in_alpha0.5.png'}: exists; add --force to replace it, or choose another name\n"
    )
    assert (out / "in_alpha0.5.png").read_bytes() == b"mine" and not (out / "in_sweep.png").exists()
    assert main([*args, "--force"]) == 0
    assert read_image(out / "in_alpha0.5.png").shape == (24, 32, 3)


def test_two_runs_models_of_one_name_are_told_apart_in_what_interp_says(tmp_path, capsys):
    """Both are net_g_ema_N.safetensors: '0.2*net_g_ema_4.safetensors + 0.8*net_g_ema_4.safetensors' did not say
    which was the fidelity model."""
    paths = []
    for run in ("x4_fidelity", "x4_gan"):
        torch.manual_seed(len(paths))
        net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
        paths.append(save_model(tmp_path / run / "models" / "net_g_ema_4.safetensors", net, info))
    assert (
        main(
            [
                "interp",
                str(paths[0]),
                str(paths[1]),
                "--alpha",
                "0.2",
                "-o",
                str(tmp_path / "blend.safetensors"),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == (
        f"wrote {tmp_path / 'blend.safetensors'} = 0.2*x4_fidelity/models/net_g_ema_4.safetensors + "
        "0.8*x4_gan/models/net_g_ema_4.safetensors"
    )


@pytest.mark.parametrize("channels", [1, 4])
def test_sweep_maps_a_gray_or_rgba_models_channels_as_upscale_does(tmp_path, channels):
    """The image's RGB went straight into the net: a gray or RGBA pair ended in a traceback from its first conv."""
    nets = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        net, info = build_network(
            "compact", scale=2, num_feat=8, num_conv=2, num_in_ch=channels, num_out_ch=channels
        )
        nets.append(save_model(tmp_path / f"{seed}.safetensors", net, info))
    img = (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    sweep = [
        "interp",
        *map(str, nets),
        "--sweep",
        "1,0",
        "--image",
        str(tmp_path / "in.png"),
        "--device",
        "cpu",
    ]
    assert main([*sweep, "-o", str(tmp_path / "sweep")]) == 0
    for alpha, model in (("1", nets[0]), ("0", nets[1])):
        assert (
            # both on the CPU: the property is the channel mapping, not two devices' rounding
            main(
                [
                    "upscale",
                    "-m",
                    str(model),
                    str(tmp_path / "in.png"),
                    "-o",
                    str(tmp_path / alpha),
                    "-q",
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
        upscaled = read_image(tmp_path / alpha / "in.png")
        assert np.array_equal(read_image(tmp_path / "sweep" / f"in_alpha{alpha}.png"), upscaled)


def test_the_sweep_runs_at_the_precision_it_is_given_as_upscale_does(tmp_path):
    """The sweep ran on the CPU in float32 whatever the machine: a GPU user waited minutes on a large photo."""
    image, _ = _img(tmp_path)
    _, a = _compact(tmp_path, "a.safetensors", 1)
    _, b = _compact(tmp_path, "b.safetensors", 2)
    run = ["--device", "cpu", "--precision", "bf16"]
    assert (
        main(
            ["interp", str(a), str(b), "--sweep", "1", "--image", str(image), "-o", str(tmp_path / "s"), *run]
        )
        == 0
    )
    assert main(["upscale", "-m", str(a), str(image), "-o", str(tmp_path / "u"), "-q", *run]) == 0
    assert (
        main(["upscale", "-m", str(a), str(image), "-o", str(tmp_path / "f"), "-q", "--device", "cpu"]) == 0
    )
    swept, upscaled = read_image(tmp_path / "s" / "in_alpha1.png"), read_image(tmp_path / "u" / "in.png")
    assert np.array_equal(swept, upscaled)
    assert not np.array_equal(swept, read_image(tmp_path / "f" / "in.png"))  # bf16 did change the result


def test_a_sweep_on_a_gpu_that_is_not_there_writes_nothing(tmp_path, capsys):
    image, _ = _img(tmp_path)
    _, a = _compact(tmp_path, "a.safetensors", 1)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    out = tmp_path / "s"
    cmd = ["interp", str(a), str(a), "--sweep", "0,1", "--image", str(image), "-o", str(out)]
    assert main([*cmd, "--device", f"cuda:{gpus}"]) == 2
    assert f"--device cuda:{gpus}:" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("flag", [["--device", "cpu"], ["--precision", "fp16"], ["--image", "in.png"]])
def test_sweep_flags_without_a_sweep_are_refused(tmp_path, capsys, flag):
    _, a = _compact(tmp_path, "a.safetensors", 1)
    assert main(["interp", str(a), str(a), "-o", str(tmp_path / "m.safetensors"), *flag]) == 2
    assert f"error: {flag[0]} is for --sweep" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize(
    ("b_kwargs", "difference"),
    [
        (
            {"scale": 4},
            "esrgan x4 (8nf 1nb) differs from {a}: esrgan x2 (8nf 1nb unshuffle) in scale (4 vs 2)",
        ),
        (
            {"scale": 2, "use_pixel_unshuffle": False},
            "esrgan x2 (8nf 1nb) differs from {a}: esrgan x2 (8nf 1nb unshuffle) in use_pixel_unshuffle (False vs True)",
        ),
        (
            {"scale": 2, "num_block": 2, "num_in_ch": 1, "num_out_ch": 1},
            "esrgan x2 (8nf 2nb unshuffle) differs from {a}: esrgan x2 (8nf 1nb unshuffle) in num_in_ch (1 vs 3), "
            "num_out_ch (1 vs 3), num_block (2 vs 1)",
        ),
    ],
)
@pytest.mark.parametrize("sweep", [False, True])
def test_mismatched_models_are_one_line_naming_what_differs(tmp_path, capsys, b_kwargs, difference, sweep):
    a = save_model(tmp_path / "a.pth", *build_network("esrgan", scale=2, num_feat=8, num_block=1))
    b = save_model(
        tmp_path / "b.pth", *build_network("esrgan", **{"num_feat": 8, "num_block": 1, **b_kwargs})
    )
    out = tmp_path / ("sweep" if sweep else "mix.pth")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in.png")
    extra = ["--sweep", "0,1", "--image", str(tmp_path / "in.png"), "--device", "cpu"] if sweep else []
    capsys.readouterr()
    assert main(["interp", str(a), str(b), "-o", str(out), *extra]) == 2
    assert capsys.readouterr().err == (
        f"error: {b}: {difference.format(a=a)}; interp mixes models of one architecture and size\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_a_sweep_image_that_is_not_a_file_is_a_usage_error(tmp_path, capsys, kind):
    a = save_model(tmp_path / "a.pth", *build_network("compact", scale=2, num_feat=4, num_conv=1))
    image = tmp_path / "photo.png"
    if kind == "folder":
        image.mkdir()
    capsys.readouterr()
    code = main(
        ["interp", str(a), str(a), "--sweep", "0,1", "--image", str(image), "-o", str(tmp_path / "sw")]
    )
    what = "is a folder; give one image file" if kind == "folder" else "no such file"
    assert (code, capsys.readouterr().err) == (2, f"error: --image {image}: {what}\n")
    assert not (tmp_path / "sw").exists()
