"""path.pretrain_network_d naming a training state: the message points at the discriminator saved with it."""

import pytest
import torch

from upres.archs.discriminators import build_discriminator, load_discriminator
from upres.errors import ModelFileError


def test_a_training_state_as_pretrain_network_d_names_the_discriminator_beside_it(tmp_path):
    """It said 'its generator is models/net_g_ema_4.pth': a generator file, which does not fit network_d."""
    (tmp_path / "training_states").mkdir()
    (tmp_path / "models").mkdir()
    state = tmp_path / "training_states" / "4.state"
    torch.save({"iteration": 4}, state)
    for name in ("net_g_ema_4.pth", "net_g_4.pth", "net_d_4.pth"):
        (tmp_path / "models" / name).write_bytes(b"")
    net_d = build_discriminator("unetdiscriminatorsn", num_feat=8)
    with pytest.raises(ModelFileError) as exc:
        load_discriminator(net_d, state)
    assert str(exc.value) == (
        f"path.pretrain_network_d {state}: a training state, not a model file: continue that run with `upres train "
        f"-c OPTIONS --resume {state}`, or give its discriminator {tmp_path / 'models' / 'net_d_4.pth'}"
    )
    (tmp_path / "models" / "net_d_4.pth").unlink()
    with pytest.raises(
        ModelFileError, match=r"--resume .*4\.state`, or give a net_d_\*\.safetensors/\.pth file$"
    ):
        load_discriminator(net_d, state)
