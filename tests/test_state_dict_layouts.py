"""Where trainers put a generator in a .pth: a dict of networks and optimizers (`net_g` beside `net_d`), a whole
GAN under one `state_dict` (PyTorch Lightning: `generator.*` beside `discriminator.*`). Each loads as the
generator alone; a file with no tensors where upres looks names what it holds."""

from __future__ import annotations

import pytest
import torch

from test_archs import _randomise
from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import export_state, load_model


def _generator():
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    net.load_state_dict(_randomise(net))
    return net, export_state(net)


def _discriminator_state():
    from upres.archs.discriminators import build_discriminator

    return export_state(build_discriminator("dunet", num_feat=8))


LAYOUTS = {
    "trainer dict": lambda g, d: {
        "net_g": g,
        "net_d": d,
        "optimizer_g": {"state": {}, "param_groups": []},
        "iter": 5,
    },
    "lightning": lambda g, d: {
        "state_dict": {f"generator.{k}": v for k, v in g.items()}
        | {f"discriminator.{k}": v for k, v in d.items()},
        "epoch": 3,
    },
    "lightning, netG/netD": lambda g, d: (
        {f"netG.{k}": v for k, v in g.items()} | {f"netD.{k}": v for k, v in d.items()}
    ),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_generator_of_a_whole_gan_file_loads_as_itself(tmp_path, layout):
    net, g = _generator()
    path = tmp_path / "gan.ckpt"
    torch.save(LAYOUTS[layout](g, _discriminator_state()), path)
    model = load_model(path)
    assert model.info.family == "compact" and model.scale == 2
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.module(x), net.eval()(x))
    assert main(["convert", str(path), str(tmp_path / "g.safetensors")]) == 0
    assert load_model(tmp_path / "g.safetensors").module.state_dict().keys() == net.state_dict().keys()


def test_a_file_without_tensors_where_upres_looks_names_its_entries(tmp_path, capsys):
    path = tmp_path / "run.pth"
    state = {"epoch": 1, "iter": 5, "optimizers": [{"state": {}, "param_groups": []}], "schedulers": []}
    torch.save(state, path)
    assert main(["info", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: holds no tensors at its top level or under params_ema, params or another usual entry (its "
        "entries: epoch, iter, optimizers, schedulers); a training state's weights are in the model file written "
        "with it\n"
    )


@pytest.mark.parametrize("ema_key", ["params_ema", "params-ema"])
def test_the_ema_weights_are_taken_over_the_raw_ones_as_spandrel_takes_them(tmp_path, ema_key):
    spandrel = pytest.importorskip("spandrel")
    net, ema = _generator()
    raw = {k: v + 0.5 for k, v in ema.items()}
    path = tmp_path / "net_g_1000.pth"
    torch.save({"params": raw, ema_key: ema}, path)
    state = load_model(path).module.state_dict()
    assert all(torch.equal(state[k], ema[k]) for k in ema)
    theirs = spandrel.ModelLoader().load_from_file(path).model.state_dict()
    assert all(torch.equal(theirs[k], ema[k]) for k in ema)


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "netG."])
def test_a_safetensors_file_of_a_wrapped_network_loads_under_its_own_names(tmp_path, prefix):
    """A DDP or torch.compile run's .safetensors holds `module.`/`_orig_mod.` keys: the prefixes a .pth lost were
    kept, and the file was an "unknown architecture" (spandrel strips `module.` in both formats)."""
    from safetensors.torch import save_file

    net, g = _generator()
    path = tmp_path / "wrapped.safetensors"
    save_file({prefix + k: v for k, v in g.items()}, str(path))
    model = load_model(path)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.module(x), net.eval()(x))
