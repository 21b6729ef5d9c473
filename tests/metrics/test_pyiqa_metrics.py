"""DISTS/TOPIQ through pyiqa: used when it loads, one start-up note when it cannot; never a crash."""

from __future__ import annotations

import sys
import types

import torch

from upres.train.config import ValOptions
from upres.train.validate import build_metrics


def _val(kind: str) -> ValOptions:
    return ValOptions(metrics={"m": {"type": kind, "crop_border": 2}, "psnr": {"type": "calculate_psnr"}})


def test_missing_pyiqa_is_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyiqa", None)  # import fails as if not installed
    notes: list[str] = []
    metrics = build_metrics(_val("calculate_dists"), "cpu", notes)
    assert [m.name for m in metrics] == ["psnr"]
    assert notes == [
        "val.metrics.m (calculate_dists) skipped: calculate_dists needs pyiqa and its weights: pip install pyiqa"
    ]


def test_weights_that_cannot_load_are_a_note(monkeypatch):
    def create_metric(name, device, as_loss):
        raise OSError("cannot download dists weights: no network")

    monkeypatch.setitem(sys.modules, "pyiqa", types.SimpleNamespace(create_metric=create_metric))
    notes: list[str] = []
    build_metrics(_val("calculate_topiq"), "cpu", notes)
    assert notes == [
        "val.metrics.m (calculate_topiq) skipped: pyiqa could not load topiq_fr (cannot download dists weights: no network)"
    ]


def test_loaded_pyiqa_metric_is_called_on_the_cropped_images(monkeypatch):
    seen = {}

    class Fake(torch.nn.Module):
        lower_better = True

        def forward(self, sr, gt):
            seen["shape"] = tuple(sr.shape)
            return (sr - gt).abs().mean(dim=(1, 2, 3), keepdim=True)

    monkeypatch.setitem(
        sys.modules, "pyiqa", types.SimpleNamespace(create_metric=lambda name, device, as_loss: Fake())
    )
    metrics = build_metrics(_val("calculate_dists"), "cpu", [])
    dists = metrics[0]
    assert dists.name == "m" and dists.higher_is_better is False
    sr, gt = torch.rand(2, 3, 20, 24), torch.rand(2, 3, 20, 24)
    values = dists(sr, gt)
    assert seen["shape"] == (2, 3, 16, 20) and values.shape == (2,)
    saved = sr.mul(255).round().div(255)  # the 8-bit output, as eval scores it
    torch.testing.assert_close(values, (saved - gt)[..., 2:-2, 2:-2].abs().mean(dim=(1, 2, 3)))


def test_eval_reports_pyiqa_metrics_beside_psnr(monkeypatch, tmp_path, capsys):
    import json

    import numpy as np

    from upres.cli import main
    from upres.io.images import write_image

    class Fake(torch.nn.Module):
        lower_better = False

        def forward(self, sr, gt):
            return 1 - (sr - gt).abs().mean(dim=(1, 2, 3))

    names = []

    def create_metric(name, device, as_loss):
        names.append(name)
        return Fake()

    monkeypatch.setitem(sys.modules, "pyiqa", types.SimpleNamespace(create_metric=create_metric))
    write_image(
        tmp_path / "gt" / "a.png", np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    )
    assert (
        main(["eval", "--bicubic", str(tmp_path / "gt"), "-s", "2", "--json", "--metrics", "topiq,dists"])
        == 0
    )
    (res,) = json.loads(capsys.readouterr().out)["results"]
    assert names == ["topiq_fr", "dists"] and list(res["metrics"]) == ["topiq", "dists"]
    assert 0 < res["metrics"]["topiq"] == res["metrics"]["dists"] < 1
    monkeypatch.setitem(sys.modules, "pyiqa", None)
    assert main(["eval", "--bicubic", str(tmp_path / "gt"), "-s", "2", "--metrics", "dists"]) != 0
    assert "--metrics dists: dists needs pyiqa and its weights: pip install pyiqa" in capsys.readouterr().err


def test_real_pyiqa_never_downloads_and_names_the_missing_file(monkeypatch, tmp_path):
    import pytest

    pytest.importorskip("pyiqa", reason="the metrics extra")
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    notes: list[str] = []
    build_metrics(_val("calculate_dists"), "cpu", notes)
    vgg = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert notes == [
        f"val.metrics.m (calculate_dists) skipped: dists needs {vgg}: "
        "download https://download.pytorch.org/models/vgg16-397923af.pth to that path"
    ]
    assert not vgg.exists()  # no partial file left behind either


def test_downloads_through_torch_hub_or_pyiqa_are_refused_and_named(monkeypatch, tmp_path, capsys):
    """The same with a stand-in pyiqa (the real one is in the metrics extra only): both download routes it uses."""
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    original = torch.hub.download_url_to_file
    download_util = types.ModuleType("pyiqa.utils.download_util")
    download_util.download_url_to_file = original  # pyiqa imports it under its own name

    def create_metric(name, device, as_loss):
        if name == "topiq_fr":  # pyiqa's own weights: its load_file_from_url
            url = "https://example.invalid/cfanet_fr.pth"
            print(f'Downloading: "{url}"')
            download_util.download_url_to_file(url, str(tmp_path / "hub" / "pyiqa" / "cfanet_fr.pth"))
        torch.hub.load_state_dict_from_url("https://download.pytorch.org/models/vgg16-397923af.pth")

    pyiqa = types.ModuleType("pyiqa")
    pyiqa.create_metric = create_metric
    pyiqa.utils = types.ModuleType("pyiqa.utils")
    pyiqa.utils.download_util = download_util
    for name, module in [
        ("pyiqa", pyiqa),
        ("pyiqa.utils", pyiqa.utils),
        ("pyiqa.utils.download_util", download_util),
    ]:
        monkeypatch.setitem(sys.modules, name, module)
    notes: list[str] = []
    build_metrics(_val("calculate_dists"), "cpu", notes)
    build_metrics(_val("calculate_topiq"), "cpu", notes)
    assert notes == [
        f"val.metrics.m (calculate_dists) skipped: dists needs {tmp_path / 'hub' / 'checkpoints' / 'vgg16-397923af.pth'}: "
        "download https://download.pytorch.org/models/vgg16-397923af.pth to that path",
        f"val.metrics.m (calculate_topiq) skipped: topiq_fr needs {tmp_path / 'hub' / 'pyiqa' / 'cfanet_fr.pth'}: "
        "download https://example.invalid/cfanet_fr.pth to that path",
    ]
    assert "Downloading" not in capsys.readouterr().out
    assert download_util.download_url_to_file is original and torch.hub.download_url_to_file is original
