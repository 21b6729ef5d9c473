"""A pretrain that does not fit network_g: the refusal names the option-file settings of the file's architecture
(a strict refusal advised only strict_load_g: false, and for a file of another architecture that loads nothing),
and following that advice loads the whole file."""

from __future__ import annotations

import re

import pytest
import torch
import yaml
from train_helpers import base_options, merge, write

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import save_model

CASES = {
    "native 2x ESRGAN into an unshuffling 2x": (
        ("esrgan", {"scale": 2, "num_feat": 8, "num_block": 1, "use_pixel_unshuffle": False}),
        {"type": "esrgan", "num_feat": 8, "num_block": 1},
        ["network_g.use_pixel_unshuffle: false"],
    ),
    "fewer blocks": (
        ("esrgan", {"scale": 2, "num_feat": 8, "num_block": 1}),
        {"type": "esrgan", "num_feat": 8, "num_block": 2},
        ["network_g.num_block: 1"],
    ),
    "PReLU Compact into a ReLU one": (
        ("compact", {"scale": 2, "num_feat": 8, "num_conv": 2}),
        {"type": "compact", "num_feat": 8, "num_conv": 2, "act_type": "relu"},
        ['network_g.act_type: "prelu"'],
    ),
    "4x ESRGAN into a 2x Compact": (
        ("esrgan", {"scale": 4, "num_feat": 8, "num_block": 1}),
        {"type": "compact", "num_feat": 8, "num_conv": 2},
        ["network_g.type: esrgan", "network_g.num_feat: 8", "network_g.num_block: 1", "scale: 4"],
    ),
}


def _apply(opts: dict, settings: list[str]) -> dict:
    opts = merge(opts, {})
    for setting in settings:
        key, _, value = setting.partition(": ")
        if key == "network_g.type":
            opts["network_g"] = {}  # another architecture: its own block
        if key.startswith("network_g."):
            opts["network_g"][key.removeprefix("network_g.")] = yaml.safe_load(value)
        else:
            opts[key] = yaml.safe_load(value)
    return opts


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("case", list(CASES))
def test_the_refusal_names_the_settings_that_load_the_whole_file(tmp_path, hr_folder, capsys, case, strict):
    (family, kwargs), network_g, expected = CASES[case]
    net, info = build_network(family, **kwargs)
    pretrain = save_model(tmp_path / "pre.pth", net, info)
    opts = merge(
        base_options(hr_folder, tmp_path / "exp", total_iter=1),
        {"path": {"pretrain_network_g": str(pretrain), "strict_load_g": strict}},
    )
    opts["network_g"] = network_g
    code = main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"])
    err = capsys.readouterr().err.strip()
    other = expected[0].startswith("network_g.type")
    if not strict and not other:
        assert code == 0, err  # loads what fits, as before
        return
    assert code == 2 and err.count("\n") == 0, err
    advice = re.search(
        r"(?:to load it whole, set|to fine-tune it set) (.*?)(?: \(the file's\);|, or start)", err
    )
    assert advice is not None, err
    settings = advice.group(1).split(", ")
    assert sorted(settings) == sorted(expected)
    if other:
        assert "strict_load_g" not in err  # nothing of the file fits: loading "what fits" loads nothing
        assert err.endswith(
            f"and network_g a compact; to fine-tune it set {advice.group(1)}, or start from a compact pretrain"
        )
    else:
        assert err.endswith(
            "to load what fits, set strict_load_g: false (e.g. a 2x pretrain into a 4x model)"
        )
    fixed = _apply(merge(opts, {"path": {"strict_load_g": True}}), settings)
    assert main(["train", "-c", str(write(tmp_path / "fixed.yml", fixed)), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"pretrain {pretrain}: {len(net.state_dict())} tensors loaded\n" in out


def test_strict_refusal_of_an_unrecognised_file_still_advises_strict_load(tmp_path, hr_folder, capsys):
    net, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    state = {f"extra.{k}": v for k, v in net.state_dict().items()} | net.state_dict()
    torch.save({"params": state}, tmp_path / "pre.pth")
    opts = merge(
        base_options(hr_folder, tmp_path / "exp", total_iter=1),
        {"path": {"pretrain_network_g": str(tmp_path / "pre.pth")}},
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "load it whole" not in err
    assert err.strip().endswith(
        "; set strict_load_g: false to load what fits (e.g. a 2x pretrain into a 4x model)"
    )


def test_a_relu_compact_without_a_header_is_named_as_one(tmp_path, hr_folder, capsys):
    """A .pth of a ReLU Compact cannot say which activation it has (no header, no PReLU weights): the refusal said
    only strict_load_g: false, which leaves a PReLU network_g's activations untrained."""
    net, _ = build_network("compact", scale=2, num_feat=8, num_conv=2, act_type="relu")
    pretrain = tmp_path / "relu.pth"
    torch.save({"params": net.state_dict()}, pretrain)
    opts = merge(
        base_options(hr_folder, tmp_path / "exp", total_iter=1),
        {"path": {"pretrain_network_g": str(pretrain)}},
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "to load it whole, set network_g.act_type: relu or leakyrelu, whichever it was trained with (it has no PReLU "
            "weights); to load what fits, set strict_load_g: false (e.g. a 2x pretrain into a 4x model)"
        )
    )
    opts["network_g"]["act_type"] = "relu"
    assert main(["train", "-c", str(write(tmp_path / "relu.yml", opts)), "--dry-run"]) == 0
    assert f"pretrain {pretrain}: {len(net.state_dict())} tensors loaded\n" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["unknown keys", "SPAN"])
def test_a_strict_refusal_of_a_file_of_which_nothing_fits_does_not_advise_loading_what_fits(
    tmp_path, hr_folder, capsys, kind
):
    """strict_load_g: false loads what fits, and of these nothing fits: following that advice met a second refusal."""
    pretrain = tmp_path / "pre.pth"
    if kind == "SPAN":
        pytest.importorskip("spandrel")
        from spandrel.architectures.SPAN import SPAN

        state = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2).state_dict()
    else:
        state = {"foo.weight": torch.zeros(3, 3)}
    torch.save({"params": state}, pretrain)
    opts = merge(
        base_options(hr_folder, tmp_path / "exp", total_iter=1),
        {"path": {"pretrain_network_g": str(pretrain)}},
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: path.pretrain_network_g {pretrain}: none of its tensors fit network_g")
    assert "strict_load_g" not in err
    if kind == "SPAN":
        assert err.endswith(": it is a SPAN model (spandrel recognises it), an architecture upres does not implement; "
                            "upres reads ESRGAN/RRDBNet and SRVGGNetCompact files (chaiNNer runs this one)")  # fmt: skip
