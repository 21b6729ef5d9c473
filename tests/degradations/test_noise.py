from __future__ import annotations

import pytest
import torch

from upres.data.degradations.noise import gaussian_noise, poisson_noise


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("sigma", [5.0, 20.0])
def test_gaussian_noise_std_matches_request(sigma):
    flat = torch.full((3, 128, 128), 0.5)
    noisy = gaussian_noise(flat, sigma, generator=gen())
    assert float((noisy - flat).std()) * 255 == pytest.approx(sigma, rel=0.03)
    assert float((noisy - flat).mean()) * 255 == pytest.approx(0.0, abs=0.2)


def test_gray_noise_is_identical_across_channels_and_color_noise_is_not():
    flat = torch.full((3, 64, 64), 0.5)
    gray = gaussian_noise(flat, 10.0, gray=True, generator=gen())
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    color = gaussian_noise(flat, 10.0, gray=False, generator=gen())
    assert not torch.equal(color[0], color[1])


def test_per_sample_sigma_in_a_batch():
    flat = torch.full((2, 3, 96, 96), 0.5)
    noisy = gaussian_noise(flat, [2.0, 25.0], gray=[False, True], generator=gen())
    stds = (noisy - flat).flatten(1).std(1) * 255
    assert float(stds[0]) == pytest.approx(2.0, rel=0.05) and float(stds[1]) == pytest.approx(25.0, rel=0.05)
    assert torch.equal(noisy[1, 0], noisy[1, 2])


def test_poisson_noise_variance_follows_intensity():
    # Shot noise: variance of the count is its mean, so var(noise) = level / vals * scale^2 (vals = 2 levels here,
    # rounded up to a power of two from the image's distinct values).
    img = torch.cat([torch.full((3, 64, 64), 0.2), torch.full((3, 64, 64), 0.8)], dim=1)
    noisy = poisson_noise(img, 1.0, generator=gen())
    vals = 2.0
    dark = (noisy - img)[:, :64].var()
    bright = (noisy - img)[:, 64:].var()
    # clipping at [0, 1] cuts the tails, so compare the ratio loosely and the dark level tightly.
    assert float(dark) == pytest.approx(0.2 / vals, rel=0.1)
    assert float(bright) > float(dark)


def test_poisson_matches_basicsr_in_distribution(basicsr_degradations):
    torch.manual_seed(0)
    img = torch.rand(1, 3, 64, 64) * 0.5 + 0.25
    ref = basicsr_degradations.add_poisson_noise_pt(img, scale=2.0, clip=False)
    ours = poisson_noise(img, 2.0, generator=gen(1), clip=False)
    assert float((ours - img).std()) == pytest.approx(float((ref - img).std()), rel=0.05)


def test_same_generator_seed_same_noise():
    img = torch.rand(3, 32, 32)
    assert torch.equal(poisson_noise(img, 1.5, True, gen(7)), poisson_noise(img, 1.5, True, gen(7)))
    assert torch.equal(gaussian_noise(img, 9.0, False, gen(7)), gaussian_noise(img, 9.0, False, gen(7)))


def test_gray_poisson_noise_is_shared_by_channels():
    img = torch.rand(2, 3, 32, 32)
    out = poisson_noise(img, 1.0, gray=[True, False], generator=gen(), clip=False)
    noise = out - img
    torch.testing.assert_close(noise[0, 0], noise[0, 1], rtol=0, atol=1e-6)
    assert not torch.allclose(noise[1, 0], noise[1, 1])


@pytest.mark.parametrize("kind", ["gaussian", "poisson"])
def test_a_sample_alone_needs_no_upload_and_gets_the_same_noise(kind, monkeypatch):
    """One host value for the sample's noise level is a Python number (divided in float32 as the tensor was), not a
    pinned copy to the GPU; the pixels are those of the level as a tensor on the device."""
    import upres.data.degradations.noise as noise

    fn = noise.gaussian_noise if kind == "gaussian" else noise.poisson_noise
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    level = 7.3 if kind == "gaussian" else 1.7
    on_device = fn(x, torch.tensor([level]), [False], torch.Generator().manual_seed(1))
    uploads = []
    real = noise.upload
    monkeypatch.setattr(noise, "upload", lambda t, device: uploads.append(t) or real(t, device))
    alone = fn(x, [level], [False], torch.Generator().manual_seed(1))
    assert uploads == []
    assert torch.equal(alone, on_device)
