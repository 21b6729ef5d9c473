import sys

import pytest
import torch
from torch import nn

from upres.archs.discriminators import DISCRIMINATORS, build_discriminator
from upres.errors import ConfigError
from upres.losses.gan import GANLoss
from upres.train.gan_step import d_forward, discriminator_step, generator_adversarial_loss, generator_backward

# Small widths keep CPU tests fast; the architecture (and spectral norm placement) is the same at 64.
SMALL = {
    "vggstylediscriminator": {"num_feat": 8, "norm": "group"},
    "patchgandiscriminatorsn": {"num_feat": 8},
    "multiscalepatchgandiscriminatorsn": {"num_feat": 8, "num_d": 2, "num_layers": 2},
    "unetdiscriminatorsn": {"num_feat": 8},
    "dunet": {"num_feat": 8},
}


def _shapes(out):
    return [tuple(o.shape) for o in out] if isinstance(out, list) else tuple(out.shape)


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        ("vggstylediscriminator", 128, (2, 1)),
        ("vggstylediscriminator", 96, (2, 1)),
        ("patchgandiscriminatorsn", 64, (2, 1, 6, 6)),
        ("multiscalepatchgandiscriminatorsn", 64, [(2, 1, 14, 14), (2, 1, 6, 6)]),
        ("unetdiscriminatorsn", 64, (2, 1, 64, 64)),
        ("dunet", 64, (2, 1, 64, 64)),
    ],
)
def test_output_shapes(name, size, expected):
    d = build_discriminator(name, **SMALL[name])
    with torch.no_grad():
        assert _shapes(d(torch.rand(2, 3, size, size))) == expected


def _sn_convs(module: nn.Module) -> tuple[int, int]:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return sum(hasattr(m, "weight_orig") for m in convs), len(convs)


def test_spectral_norm_where_named():
    for name in ("patchgandiscriminatorsn", "multiscalepatchgandiscriminatorsn"):
        sn, total = _sn_convs(build_discriminator(name, **SMALL[name]))
        assert sn == total > 0
    # U-Net SN: every conv but the first and the last (Real-ESRGAN's layout)
    assert _sn_convs(build_discriminator("unetdiscriminatorsn")) == (8, 10)
    assert _sn_convs(build_discriminator("dunet")) == (8, 10)
    assert _sn_convs(build_discriminator("vggstylediscriminator"))[0] == 0


def test_unet_key_names_are_real_esrgans():
    keys = set(build_discriminator("unetdiscriminatorsn").state_dict())
    expected = {"conv0.weight", "conv0.bias", "conv9.weight", "conv9.bias"}
    for i in range(1, 9):
        expected |= {f"conv{i}.weight_orig", f"conv{i}.weight_u", f"conv{i}.weight_v"}
    assert keys == expected


@pytest.fixture
def basicsr_archs():
    import torchvision.transforms.functional as tvf

    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    return pytest.importorskip("basicsr.archs.discriminator_arch")


def test_basicsr_discriminators_load_unchanged(basicsr_archs):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 128, 128)
    ref = basicsr_archs.VGGStyleDiscriminator(3, 16).eval()
    ours = build_discriminator("vggstylediscriminator", num_feat=16, norm="batch").eval()
    ours.load_state_dict(ref.state_dict())
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), atol=1e-5)
    ref = basicsr_archs.UNetDiscriminatorSN(3, 16).eval()
    ours = build_discriminator("unetdiscriminatorsn", num_feat=16).eval()
    ours.load_state_dict(ref.state_dict())
    with torch.no_grad():
        assert torch.allclose(ours(x[:, :, :64, :64]), ref(x[:, :, :64, :64]), atol=1e-5)


def test_vgg_norm_variants_and_errors():
    g = build_discriminator("vggstylediscriminator", num_feat=16, norm="group")
    assert isinstance(g.bn1_0, nn.GroupNorm) and g.bn1_0.num_groups == 8
    none = build_discriminator("vggstylediscriminator", num_feat=16, norm="none")
    assert isinstance(none.bn1_0, nn.Identity) and none.conv1_0.bias is not None
    with pytest.raises(ConfigError, match="network_d.norm: 'instance' is not one of batch, group, none"):
        build_discriminator("vggstylediscriminator", norm="instance")
    with pytest.raises(ValueError, match="multiples of 32"):
        g(torch.rand(1, 3, 48, 48))


def test_unknown_discriminator():
    with pytest.raises(
        ConfigError, match=r"network_d type 'unetdiscriminator' is not implemented \(did you mean"
    ):
        build_discriminator("unetdiscriminator")
    with pytest.raises(ConfigError, match=r"network_d \(dunet\):.*num_blocks"):
        build_discriminator("dunet", num_blocks=3)


class TinyG(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, 1, 1)

    def forward(self, x):
        return nn.functional.pixel_shuffle(self.conv(x), 2)


@pytest.mark.parametrize("name", list(DISCRIMINATORS))
def test_one_g_and_d_step_without_nan(name):
    torch.manual_seed(0)
    g, d = TinyG(), build_discriminator(name, **SMALL[name])
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    lq, gt = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
    gan = GANLoss("vanilla")
    g_before = [p.detach().clone() for p in g.parameters()]
    d_before = [p.detach().clone() for p in d.parameters()]
    sr = g(lq)
    outs = d_forward(d, sr, gt, noise=1 / 255)
    generator_backward(nn.functional.l1_loss(sr, gt) + 0.1 * generator_adversarial_loss(gan, outs), g)
    opt_g.step()
    logs = discriminator_step(d, opt_d, gan, outs)
    assert all(torch.isfinite(v) for v in logs.values())
    assert all(torch.isfinite(p).all() for p in [*g.parameters(), *d.parameters()])
    assert any(not torch.equal(a, b) for a, b in zip(g_before, g.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, d.parameters(), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DISCRIMINATORS))
def test_d_loss_falls_on_separable_problem(name):
    """Real = bright textured patches, fake = dark flat ones: D must learn to tell them apart."""
    torch.manual_seed(1)
    d = build_discriminator(name, **SMALL[name])
    opt = torch.optim.Adam(d.parameters(), 2e-3)
    gan = GANLoss("vanilla")
    real = (0.7 + 0.2 * torch.rand(2, 3, 32, 32)).clamp(0, 1)
    fake = torch.full((2, 3, 32, 32), 0.3)
    losses = []
    for _ in range(20):
        logs = discriminator_step(d, opt, gan, sr=fake, gt=real)
        losses.append(float(logs["l_d_real"] + logs["l_d_fake"]))
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0], losses


def test_load_real_esrgan_layout_d(tmp_path):
    from upres.archs.discriminators import load_discriminator
    from upres.errors import ModelFileError

    src = build_discriminator("unetdiscriminatorsn", num_feat=8)
    path = tmp_path / "netD.pth"
    torch.save({"params": src.state_dict()}, path)
    dst = build_discriminator("unetdiscriminatorsn", num_feat=8)
    load_discriminator(dst, path)
    assert all(
        torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values(), strict=True)
    )
    with pytest.raises(ModelFileError, match="does not fit network_d: missing"):
        load_discriminator(build_discriminator("dunet", num_feat=8), path)
