"""A misspelt key in network_g / network_d is named with the closest key and the list, not Python's
"__init__() got an unexpected keyword argument"."""

import numpy as np
import pytest
import yaml
from PIL import Image

from upres.archs import build_network_for
from upres.archs.discriminators import build_discriminator
from upres.cli import main
from upres.errors import ConfigError


def test_network_d_misspelt_key_names_the_closest_and_the_known_keys():
    with pytest.raises(ConfigError) as info:
        build_discriminator("vggstylediscriminator", num_fet=8)
    assert str(info.value) == (
        "network_d (vggstylediscriminator): unknown key 'num_fet' (did you mean 'num_feat'?); "
        "known: num_in_ch, num_feat, input_size, norm"
    )


def test_network_d_key_of_another_discriminator_lists_this_one_s_keys():
    with pytest.raises(ConfigError) as info:
        build_discriminator("patchgandiscriminatorsn", num_feat=8, norm="batch")
    assert str(info.value) == (
        "network_d (patchgandiscriminatorsn): unknown key 'norm'; known: num_in_ch, num_feat, num_layers, use_sigmoid"
    )


def test_network_g_misspelt_key_names_the_closest():
    with pytest.raises(ConfigError) as info:
        build_network_for("compact", {"num_fet": 8}, 2)
    assert str(info.value).startswith(
        "network_g (compact): unknown key 'num_fet' (did you mean 'num_feat'?); known: num_in_ch, num_out_ch, num_feat"
    )


def test_train_dry_run_says_it_in_one_line(tmp_path, capsys):
    (tmp_path / "hr").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "hr" / "a.png")
    options = {
        "name": "n",
        "scale": 2,
        "datasets": {
            "train": {
                "type": "pairedimagedataset",
                "dataroot_gt": str(tmp_path / "hr"),
                "lq_size": 16,
                "batch_size_per_gpu": 1,
            }
        },
        "network_g": {"type": "compact", "num_feat": 8},
        "network_d": {"type": "unetdiscriminatorsn", "num_feat": 8, "skip_conection": True},
        "path": {"experiments_root": str(tmp_path / "exp")},
        "train": {"losses": [{"type": "ganloss"}]},
    }
    cfg = tmp_path / "o.yml"
    cfg.write_text(yaml.safe_dump(options))
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: network_d (unetdiscriminatorsn): unknown key 'skip_conection' (did you mean 'skip_connection'?); "
        "known: num_in_ch, num_feat, skip_connection"
    )
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("value", ["false", "yes", 0])
def test_network_d_switch_given_as_text_or_number_is_refused(value):
    """skip_connection: 'false' (quoted) built the skip connections: the text was taken by its truth value."""
    with pytest.raises(ConfigError) as info:
        build_discriminator("unetdiscriminatorsn", num_feat=8, skip_connection=value)
    assert str(info.value) == f"network_d.skip_connection: true or false, not {value!r}"
