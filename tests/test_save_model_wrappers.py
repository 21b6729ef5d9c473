"""save_model from Python: a wrapped network (torch.compile, DataParallel) is written under the network's own key
names, so the file opens in chaiNNer/spandrel and Real-ESRGAN as the docs promise."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from spandrel import ModelLoader

from test_model_files import _small
from upres.io.model_files import save_model


@pytest.mark.parametrize(
    "wrap",
    [torch.compile, torch.nn.DataParallel, lambda n: torch.compile(torch.nn.DataParallel(n))],
    ids=["compile", "dataparallel", "compile-dataparallel"],
)
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_a_wrapped_network_is_saved_under_its_own_keys(tmp_path, wrap, suffix):
    net, info = _small("compact")
    path = save_model(tmp_path / f"m{suffix}", wrap(net), info)
    state = load_file(path) if suffix == ".safetensors" else torch.load(path, weights_only=True)["params_ema"]
    assert sorted(state) == sorted(net.state_dict())
    net.cpu()  # DataParallel moves its module to the first GPU where there is one; files hold CPU tensors
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    desc = ModelLoader().load_from_file(path)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(desc.model(x), net(x), atol=1e-5, rtol=0)


def test_a_wrapped_state_dict_is_saved_under_the_network_keys(tmp_path):
    net, info = _small()
    path = save_model(tmp_path / "m.safetensors", torch.compile(net).state_dict(), info)
    assert sorted(load_file(path)) == sorted(net.state_dict())
