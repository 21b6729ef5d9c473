"""Each discriminator states the smallest GT crop it can judge; a smaller crop is a config error before training."""

from __future__ import annotations

import pytest
import torch

from upres.archs.discriminators import DISCRIMINATORS, build_discriminator

# Hyperparameters that change what a discriminator can see; every registered type is covered with its defaults.
VARIANTS = {
    "vggstylediscriminator": [{"input_size": 128}, {"input_size": 256}],
    "patchgandiscriminatorsn": [{"num_layers": n} for n in (1, 2, 3, 4)],
    "multiscalepatchgandiscriminatorsn": [{"num_layers": n, "num_d": d} for n in (1, 3) for d in (1, 2, 3)],
}


def _cases():
    for name in DISCRIMINATORS:
        for kw in VARIANTS.get(name, [{}]):
            yield pytest.param(
                name, kw, id=f"{name}-{'-'.join(f'{k}{v}' for k, v in kw.items()) or 'default'}"
            )


@pytest.mark.parametrize("name, kw", list(_cases()))
def test_the_stated_smallest_crop_is_exactly_the_smallest_that_runs(name, kw):
    net = build_discriminator(name, num_feat=8, **kw)
    smallest, multiple = net.input_requirement()
    with torch.no_grad():
        for side in (smallest, smallest + multiple, smallest + 3 * multiple):
            out = net(torch.rand(2, 3, side, side))
            assert all(o.numel() >= 2 for o in (out if isinstance(out, list) else [out]))
        if smallest > 1:
            with pytest.raises((RuntimeError, ValueError)):
                net(torch.rand(2, 3, smallest - 1, smallest - 1))
        if multiple > 1:
            with pytest.raises(ValueError, match=f"multiples of {multiple}"):
                net(torch.rand(2, 3, smallest + multiple // 2, smallest + multiple // 2))
