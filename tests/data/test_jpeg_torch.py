"""The torch JPEG against Pillow's libjpeg: the same pictures (to a rare flipped coefficient), tables, contract."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, features

from devices import needs_cuda
from host_waits import HostCopies, HostDivisors
from upres.data.degradations.jpeg import jpeg_bytes, jpeg_compress, to_uint8
from upres.data.degradations.jpeg_integer import quant_table
from upres.data.degradations.jpeg_torch import jpeg_compress_torch

libjpeg_turbo = pytest.mark.skipif(
    not features.check_feature("libjpeg_turbo"),
    reason="Pillow is not built on libjpeg-turbo, whose arithmetic (DCT, upsampling) the torch JPEG copies",
)

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


def assert_pillows(x: torch.Tensor, quality, mode) -> None:
    """The same picture as Pillow's, to the bit; the message says how far it was when it is not."""
    ours, pillow = jpeg_compress_torch(x, quality, mode), jpeg_compress(x, quality, mode)
    if not torch.equal(ours, pillow):
        mad = float((ours - pillow).abs().mean()) * 255
        gap = psnr(ours, x) - psnr(pillow, x)
        pytest.fail(
            f"{tuple(x.shape)} q={quality} {mode}: mean |torch - Pillow| {mad:.3f} levels, PSNR between "
            f"{psnr(ours, pillow):.1f} dB, PSNR to the input {gap:+.3f} dB from Pillow's"
        )


def check_grid(image: torch.Tensor) -> None:
    """Every quality x subsampling, and gray, at an odd size and at a multiple of 16.

    Measured: equal to the bit everywhere (mean difference 0, PSNR between the two infinite), and so in 2212
    random cases of 1-33 px sides at q 1-100. Before libjpeg's integer DCT was copied (an exact float DCT in its
    place), the grid gave mean differences up to 0.34 levels, PSNR >= 45 dB, and one flipped chroma coefficient
    cost 0.97 levels on a 37x53 crop: hence equality, not a tolerance."""
    for h, w in SIZES:
        x = image[:, :h, :w]
        for q in QUALITIES:
            for mode in MODES:
                assert_pillows(x, q, mode)
            assert_pillows(x[:1], q, "4:2:0")


@libjpeg_turbo
def test_equal_to_pillow_on_a_synthetic_photo():
    check_grid(synthetic(64, 96))


@libjpeg_turbo
def test_equal_to_pillow_on_a_set14_crop(shared_data):
    with Image.open(shared_data / "benchmark" / "Set14" / "monarch.png") as im:
        arr = np.asarray(im.convert("RGB"))[100:164, 200:296]
    check_grid(torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255)


@libjpeg_turbo
@pytest.mark.parametrize("quality", [1, 100])
@pytest.mark.parametrize("mode", MODES)
def test_equal_to_pillow_at_the_extremes(quality, mode):
    """Flat colours (DC-only blocks, exact halves in the rounding), black-and-white noise (the range limit)."""
    g = torch.Generator().manual_seed(quality)
    flat = (torch.randint(0, 256, (50, 3, 1, 1), generator=g) / 255).expand(50, 3, 19, 21)
    assert_pillows(flat, quality, mode)
    assert_pillows(flat[:, :1], quality, mode)
    assert_pillows((torch.rand(2, 3, 40, 40, generator=g) > 0.5).float(), quality, mode)


@pytest.mark.parametrize("quality", [1, 5, 10, 25, 50, 51, 75, 90, 99, 100])
def test_quantisation_tables_are_libjpegs(quality):
    with Image.open(io.BytesIO(jpeg_bytes(to_uint8(synthetic(16, 16)), quality))) as im:
        luma, chroma = im.quantization[0], im.quantization[1]
    # Pillow lists the tables in natural (row-major) order, as quant_table does; K.1 is not symmetric, so a
    # zigzag or transposed order would not compare equal.
    assert [v for row in quant_table(quality, False) for v in row] == list(luma)
    assert [v for row in quant_table(quality, True) for v in row] == list(chroma)


def test_a_mixed_batch_equals_each_sample_alone():
    x = torch.stack([synthetic(24, 40, seed) for seed in range(5)])
    qualities, modes = [10, 95, 50, 30, 75], ["4:2:0", "4:4:4", "4:2:2", "4:2:0", "4:4:4"]
    batch = jpeg_compress_torch(x, qualities, modes)
    alone = torch.stack([jpeg_compress_torch(x[i], qualities[i], modes[i]) for i in range(5)])
    assert torch.equal(batch, alone)
    assert torch.equal(jpeg_compress_torch(x, np.int64(30)), jpeg_compress_torch(x, [30] * 5))
    gray = jpeg_compress_torch(x[:, :1], qualities)
    assert torch.equal(gray, torch.stack([jpeg_compress_torch(x[i, :1], qualities[i]) for i in range(5)]))


# Odd and even sides, a picture filling the canvas, and ones at most four pixels wide (libjpeg-turbo's repeated
# chroma), in one batch.
CANVAS_SIZES = [(37, 53), (40, 48), (1, 1), (23, 4), (9, 3), (30, 17), (2, 40), (16, 32)]


def on_canvas(channels: int) -> torch.Tensor:
    return torch.stack([synthetic(40, 53, seed)[:channels] for seed in range(len(CANVAS_SIZES))])


@pytest.mark.parametrize("channels", [1, 3])
def test_pictures_of_different_sizes_on_one_canvas_equal_each_alone(channels):
    x = on_canvas(channels)
    qualities = [10, 95, 50, 30, 75, 95, 60, 90]
    modes = ["4:2:0", "4:4:4", "4:2:2", "4:2:0", "4:2:2", "4:2:0", "4:2:0", "4:2:2"]
    out = jpeg_compress_torch(x, qualities, modes, sizes=CANVAS_SIZES)
    assert out.shape == x.shape
    for i, (h, w) in enumerate(CANVAS_SIZES):
        picture = x[i, :, :h, :w]
        assert torch.equal(out[i, :, :h, :w], jpeg_compress_torch(picture, qualities[i], modes[i])), (
            h,
            w,
            modes[i],
        )
        if features.check_feature("libjpeg_turbo"):
            assert torch.equal(out[i, :, :h, :w], jpeg_compress(picture, qualities[i], modes[i]))


def _operations(fn) -> int:
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    with Count():
        fn()
    return Count.calls


def test_a_canvas_costs_the_same_operations_for_any_batch():
    """The point of a canvas: the device's work is dispatched once per batch, not once per picture."""
    x = on_canvas(3)
    jpeg_compress_torch(x[:1], 10)  # the DCT matrices are made once per device
    # Both batches hold pictures at most four pixels wide, whose chroma takes a few more operations.
    first_four = x[:4]
    four = _operations(
        lambda: jpeg_compress_torch(first_four, [10, 20, 30, 40], "4:2:0", sizes=CANVAS_SIZES[:4])
    )
    eight = _operations(lambda: jpeg_compress_torch(x, list(range(10, 90, 10)), "4:2:0", sizes=CANVAS_SIZES))
    assert eight == four


def test_a_canvas_uploads_its_host_data_once(monkeypatch):
    """Each upload of host data is a pinned copy and a copy to a GPU: the quality tables, the edge indices of every
    plane (one array) and the mask of the pictures at most four pixels wide."""
    import upres.data.degradations.jpeg_torch as jpeg_torch

    uploads = []
    real = jpeg_torch.upload
    monkeypatch.setattr(jpeg_torch, "upload", lambda t, device: uploads.append(t.shape) or real(t, device))
    x = on_canvas(3)
    jpeg_compress_torch(x, list(range(10, 90, 10)), "4:2:0", sizes=CANVAS_SIZES)
    assert len(uploads) == 3
    uploads.clear()
    jpeg_compress_torch(x[:, :1], list(range(10, 90, 10)), sizes=CANVAS_SIZES)
    assert len(uploads) == 2


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([(8, 8)], r"one \(height, width\) per sample.*got \[\(8, 8\)\] for 2 samples"),
        ([(8, 8), (0, 4)], r"from 1 to the batch's 16x24"),
        ([(8, 8), (17, 4)], r"got \[\(8, 8\), \(17, 4\)\]"),
    ],
)
def test_sizes_off_the_canvas_say_so(sizes, message):
    with pytest.raises(ValueError, match=message):
        jpeg_compress_torch(torch.rand(2, 3, 16, 24), 50, sizes=sizes)


@pytest.mark.parametrize("size", [(1, 1), (7, 9), (2, 5), (9, 1), (17, 33)])
@pytest.mark.parametrize("channels", [1, 3])
def test_any_size_keeps_shape_and_8bit_levels(size, channels):
    x = synthetic(max(size[0], 16), max(size[1], 16))[:channels, : size[0], : size[1]]
    out = jpeg_compress_torch(x, 40)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert torch.equal(out, (out * 255).round() / 255)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    if features.check_feature("libjpeg_turbo"):
        # Tiny pictures hit libjpeg-turbo's special case: samples repeated for at most two chroma columns.
        for mode in MODES:
            assert_pillows(x, 40, mode)


def test_half_precision_in_half_precision_out():
    x = synthetic(16, 24)
    out = jpeg_compress_torch(x.half(), 60)
    pillow = jpeg_compress(x.half(), 60)
    assert out.dtype == torch.float16
    # Levels divided by 255 in half precision, as jpeg.py's from_uint8 does.
    assert torch.equal(out, (out.float() * 255).round().half() / 255)
    assert torch.equal(out, pillow) or not features.check_feature("libjpeg_turbo")


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
        jpeg_compress_torch(x, [10, 50, 90], ["4:2:0", "4:4:4", "4:2:0"], sizes=[(24, 40), (3, 5), (17, 9)])
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


def test_no_waiting_copies_from_the_host():
    """The tables go up through upload() (pinned, non-blocking on CUDA), the DCT matrices are made once per device."""
    x = torch.stack([synthetic(24, 40, seed) for seed in range(3)])
    jpeg_compress_torch(x, 50)
    with HostCopies() as spy:
        jpeg_compress_torch(x, [10, 50, 90], ["4:2:0", "4:4:4", "4:2:0"])
        jpeg_compress_torch(x[:, :1], [10, 50, 90])
        jpeg_compress_torch(x, [10, 50, 90], ["4:2:0", "4:4:4", "4:2:0"], sizes=[(24, 40), (3, 5), (17, 9)])
    assert spy.copies == []


@needs_cuda
def test_on_cuda_equal_to_the_cpu_and_never_waits():
    x = torch.stack([synthetic(37, 53, seed) for seed in range(4)])
    qualities, modes = [10, 95, 50, 30], ["4:2:0", "4:4:4", "4:2:2", "4:2:0"]
    cpu = jpeg_compress_torch(x, qualities, modes)
    gpu = x.cuda()
    jpeg_compress_torch(gpu, qualities, modes)  # the DCT matrices go up once per device
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = jpeg_compress_torch(gpu, qualities, modes)
        gray = jpeg_compress_torch(gpu[:, :1], qualities)
        canvas = jpeg_compress_torch(gpu, qualities, modes, sizes=[(37, 53), (3, 4), (20, 31), (36, 1)])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert torch.equal(out.cpu(), cpu)
    assert torch.equal(gray.cpu(), jpeg_compress_torch(x[:, :1], qualities))
    for i, (h, w) in enumerate([(37, 53), (3, 4), (20, 31), (36, 1)]):
        assert torch.equal(
            canvas[i, :, :h, :w].cpu(), jpeg_compress_torch(x[i, :, :h, :w], qualities[i], modes[i])
        )


def test_levels_are_divided_on_their_device_as_the_cpu_divides():
    """CUDA computes `tensor / python_number` as a product with the number's reciprocal: level / 255 came out one
    ulp off the CPU's quotient (and Pillow's) for 126 of the 256 levels, so the CUDA test above could not pass."""
    x = on_canvas(3)
    with HostDivisors() as spy:
        jpeg_compress_torch(x, 50)
        jpeg_compress_torch(x[:, :1].half(), 50)
        jpeg_compress_torch(x, [10, 50, 90] * 2 + [30, 40], "4:2:2", sizes=CANVAS_SIZES)
    assert spy.found == []
