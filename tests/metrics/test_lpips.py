"""LPIPS equals the lpips package's on the same (random) AlexNet; unavailable weights give a start-up note."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def random_alexnet(tmp_path, monkeypatch):
    torchvision = pytest.importorskip("torchvision")
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet().state_dict(), hub / "checkpoints" / "alexnet-owt-7be5be79.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub / "checkpoints" / "alexnet-owt-7be5be79.pth"


def test_lpips_matches_the_reference_package(random_alexnet):
    lpips_pkg = pytest.importorskip("lpips", reason="the lpips package is the reference (metrics extra)")
    from upres.metrics.lpips import LPIPS

    ours = LPIPS(random_alexnet)
    ref = lpips_pkg.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    ref.net.load_state_dict(_slices_from_alexnet(random_alexnet, ref.net))
    a, b = torch.rand(2, 3, 48, 40), torch.rand(2, 3, 48, 40)
    expected = ref(a, b, normalize=True).flatten()
    torch.testing.assert_close(ours(a, b), expected, atol=1e-5, rtol=1e-5)
    assert torch.allclose(ours(a, a), torch.zeros(2), atol=1e-7)


def _slices_from_alexnet(path, net):
    # lpips splits AlexNet.features into slice1..slice5 keeping the original indices as module names.
    state = torch.load(path, weights_only=True)
    out = {}
    for key in net.state_dict():
        _, idx, kind = key.split(".")
        out[key] = state[f"features.{idx}.{kind}"]
    return out


def test_missing_weights_are_a_startup_note_not_a_crash(tmp_path, monkeypatch):
    from upres.train.compat import translate

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    data = {
        "val": {"val_enabled": True, "metrics": {"lpips": {"type": "calculate_lpips", "better": "lower"}}}
    }
    out, notes = translate(data)
    assert "lpips" not in out["val"]["metrics"]
    assert any("val.metrics.lpips (calculate_lpips) skipped: LPIPS needs" in n for n in notes)
