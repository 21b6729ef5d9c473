"""The torch JPEG against Pillow's libjpeg: the same pictures (to a rare flipped coefficient), tables, contract."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from upres.data.degradations.jpeg import jpeg_bytes, jpeg_compress, to_uint8
from upres.data.degradations.jpeg_torch import _quant_table, jpeg_compress_torch

QUALITIES = (10, 30, 50, 75, 95)
MODES = ("4:4:4", "4:2:2", "4:2:0")
SIZES = ((37, 53), (64, 96))


def synthetic(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth gradients, blotches at several scales, a hard edge and fine noise: what photos hand a JPEG coder."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    waves = torch.stack(
        [0.5 + 0.4 * torch.sin(6 * xx + 2 * yy), 0.5 + 0.3 * torch.cos(5 * yy - 3 * xx), 0.4 + xx * yy]
    )
    blotches = F.interpolate(
        torch.rand(1, 3, h // 6 + 2, w // 6 + 2, generator=g), size=(h, w), mode="bicubic"
    )[0]
    noise = 0.08 * torch.rand(3, h, w, generator=g)
    return (0.5 * waves + 0.4 * blotches + noise + 0.2 * (xx > 0.6) - 0.1).clamp(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 10 * math.log10(1 / mse) if mse else math.inf


def closeness(x: torch.Tensor, quality: int, mode: str) -> tuple[float, float, float]:
    """(mean |torch - Pillow| in 8-bit levels, PSNR between the two, difference of their PSNRs to the input)."""
    ours, pillow = jpeg_compress_torch(x, quality, mode), jpeg_compress(x, quality, mode)
    mad = float((ours - pillow).abs().mean()) * 255
    return mad, psnr(ours, pillow), psnr(ours, x) - psnr(pillow, x)


def check_grid(image: torch.Tensor) -> list[float]:
    """Every quality x subsampling (and gray) at an odd size and a multiple of 16; the per-case mean differences."""
    mads = []
    for h, w in SIZES:
        x = image[:, :h, :w]
        cases = [(x, q, m) for q in QUALITIES for m in MODES] + [(x[:1], q, "4:2:0") for q in QUALITIES]
        for img, q, mode in cases:
            mad, between, gap = closeness(img, q, mode)
            where = f"{tuple(img.shape)} q={q} {mode}: mad {mad:.3f}, PSNR {between:.1f}, gap {gap:+.3f}"
            # Measured (Pillow 13, libjpeg-turbo 3.x) on the synthetic image and Set14 crops of monarch, lenna,
            # baboon, comic: mad <= 0.34 levels, PSNR >= 45.1 dB, |gap| <= 0.048 dB. Limits: 1.5x the mad, 5 dB
            # under the PSNR, 1.6x the gap. (Another synthetic image showed one chroma coefficient quantised to
            # the other side at q=10 in a 37x53 crop, libjpeg's integer DCT against the exact one: mad 0.97.)
            assert mad < 0.5, where
            assert between > 40, where
            assert abs(gap) < 0.08, where
            mads.append(mad)
    return mads


def test_close_to_pillow_on_a_synthetic_photo():
    mads = check_grid(synthetic(64, 96))
    # Measured mean over the 40 cases: 0.079 levels (Set14 crops 0.06-0.12).
    assert np.mean(mads) < 0.15


def test_close_to_pillow_on_a_set14_crop(shared_data):
    with Image.open(shared_data / "benchmark" / "Set14" / "monarch.png") as im:
        arr = np.asarray(im.convert("RGB"))[100:164, 200:296]
    mads = check_grid(torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255)
    # Measured mean over the 40 cases: 0.062 levels.
    assert np.mean(mads) < 0.15


@pytest.mark.parametrize("quality", QUALITIES)
@pytest.mark.parametrize("mode", MODES)
def test_flat_colours_equal_pillows_exactly(quality, mode):
    """Flat blocks keep only their DC coefficient, which libjpeg computes exactly: no DCT approximation is left,
    so every level of gray and 100 colours must come out as Pillow's, to the bit (halves rounded up, as libjpeg)."""
    gray = (torch.arange(256.0) / 255)[:, None, None, None].expand(256, 1, 13, 11)
    assert torch.equal(jpeg_compress_torch(gray, quality), jpeg_compress(gray, quality))
    colours = torch.randint(0, 256, (100, 3, 1, 1), generator=torch.Generator().manual_seed(quality)) / 255
    rgb = colours.expand(100, 3, 19, 21)
    assert torch.equal(jpeg_compress_torch(rgb, quality, mode), jpeg_compress(rgb, quality, mode))


@pytest.mark.parametrize("quality", [1, 5, 10, 25, 50, 51, 75, 90, 99, 100])
def test_quantisation_tables_are_libjpegs(quality):
    with Image.open(io.BytesIO(jpeg_bytes(to_uint8(synthetic(16, 16)), quality))) as im:
        luma, chroma = im.quantization[0], im.quantization[1]
    # Pillow lists the tables in natural (row-major) order, as _quant_table does; K.1 is not symmetric, so a
    # zigzag or transposed order would not compare equal.
    assert [v for row in _quant_table(quality, False) for v in row] == list(luma)
    assert [v for row in _quant_table(quality, True) for v in row] == list(chroma)


def test_a_mixed_batch_equals_each_sample_alone():
    x = torch.stack([synthetic(24, 40, seed) for seed in range(5)])
    qualities, modes = [10, 95, 50, 30, 75], ["4:2:0", "4:4:4", "4:2:2", "4:2:0", "4:4:4"]
    batch = jpeg_compress_torch(x, qualities, modes)
    alone = torch.stack([jpeg_compress_torch(x[i], qualities[i], modes[i]) for i in range(5)])
    assert torch.equal(batch, alone)
    gray = jpeg_compress_torch(x[:, :1], qualities)
    assert torch.equal(gray, torch.stack([jpeg_compress_torch(x[i, :1], qualities[i]) for i in range(5)]))


@pytest.mark.parametrize("size", [(1, 1), (7, 9), (2, 5), (9, 1), (17, 33)])
@pytest.mark.parametrize("channels", [1, 3])
def test_any_size_keeps_shape_and_8bit_levels(size, channels):
    x = synthetic(max(size[0], 16), max(size[1], 16))[:channels, : size[0], : size[1]]
    out = jpeg_compress_torch(x, 40)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert torch.equal(out, (out * 255).round() / 255)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    # Tiny pictures hit libjpeg's special cases (sample repetition for at most two chroma columns).
    assert float((out - jpeg_compress(x, 40)).abs().mean()) * 255 < 1.5


def test_half_precision_in_half_precision_out():
    x = synthetic(16, 24)
    out = jpeg_compress_torch(x.half(), 60)
    pillow = jpeg_compress(x.half(), 60)
    assert out.dtype == torch.float16
    # Levels divided by 255 in half precision, as jpeg.py's from_uint8 does.
    assert torch.equal(out, (out.float() * 255).round().half() / 255)
    assert float((out.float() - pillow.float()).abs().mean()) * 255 < 0.5


@pytest.mark.parametrize(
    ("quality", "subsampling", "message"),
    [
        ([50, 60], "4:2:0", "2 quality values for a batch of 3"),
        (50, ["4:2:0"], "1 subsampling values for a batch of 3"),
        (50, "4:1:1", "subsampling '4:1:1' unknown"),
    ],
)
def test_bad_arguments_say_which(quality, subsampling, message):
    with pytest.raises(ValueError, match=message):
        jpeg_compress_torch(torch.rand(3, 3, 8, 8), quality, subsampling)


HOST_READS = ("aten::item", "aten::_local_scalar_dense", "aten::nonzero", "aten::is_nonzero")


def test_no_host_reads_of_image_data():
    """On CUDA a read of a tensor's value waits for the GPU; on the CPU it costs nothing, so the profiler's op
    list, not the clock, tells them (as tests/train/test_train_step.py does)."""
    x = torch.stack([synthetic(24, 40, seed) for seed in range(3)])
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        jpeg_compress_torch(x, [10, 50, 90], ["4:2:0", "4:4:4", "4:2:0"])
        jpeg_compress_torch(x[:, :1], [10, 50, 90])
    assert not {e.name for e in prof.events()} & set(HOST_READS)


def test_runs_on_tensors_without_data():
    """Meta tensors hold no values: any read by the host (item, tolist, numpy, a copy to the CPU) raises. That it
    runs at all shows the image data never leaves its device and no step depends on a value."""
    x = torch.empty(3, 3, 37, 53, device="meta")
    out = jpeg_compress_torch(x, [10, 50, 90], ["4:2:0", "4:4:4", "4:2:2"])
    assert out.shape == x.shape and out.device.type == "meta"
    assert jpeg_compress_torch(x[:, :1], 50).shape == (3, 1, 37, 53)
    with pytest.raises(NotImplementedError):
        x.cpu()
