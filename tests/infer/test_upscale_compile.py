"""`--compile`: same pixels as eager, one compiled shape for all tiles, eager fallback, OOM halving kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from upscale_helpers import make_random_model, run_upscale, upscale_subprocess

from upres.archs import build_network
from upres.infer import compiled
from upres.infer.render import ImageEngine, render_image
from upres.infer.tiling import Upscaler
from upres.io.images import decode_image, write_image
from upres.io.model_files import load_model

# Inductor fuses bias, activation and pixel-shuffle and may reorder their float32 sums: outputs in [0, 1] move by a
# few ulps (~1e-7), far below 1e-5; 8-bit files may then differ by one level where a value sits on a rounding edge.
ATOL = 1e-5


def _compact() -> torch.nn.Module:
    # Four 3x3 convolutions: a receptive radius of 4 input pixels, so with an 8-pixel overlap every tiling
    # (eager's edge tiles or --compile's widened ones) gives the untiled result up to float rounding.
    torch.manual_seed(3)
    net, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    return net


class _FakeCompile:
    """Stands in for torch.compile: runs the module eagerly, recording shapes, failing as told."""

    def __init__(self, fail: type[Exception] | None = None, oom_above: int | None = None) -> None:
        self.fail, self.oom_above, self.shapes = fail, oom_above, []

    def __call__(self, module: torch.nn.Module, **_kw: object):
        def fn(x: torch.Tensor) -> torch.Tensor:
            self.shapes.append(tuple(x.shape))
            if self.fail:
                raise self.fail("inductor: C compiler not found (cc)\nmore detail")
            if self.oom_above and x.shape[-1] > self.oom_above:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return module(x)

        return fn


@pytest.mark.slow
def test_compiled_tiles_equal_eager_and_share_one_compiled_shape(capsys):
    x = torch.rand(1, 3, 45, 38)
    eager = Upscaler(_compact(), 2)
    up = Upscaler(_compact(), 2, compile=True)
    ref = eager(x)
    out = up(x, 16, 8)
    assert torch.allclose(out, ref, atol=ATOL)
    assert torch.allclose(eager(x, 16, 8), ref, atol=ATOL)
    # Nine tiles of four different sizes in eager; one 32x32 window when compiled.
    assert up.runner.shapes == {(1, 3, 32, 32)} and not up.runner.failed
    err = capsys.readouterr().err
    assert err.count("compiling the model for 3x32x32 inputs") == 1
    assert "compiled for 3x32x32 in" in err


def test_every_tile_window_has_one_shape_and_the_crop_matches_eager(monkeypatch):
    fake = _FakeCompile()
    monkeypatch.setattr(torch, "compile", fake)
    x = torch.rand(1, 3, 45, 38)
    up = Upscaler(_compact(), 2, compile=True)
    out = up(x, 16, 8)
    assert set(fake.shapes) == {(1, 3, 32, 32)} and len(fake.shapes) == 9
    assert torch.allclose(out, Upscaler(_compact(), 2)(x), atol=ATOL)


def test_shapes_past_the_limit_run_eager_with_one_note(monkeypatch):
    fake = _FakeCompile()
    monkeypatch.setattr(torch, "compile", fake)
    notes: list[str] = []
    runner = compiled.CompiledModel(_compact().eval(), torch.device("cpu"), notes.append)
    with torch.inference_mode():
        for size in range(8, 8 + compiled.MAX_SHAPES + 2):
            runner(torch.rand(1, 3, size, size))
    assert len(runner.shapes) == compiled.MAX_SHAPES == len(fake.shapes)
    assert sum("other shapes run eager" in n for n in notes) == 1


def _upscale_two_with_compile(tmp_path: Path, capsys) -> str:
    """`upscale --compile` of two small PNGs: its stderr, after checking the files equal an eager run's."""
    model = make_random_model(tmp_path / "m.safetensors")
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        write_image(src / name, rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    code, _, err = run_upscale(capsys, "-m", model, src, "-o", tmp_path / "c", "--compile", "--tile", "16")
    assert code == 0 and "Traceback" not in err
    assert run_upscale(capsys, "-m", model, src, "-o", tmp_path / "e", "--tile", "16")[0] == 0
    for name in ("a.png", "b.png"):
        assert np.array_equal(
            decode_image(tmp_path / "c" / name).array, decode_image(tmp_path / "e" / name).array
        )
    return err


def test_a_compile_failure_falls_back_to_eager_with_one_line(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(torch, "compile", _FakeCompile(fail=RuntimeError))
    err = _upscale_two_with_compile(tmp_path, capsys)
    assert [line for line in err.splitlines() if "--compile failed" in line] == [
        "note: --compile failed (RuntimeError: inductor: C compiler not found (cc)); running the model eager"
    ]


def test_without_the_compilers_toolchain_the_model_runs_eager_from_the_start_with_one_note(
    tmp_path: Path, monkeypatch, capsys
):
    def never(*args, **kwargs):
        raise AssertionError("torch.compile was called where it can only fail")

    monkeypatch.setattr(torch, "compile", never)
    monkeypatch.setattr(compiled, "missing_toolchain", lambda device: "on the CPU it needs a C++ compiler")
    err = _upscale_two_with_compile(tmp_path, capsys)
    assert [line for line in err.splitlines() if "--compile" in line] == [
        "note: --compile: torch.compile cannot run on cpu here: on the CPU it needs a C++ compiler; running the "
        "model eager"
    ]


def test_out_of_memory_in_a_compiled_call_halves_the_tile_and_compiles_the_new_shape(tmp_path, monkeypatch):
    fake = _FakeCompile(oom_above=50)
    monkeypatch.setattr(torch, "compile", fake)
    model = load_model(make_random_model(tmp_path / "m.safetensors"))
    engine = ImageEngine(model, torch.device("cpu"), tile=64, overlap=8, compile=True)
    arr = np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    out = render_image(engine, arr)
    eager = render_image(
        ImageEngine(load_model(make_random_model(tmp_path / "n.safetensors")), torch.device("cpu"), tile=0),
        arr,
    )
    assert engine.notes == ["out of memory; retrying with tile 32"]
    assert not engine.up.runner.failed and engine.up.runner.shapes == {(1, 3, 48, 48)}
    assert np.abs(out.astype(int) - eager.astype(int)).max() <= 1


@pytest.mark.slow
def test_upscale_compile_cli_matches_eager_and_announces_the_compile(tmp_path: Path, capsys):
    model = make_random_model(tmp_path / "m.safetensors")
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i, (h, w) in enumerate([(40, 36), (44, 50), (36, 40)]):
        write_image(src / f"{i}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    args = ("-m", model, src, "--tile", "16", "--tile-overlap", "8")
    code, _, err = run_upscale(capsys, *args, "-o", tmp_path / "c", "--compile")
    assert code == 0
    assert err.count("compiling the model for 3x32x32 inputs") == 1 and "Traceback" not in err
    assert run_upscale(capsys, *args, "-o", tmp_path / "e")[0] == 0
    for i in range(3):
        got = decode_image(tmp_path / "c" / f"{i}.png").array.astype(int)
        want = decode_image(tmp_path / "e" / f"{i}.png").array.astype(int)
        assert np.abs(got - want).max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_keep_every_tile_of_a_half_precision_row_and_redo_bad_ones_in_fp32():
    net = _compact()
    x = torch.rand(1, 3, 45, 38)
    ref = Upscaler(_compact(), 2, torch.device("cuda"))(x, 16, 8)
    up = Upscaler(net, 2, torch.device("cuda"), torch.float16, compile=True)
    # fp16 tolerance: half has 11 significant bits, ~5e-4 relative on outputs in [0, 1].
    assert torch.allclose(up(x, 16, 8), ref, atol=3e-3)
    assert up.runner.shapes == {(1, 3, 32, 32)} and up.fp32_fallbacks == 0
    bad = x.clone()
    bad[..., :16, :16] = float("inf")  # non-finite in one tile: that tile is redone in fp32
    up(bad, 16, 8)
    assert up.fp32_fallbacks >= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_upscale_compile_on_cuda_captures_once_and_replays_for_a_folder(tmp_path: Path):
    """The command as users run it on a GPU: several same-size images through --compile (CUDA graphs recorded on
    the second call, replayed after) in the model's worker thread, beside the reader and writer threads. No
    fallback note, and the files equal an eager run's within fp16 rounding (both runs are fp16)."""
    model = make_random_model(tmp_path / "m.safetensors")
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(4)
    for i in range(5):
        write_image(src / f"{i}.png", rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))
    common = ("-m", model, src, "--device", "cuda", "--precision", "fp16", "--tile", "0")
    compiled_run = upscale_subprocess(*common, "-o", tmp_path / "c", "--compile")
    assert compiled_run.returncode == 0, compiled_run.stderr[-2000:]
    assert "--compile failed" not in compiled_run.stderr and "Traceback" not in compiled_run.stderr
    assert compiled_run.stderr.count("compiling the model for 3x48x40 inputs") == 1
    eager_run = upscale_subprocess(*common, "-o", tmp_path / "e")
    assert eager_run.returncode == 0, eager_run.stderr[-2000:]
    for i in range(5):
        got = decode_image(tmp_path / "c" / f"{i}.png").array.astype(int)
        want = decode_image(tmp_path / "e" / f"{i}.png").array.astype(int)
        assert np.abs(got - want).max() <= 2  # fp16: ~5e-4 relative, fused kernels round differently


def test_a_later_failure_of_a_compiled_shape_is_redone_eager(monkeypatch):
    calls = []

    def fake(module, **_kw):
        def fn(x):
            calls.append(x.shape)
            if len(calls) == 3:
                raise RuntimeError("CUDA graph replay failed")
            return module(x)

        return fn

    monkeypatch.setattr(torch, "compile", fake)
    notes: list[str] = []
    net = _compact().eval()
    runner = compiled.CompiledModel(net, torch.device("cpu"), notes.append)
    x = torch.rand(1, 3, 12, 12)
    with torch.inference_mode():
        outs = [runner(x) for _ in range(4)]
        ref = net(x)
    assert all(torch.equal(o, ref) for o in outs)
    assert runner.failed and len(calls) == 3
    assert (
        notes[-1]
        == "note: --compile failed (RuntimeError: CUDA graph replay failed); running the model eager"
    )


def test_stop_and_finite_watch_see_compiled_calls(monkeypatch):
    import threading

    from upres.infer.watch import Cancelled, FiniteWatch, stop_between_blocks

    monkeypatch.setattr(torch, "compile", _FakeCompile())
    up = Upscaler(_compact(), 2, compile=True)
    stop = threading.Event()
    hooks = stop_between_blocks(up, stop)
    watch = FiniteWatch(up)
    up(torch.full((1, 3, 8, 8), float("nan")))
    assert watch.tripped()  # an fp32 compiled call's non-finite output is noticed
    stop.set()
    with pytest.raises(Cancelled):
        up(torch.rand(1, 3, 8, 8))
    for h in [*hooks, watch]:
        h.remove()
