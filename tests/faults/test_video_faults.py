"""Issue 14 item 9 (video): a truncated file is reported with the frames decoded vs announced; a model whose weights
or output are not finite is an error, never a black video."""

from __future__ import annotations

import json

import pytest
from fault_helpers import compact_model, mp4
from safetensors.torch import save_file

from upres.archs import build_network
from upres.cli import main
from upres.io.model_files import export_state

av = pytest.importorskip("av")


def _filled_model(path, fill: float, only: str | None = None):
    net, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    state = export_state(net)
    for k, v in state.items():
        if only is None or k == only:
            v.fill_(fill)
    meta = {"format": "pt", "upres_arch": "compact", "upres_params": json.dumps(info.params)}
    save_file(state, str(path), metadata=meta)
    return path


def test_truncated_video_warns_with_frames_decoded_and_announced(tmp_path, capsys):
    model = compact_model(tmp_path / "m.safetensors")
    whole = mp4(tmp_path / "whole.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) * 2 // 5])
    code = main(["video", "-q", "-m", str(model), str(cut), "-o", str(tmp_path / "out.mkv")])
    err = capsys.readouterr().err
    assert code == 1, err
    with av.open(str(tmp_path / "out.mkv")) as got:
        decoded = sum(1 for _ in got.decode(video=0))
    assert 0 < decoded < 48
    assert (
        f"warning: {cut}: decoded {decoded} of the 48 frames its header announces; the file looks truncated or "
        f"damaged, and the output holds the {decoded}\n"
    ) in err


def test_whole_video_has_no_warning(tmp_path, capsys):
    model = compact_model(tmp_path / "m.safetensors")
    clip = mp4(tmp_path / "whole.mp4", frames=12)
    assert main(["video", "-q", "-m", str(model), str(clip), "-o", str(tmp_path / "out.mkv")]) == 0
    assert capsys.readouterr().err == ""


def test_nan_weights_are_refused_for_video(tmp_path, capsys):
    model = _filled_model(tmp_path / "nan.safetensors", float("nan"), only="body.0.weight")
    clip = mp4(tmp_path / "c.mp4", frames=4)
    assert main(["video", "-q", "-m", str(model), str(clip), "-o", str(tmp_path / "out.mkv")]) == 2
    assert "1 tensor(s) hold NaN or infinity (first: 'body.0.weight')" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4", "nan.safetensors"]


def test_output_that_overflows_stops_the_video_and_keeps_nothing(tmp_path, capsys):
    model = _filled_model(tmp_path / "huge.safetensors", 1e30)
    clip = mp4(tmp_path / "c.mp4", frames=4)
    assert main(["video", "-q", "-m", str(model), str(clip), "-o", str(tmp_path / "out.mkv")]) == 2
    err = capsys.readouterr().err
    assert (
        f"error: {tmp_path / 'out.mkv'}: the model's output is not finite (NaN or infinity) for the frame"
        in err
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4", "huge.safetensors"]


def _mkv(path, frames: int = 48):
    """A Matroska clip (24 fps): its header holds a duration, no frame count."""
    import numpy as np

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=24)
        vs.width, vs.height, vs.pix_fmt = 48, 32, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(frames):
            pixels = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
            out.mux(vs.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(vs.encode(None))
    return path


def test_a_cut_matroska_file_warns_from_its_duration(tmp_path, capsys):
    """Matroska announces no frame count: a file cut short (or damaged in the middle, which the demuxer does not
    report) gave a short output with exit 0 and no word."""
    model = compact_model(tmp_path / "m.safetensors")
    whole = _mkv(tmp_path / "whole.mkv")
    assert main(["video", "-q", "-m", str(model), str(whole), "-o", str(tmp_path / "w.mkv")]) == 0
    assert capsys.readouterr().err == ""
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 5])
    code = main(["video", "-q", "-m", str(model), str(cut), "-o", str(tmp_path / "out.mkv")])
    err = capsys.readouterr().err
    assert code == 1, err
    with av.open(str(tmp_path / "out.mkv")) as got:
        decoded = sum(1 for _ in got.decode(video=0))
    assert 0 < decoded < 0.9 * 48
    assert (
        f"warning: {cut}: decoded {decoded} frames, {decoded / 24:.2f} s of the 2.00 s its container announces; the "
        f"file looks truncated or damaged, and the output holds the {decoded}\n"
    ) in err
