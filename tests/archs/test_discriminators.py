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
    """(spectral-norm 3x3/4x4 convs, all such convs); 1x1 convs (DySample's offset heads) are not counted."""
    from torch.nn.utils import parametrize

    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    sn = sum(hasattr(m, "weight_orig") or parametrize.is_parametrized(m, "weight") for m in convs)
    return sn, len(convs)


def test_spectral_norm_where_named():
    for name in ("patchgandiscriminatorsn", "multiscalepatchgandiscriminatorsn"):
        sn, total = _sn_convs(build_discriminator(name, **SMALL[name]))
        assert sn == total > 0
    # U-Net SN: every conv but the first and the last (Real-ESRGAN's layout)
    assert _sn_convs(build_discriminator("unetdiscriminatorsn")) == (8, 10)
    # DUnet: every conv but the input one and the logits (traiNNer-redux's layout)
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
    with pytest.raises(
        ModelFileError, match="does not fit network_d: 0 tensors loaded, 0 of another shape, 46 missing"
    ):
        load_discriminator(build_discriminator("dunet", num_feat=8), path)


def _redux_dunet(num_feat: int) -> nn.Module:
    """traiNNer-redux's DUnet as its source describes it, from spandrel's DySample (the one redux imports) and
    torch's parametrized spectral norm: the reference our `dunet` must load and reproduce."""
    from spandrel.architectures.__arch_helpers.dysample import DySample
    from torch.nn.utils.parametrizations import spectral_norm as sn

    def down(c):
        return nn.Sequential(sn(nn.Conv2d(c, 2 * c, 3, 2, 1)), nn.Mish(True))

    def up(c):
        return nn.Sequential(DySample(c, c, 2, 4, False), sn(nn.Conv2d(c, c // 2, 3, 1, 1)))

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            f = num_feat
            self.in_to_dim = nn.Conv2d(3, f, 3, 1, 1)
            self.e_x1, self.e_x2, self.e_x3 = down(f), down(2 * f), down(4 * f)
            self.up1, self.up2, self.up3 = up(8 * f), up(4 * f), up(2 * f)
            self.end_conv = nn.Sequential(
                sn(nn.Conv2d(f, f, 3, 1, 1, bias=False)), nn.Mish(True),
                sn(nn.Conv2d(f, f, 3, 1, 1, bias=False)), nn.Mish(True), nn.Conv2d(f, 1, 3, 1, 1),
            )  # fmt: skip

        def forward(self, x):
            x0 = self.in_to_dim(x)
            x1 = self.e_x1(x0)
            x2 = self.e_x2(x1)
            y = self.up1(self.e_x3(x2)) + x2
            return self.end_conv(self.up3(self.up2(y) + x1) + x0)

    return Reference()


def test_trainner_redux_dunet_checkpoint_loads_strictly_and_gives_the_same_logits(tmp_path):
    from safetensors.torch import save_file

    from upres.archs.discriminators import load_discriminator

    torch.manual_seed(0)
    ref = _redux_dunet(8)
    with torch.no_grad():  # non-zero scope weights, so the content-dependent offsets matter
        for name, p in ref.named_parameters():
            if "scope" in name:
                p.normal_(0, 0.3)
    ref(torch.rand(2, 3, 32, 32))  # a training-mode pass: spectral norm's power iteration moves u and v
    path = tmp_path / "net_d_1000.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    ours = build_discriminator("dunet", num_feat=8)
    load_discriminator(ours, path)  # strict: every key and shape matches
    ref.eval(), ours.eval()
    x = torch.rand(2, 3, 48, 40)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)
    # Training mode: the same power-iteration update, so the same logits and the same u afterwards.
    ref.train(), ours.train()
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)
    for (k, a), b in zip(ref.state_dict().items(), ours.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=k)


def test_dunet_under_bf16_autocast_stays_close_to_fp32():
    torch.manual_seed(0)
    d = build_discriminator("dunet", num_feat=8).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        full = d(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = d(x)
    assert half.dtype == torch.bfloat16
    assert float((half.float() - full).abs().max()) < 0.05 * float(full.abs().max()) + 1e-3


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("unetdiscriminatorsn", {"num_feat": 8}),
        ("dunet", {"num_feat": 8}),
        ("vggstylediscriminator", {"num_feat": 8, "input_size": 256}),
        ("patchgandiscriminatorsn", {"num_feat": 8}),
    ],
)
def test_info_on_a_discriminator_file_says_what_it_is(tmp_path, capsys, name, kw):
    from upres.cli import main

    path = tmp_path / "net_d_1000.pth"
    torch.save({"params": build_discriminator(name, **kw).state_dict()}, path)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"a discriminator ({name}, num_feat 8), not an upscaling model" in err
    assert "path.pretrain_network_d" in err


@pytest.mark.parametrize("name", ["unetdiscriminatorsn", "dunet"])
def test_either_spectral_norm_naming_loads(tmp_path, name):
    """torch's old spectral_norm (weight_orig/_u/_v) and its parametrization form hold the same tensors."""
    from upres.archs.discriminators import load_discriminator

    torch.manual_seed(0)
    src = build_discriminator(name, num_feat=8)
    src(torch.rand(1, 3, 32, 32))  # move u and v off their initial values
    renames = [(".weight_orig", ".parametrizations.weight.original"), (".weight_u", ".parametrizations.weight.0._u"),
               (".weight_v", ".parametrizations.weight.0._v")]  # fmt: skip
    flipped = {}
    for key, value in src.state_dict().items():
        for a, b in renames:
            if key.endswith(a) or key.endswith(b):
                key = key.replace(a, b) if key.endswith(a) else key.replace(b, a)
                break
        flipped[key] = value
    assert set(flipped) != set(src.state_dict())
    path = tmp_path / "d.pth"
    torch.save({"params": flipped}, path)
    dst = build_discriminator(name, num_feat=8)
    load_discriminator(dst, path)
    src.eval(), dst.eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x))


def test_dunet_odd_width_is_a_config_error():
    with pytest.raises(ConfigError, match=r"network_d \(dunet\): num_feat must be even .* not 7"):
        build_discriminator("dunet", num_feat=7)


def test_non_strict_d_pretrain_loads_what_fits_and_refuses_nothing_fitting(tmp_path):
    from upres.archs.discriminators import load_discriminator
    from upres.errors import ModelFileError

    src = build_discriminator("unetdiscriminatorsn", num_feat=8)
    path = tmp_path / "d.pth"
    torch.save({"params": src.state_dict()}, path)
    wider = build_discriminator("unetdiscriminatorsn", num_feat=16)
    with pytest.raises(ModelFileError, match="set strict_load_d: false"):
        load_discriminator(wider, path)
    report = load_discriminator(
        wider, path, strict=False
    )  # only the 1-channel logits bias has the same shape
    assert report.startswith("1 tensors loaded, ") and "of another shape" in report
    torch.testing.assert_close(wider.conv9.bias, src.conv9.bias)
    with pytest.raises(ModelFileError, match="does not fit network_d: 0 tensors loaded"):
        load_discriminator(build_discriminator("dunet", num_feat=8), path, strict=False)


@pytest.mark.parametrize("name", ["unetdiscriminatorsn", "vggstylediscriminator", "patchgandiscriminatorsn"])
@pytest.mark.parametrize("value", [0, -8, "8", True])
def test_a_width_that_is_not_a_positive_integer_is_one_config_error(name, value):
    """0 and -8 ended in torch's reshape/convolution errors; '8' in a string-formatting message."""
    with pytest.raises(
        ConfigError, match=rf"^network_d.num_feat: must be a positive integer, got {value!r}$"
    ):
        build_discriminator(name, num_feat=value)


def _grids():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 7, 9, dtype=torch.float64, requires_grad=True)
    # Beyond [-1, 1] too, where border padding repeats the edge pixels.
    grid = (torch.rand(3, 5, 6, 2, dtype=torch.float64) * 2.6 - 1.3).requires_grad_()
    return x, grid


def test_the_gather_sampler_equals_grid_sample_to_the_second_derivative():
    """DySample's sampler for PyTorch without grid_sample's double backward: the same values, gradients and
    gradients of gradients (what a gradient penalty through the discriminator needs) as F.grid_sample, in float64."""
    import torch.nn.functional as F

    from upres.archs.discriminators.dunet import bilinear_sample_border, grid_sample_differentiates_twice

    if not grid_sample_differentiates_twice():
        pytest.skip("this PyTorch lacks grid_sample's double backward, the reference of this comparison")
    kw = {"mode": "bilinear", "align_corners": False, "padding_mode": "border"}
    x, grid = _grids()
    ours, ref = bilinear_sample_border(x, grid, **kw), F.grid_sample(x, grid, **kw)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    weights = torch.randn_like(ref)
    first = [torch.autograd.grad((y * weights).sum(), (x, grid), create_graph=True) for y in (ours, ref)]
    for a, b in zip(*first, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)
    second = [torch.autograd.grad(dx.square().sum() + dg.square().sum(), (x, grid)) for dx, dg in first]
    for a, b in zip(*second, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_the_probe_tells_a_grid_sample_without_double_backward(monkeypatch):
    """PyTorch 2.11 and earlier fail a gradient penalty through DUNet ("derivative for aten::grid_sampler_2d_backward
    is not implemented"); such a grid_sample (here one marked once-differentiable) is detected."""
    import torch.nn.functional as F
    from torch.autograd.function import once_differentiable

    from upres.archs.discriminators import dunet

    real = F.grid_sample

    class OnceOnly(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, grid):
            ctx.save_for_backward(x, grid)
            return real(x, grid, align_corners=False)

        @staticmethod
        @once_differentiable
        def backward(ctx, grad):
            x, grid = ctx.saved_tensors
            with torch.enable_grad():
                x, grid = x.detach().requires_grad_(), grid.detach().requires_grad_()
                return torch.autograd.grad(real(x, grid, align_corners=False), (x, grid), grad)

    monkeypatch.setattr(F, "grid_sample", lambda x, grid, **kw: OnceOnly.apply(x, grid))
    assert dunet.grid_sample_differentiates_twice.__wrapped__() is False
    # One that autograd differentiates twice (the gathers; PyTorch 2.14 has its own, 2.11 has not).
    border = {"mode": "bilinear", "align_corners": False, "padding_mode": "border"}
    monkeypatch.setattr(
        F, "grid_sample", lambda x, grid, **kw: dunet.bilinear_sample_border(x, grid, **border)
    )
    assert dunet.grid_sample_differentiates_twice.__wrapped__() is True


def test_a_gradient_penalty_through_dunet_without_grid_samples_double_backward(monkeypatch):
    """Where PyTorch lacks grid_sample's double backward DUNet samples with gathers: same logits, and R1 through it
    gives the same D gradients as grid_sample (where this PyTorch has it to compare)."""
    import torch.nn.functional as F

    from upres.archs.discriminators import dunet

    torch.manual_seed(0)
    d = build_discriminator("dunet", num_feat=8).double()
    with torch.no_grad():  # content-dependent offsets, so the sampling positions fall between pixels
        for name, p in d.named_parameters():
            if "scope" in name:
                p.normal_(0, 0.3)
    d.eval()  # spectral norm's power iteration would move between the two runs
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)

    def r1_grads():
        real = x.clone().requires_grad_()
        (g,) = torch.autograd.grad(d(real).sum(), real, create_graph=True)
        penalty = g.square().sum()
        params = list(d.parameters())  # the last bias does not move the input gradient
        grads = torch.autograd.grad(penalty, params, allow_unused=True, materialize_grads=True)
        return [g.detach() for g in grads], d(x).detach()

    calls = []
    real_sample = F.grid_sample
    monkeypatch.setattr(dunet, "grid_sample_differentiates_twice", lambda: False)
    monkeypatch.setattr(F, "grid_sample", lambda *a, **k: calls.append(1) or real_sample(*a, **k))
    grads, logits = r1_grads()
    assert calls == []  # the gathers did the sampling
    assert all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    monkeypatch.undo()
    if dunet.grid_sample_differentiates_twice():
        ref_grads, ref_logits = r1_grads()
        # DySample samples in float32 (as under autocast), so float32 rounding apart.
        torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-7)
        for a, b in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
