"""Issue 14 item 2: Ctrl+C ends `upscale` and `video` with exit 130 and nothing half-written; leftovers of a killed
run are swept by the next run into the same folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fault_helpers import cli_env, png

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import save_model


def _slow_model(path: Path) -> Path:
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=32, num_conv=8)
    return save_model(path, net, info)


def _interrupt_after_first_line(args: list[object], marker: str, timeout: float = 90) -> tuple[int, str, str]:
    """Start the CLI, wait until `marker` appears on its output (it is working), then send SIGINT."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "upres", *[str(a) for a in args]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_env(),
    )
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=60)
    return proc.returncode, "".join(seen) + rest, marker


@pytest.mark.slow
def test_ctrl_c_during_upscale_exits_130_with_no_partial_files(tmp_path):
    model = _slow_model(tmp_path / "m.safetensors")
    for i in range(16):
        png(tmp_path / "in" / f"{i:02d}.png", size=160, seed=i)
    out = tmp_path / "out"
    # On the CPU: on a GPU the other 15 images of this small model can be written before the signal lands.
    code, text, _ = _interrupt_after_first_line(
        ["upscale", "-m", model, tmp_path / "in", "-o", out, "--device", "cpu"], "[1/16]"
    )
    assert code == 130, text
    assert "interrupted" in text
    assert "terminate called" not in text and "Traceback" not in text
    written = sorted(p.name for p in out.iterdir())
    assert all(not name.startswith(".") for name in written), written  # no temporary file left
    assert 1 <= len(written) < 16, written


def test_ctrl_c_while_starting_is_exit_130(monkeypatch, capsys):
    import upres.cli as cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["info", "x"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def test_the_next_run_sweeps_parts_of_killed_writers_only(tmp_path, capsys):
    model = _slow_model(tmp_path / "m.safetensors")
    png(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    dead = out / f".a.png.{_dead_pid()}.k3j_x9.part"
    live = out / ".a.png.1.q8a2zz.part"  # process 1 always runs: another upres writing into this folder
    legacy_old = out / ".a.png.x7h2kq_a.part"  # no process id in the name: judged by age
    legacy_new = out / ".a.png.u81nvq3p.part"
    other = out / ".b.png.1234.abcdef.part"  # not a file this run writes
    for p in (dead, live, legacy_old, legacy_new, other):
        p.write_bytes(b"half an image")
    os.utime(legacy_old, (time.time() - 7200, time.time() - 7200))
    assert main(["upscale", "--quiet", "-m", str(model), str(tmp_path / "in"), "-o", str(out)]) == 0
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted(["a.png", live.name, legacy_new.name, other.name])


def test_a_long_legal_name_is_written_and_its_killed_parts_swept(tmp_path):
    """A 251-byte name is legal (255 is the limit), but its part file added ~25 bytes: every write of it failed with
    'File name too long'. Its part files now carry a shortened stand-in, which the sweep still recognises."""
    from upres.io.atomic import _part_stem, atomic_write

    name = "x" * 247 + ".png"
    model = _slow_model(tmp_path / "m.safetensors")
    png(tmp_path / "in" / name)
    out = tmp_path / "out"
    out.mkdir()
    stand_in = _part_stem(name)
    assert len(stand_in.encode()) <= 200 and stand_in != _part_stem("y" * 247 + ".png")
    dead = out / f".{stand_in}.{_dead_pid()}.k3j_x9.part"
    dead.write_bytes(b"half an image")
    assert main(["upscale", "--quiet", "-m", str(model), str(tmp_path / "in"), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [name]
    assert atomic_write(out / ("é" * 125 + ".txt"), lambda t: t.write_text("ok")).read_text() == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_video_exits_130_even_when_pressed_twice(tmp_path, presses):
    pytest.importorskip("av")
    from fault_helpers import mp4

    model = _slow_model(tmp_path / "m.safetensors")
    clip = mp4(tmp_path / "in.mp4", frames=120, size=(96, 64))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "upres",
            "video",
            "-m",
            str(model),
            str(clip),
            "-o",
            str(tmp_path / "out.mkv"),
            "--device",  # on a GPU this small clip can be finished before the signal lands
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_env(),
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # the plain progress line comes after the first frame is written
        seen.append(line)
        if line.startswith("frames 1/"):
            break
    for _ in range(presses):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
    rest, _ = proc.communicate(timeout=60)
    text = "".join(seen) + rest
    assert proc.returncode == 130, text
    assert "terminate called" not in text and "Traceback" not in text
    assert not (tmp_path / "out.mkv").exists()


def test_convert_and_prepare_sweep_the_parts_of_their_killed_writes(tmp_path):
    model = _slow_model(tmp_path / "m.safetensors")
    out = tmp_path / "out"
    out.mkdir()
    dead = _dead_pid()
    killed_model = out / f".m.pth.{dead}.k3j_x9.part"
    other_model = (
        out / f".other.pth.{dead}.k3j_x9.part"
    )  # another file's: only its own writer's next run takes it
    live_model = out / ".m.pth.1.q8a2zz.part"  # process 1 always runs
    src = tmp_path / "src" / "sub"
    png(src / "big.png", size=96)
    chunks = tmp_path / "chunks" / "sub"
    chunks.mkdir(parents=True)
    killed_chunk = chunks / f".big_s002.png.{dead}.a81kd0.part"
    for p in (killed_model, other_model, live_model, killed_chunk):
        p.write_bytes(b"half a file")
    assert main(["convert", str(model), str(out / "m.pth")]) == 0
    assert not killed_model.exists() and other_model.exists() and live_model.exists()
    args = ["prepare", "chunk", str(tmp_path / "src"), "-o", str(tmp_path / "chunks"), "--size", "64"]
    assert main([*args, "--step", "32", "--min-size", "16", "--workers", "1"]) == 0
    assert not killed_chunk.exists() and (chunks / "big_s001.png").exists()


def test_ctrl_c_in_main_called_from_python_returns_130_and_the_process_goes_on(monkeypatch, capsys):
    """main(argv) from a notebook, interrupted twice while a worker thread was stuck: the kernel was ended with
    os._exit (what a finishing `upres` process needs) and the notebook's state lost."""
    import threading

    import upres.cli as cli
    import upres.cli.streams as streams

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    monkeypatch.setattr(streams, "SETTLE_S", 0.05)
    monkeypatch.setattr(os, "_exit", lambda code: pytest.fail(f"os._exit({code}) from a library call"))
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="upres-stuck", daemon=True)
    stuck.start()
    try:
        assert cli.main(["info", "x"]) == 130
    finally:
        release.set()
        stuck.join()
    assert capsys.readouterr().err == "interrupted\n"
