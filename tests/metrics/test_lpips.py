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
    state = {k: v for k, v in torchvision.models.alexnet().state_dict().items() if k.startswith("features.")}
    torch.save(state, hub / "checkpoints" / "alexnet-owt-7be5be79.pth")  # LPIPS reads only the conv stages
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


def test_eval_reports_lpips_on_the_saved_outputs(random_alexnet, tmp_path, capsys):
    import json

    import numpy as np

    from upres.cli import main
    from upres.data.resize import imresize
    from upres.io.images import write_image
    from upres.metrics import lpips as lpips_module
    from upres.metrics.evaluate import bicubic_lr, ground_truth

    lpips_module._shared.cache_clear()
    rng = np.random.default_rng(0)
    gt_dir = tmp_path / "gt"
    for i in range(2):
        write_image(
            gt_dir / f"{i}.png",
            np.clip(imresize(rng.integers(0, 256, (12, 10, 3)).astype(float), 4), 0, 255).astype(np.uint8),
        )
    # On the CPU, like the hand computation below: TF32 convolutions on a GPU move LPIPS by more than 1e-6.
    argv = ["eval", "--bicubic", str(gt_dir), "-s", "4", "--json", "--metrics", "lpips", "--device", "cpu"]
    assert main(argv) == 0
    (res,) = json.loads(capsys.readouterr().out)["results"]
    net = lpips_module.LPIPS(random_alexnet)
    by_hand = []
    for i in range(2):
        gt = ground_truth(gt_dir / f"{i}.png", 4)
        sr = imresize(bicubic_lr(gt, 4), 4).clamp(0, 1).mul(255).round().div(255)
        by_hand.append(float(net(sr[..., 4:-4, 4:-4], gt[..., 4:-4, 4:-4])))
        assert res["per_image"][i]["metrics"]["lpips"] == pytest.approx(by_hand[-1], abs=1e-6)
    assert (
        res["metrics"]["lpips"] == pytest.approx(sum(by_hand) / 2, abs=1e-6) and res["metrics"]["lpips"] > 0
    )
    assert main(["eval", "--bicubic", str(gt_dir), "-s", "4", "--metrics", "lpips"]) == 0
    assert "LPIPS (lower better)" in capsys.readouterr().out


def test_eval_metric_errors_name_the_fix(tmp_path, monkeypatch, capsys):
    from upres.cli import main

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    assert main(["eval", "--bicubic", str(tmp_path), "-s", "4", "--metrics", "lpips"]) != 0
    assert "--metrics lpips: LPIPS needs torchvision's ImageNet AlexNet at" in capsys.readouterr().err
    assert main(["eval", "--bicubic", str(tmp_path), "-s", "4", "--metrics", "niqe"]) != 0
    assert "--metrics 'niqe' is not available; choose from lpips, dists, topiq" in capsys.readouterr().err


def test_upres_test_scores_lpips_as_eval_does(random_alexnet, tmp_path, capsys):
    """Validation and `upres test` gave LPIPS the raw float output, eval the 8-bit image it writes: the same model on
    the same images had two LPIPS figures. Both now score the 8-bit output."""
    import json

    import numpy as np
    import yaml

    from upres.archs import build_network
    from upres.cli import main
    from upres.data.resize import imresize
    from upres.io.images import write_image
    from upres.io.model_files import save_model
    from upres.metrics import lpips as lpips_module

    lpips_module._shared.cache_clear()
    rng = np.random.default_rng(0)
    gt_dir = tmp_path / "gt"
    for i in range(2):
        smooth = imresize(rng.integers(0, 256, (12, 10, 3)).astype(float), 4)
        write_image(gt_dir / f"{i}.png", np.clip(smooth, 0, 255).astype(np.uint8))
    torch.manual_seed(1)
    net, info = build_network("compact", scale=4, num_feat=8, num_conv=2)
    model = save_model(tmp_path / "m.safetensors", net, info)
    argv = [
        "eval",
        "-m",
        str(model),
        str(gt_dir),
        "-s",
        "4",
        "--json",
        "--metrics",
        "lpips",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    (evaluated,) = json.loads(capsys.readouterr().out)["results"]
    options = {
        "name": "t",
        "scale": 4,
        "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(gt_dir)}},
        "network_g": {"type": "compact"},
        "val": {"metrics": {"lpips": {"type": "calculate_lpips", "crop_border": 4}}},
    }
    (tmp_path / "t.yml").write_text(yaml.safe_dump(options))
    test_argv = ["test", "-c", str(tmp_path / "t.yml"), "--model", str(model), "--no-images", "--json"]
    assert main([*test_argv, "--device", "cpu"]) == 0
    tested = json.loads(capsys.readouterr().out)["results"]["val"]
    assert tested["lpips"] == pytest.approx(evaluated["metrics"]["lpips"], abs=1e-7)
