"""The fault sweep: a workspace of bad inputs and the command lines that meet them.

Each case is (id, argv, allowed exit codes, text the output must contain or None). Exit codes are the documented
ones: 0 success, 1 some inputs failed, 2 bad usage/config/model; a case never prints a traceback."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from fault_helpers import compact_model, mp4, png
from PIL import Image
from safetensors.torch import save_file

from upres.archs import build_network
from upres.io.model_files import export_state

Case = tuple[str, list[str], set[int], str | None]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo upres-sweep-ran-code",))


def _compact_file(path: Path, metadata: dict[str, str] | None = None, fill: float | None = None) -> Path:
    net, info = build_network("compact", scale=2, num_feat=4, num_conv=1)
    state = export_state(net)
    if fill is not None:
        state["body.0.weight"].fill_(fill)
    meta = {"format": "pt", "upres_arch": "compact", "upres_params": json.dumps(info.params)}
    save_file(state, str(path), metadata={**meta, **(metadata or {})})
    return path


def build_workspace(ws: Path) -> None:
    """Small files only: every case runs in well under a second."""
    compact_model(ws / "m2.safetensors", scale=2)
    compact_model(ws / "m1.safetensors", scale=1)
    compact_model(ws / "m2b.safetensors", scale=2)
    net, info = build_network("esrgan", scale=2, num_feat=4, num_block=1, num_grow_ch=4)
    from upres.io.model_files import save_model

    save_model(ws / "esrgan2.safetensors", net, info)
    (ws / "corrupt.safetensors").write_bytes(os.urandom(300))
    (ws / "empty.pth").write_bytes(b"")
    (ws / "text.pth").write_text("hello")
    whole = ws / "whole.pth"
    torch.save(
        {"params_ema": export_state(build_network("compact", scale=2, num_feat=4, num_conv=1)[0])}, whole
    )
    (ws / "truncated.pth").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    torch.save({"params_ema": _Evil()}, ws / "evil.pth")
    (ws / "evil_raw.pth").write_bytes(pickle.dumps({"params_ema": _Evil()}, protocol=2))
    torch.save({"params_ema": {"a": 1}}, ws / "notensors.pth")
    torch.save({"params_ema": {"x.weight": torch.zeros(3)}}, ws / "unknown_arch.pth")
    _compact_file(ws / "nan.safetensors", fill=float("nan"))
    _compact_file(ws / "arch_nosuch.safetensors", {"upres_arch": "nosuch"})
    _compact_file(ws / "params_notjson.safetensors", {"upres_params": "{not json"})
    _compact_file(ws / "params_empty.safetensors", {"upres_params": "{}"})
    _compact_file(ws / "params_deep.safetensors", {"upres_params": "[" * 100_000 + "]" * 100_000})
    state = export_state(build_network("compact", scale=2, num_feat=4, num_conv=2)[0])
    state["body.2.weight"] = torch.zeros(4, 4, 5, 5)
    torch.save({"params_ema": state}, ws / "resized.pth")
    (ws / "dirmodel.pth").mkdir()
    (ws / "model.xyz").write_text("x")
    # images
    png(ws / "in" / "a.png")
    Image.open(ws / "in" / "a.png").save(ws / "in" / "b.jpg")
    (ws / "bad").mkdir()
    png(ws / "bad" / "good.png")
    (ws / "bad" / "text.png").write_text("not an image")
    (ws / "bad" / "empty.jpg").write_bytes(b"")
    (ws / "bad" / "cut.png").write_bytes((ws / "in" / "a.png").read_bytes()[:60])
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(ws / "bad" / "gray.png")
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(ws / "bad" / "rgba.png")
    (ws / "same2").mkdir()
    png(ws / "same2" / "photo.png")
    Image.open(ws / "same2" / "photo.png").save(ws / "same2" / "photo.jpg")
    (ws / "emptydir").mkdir()
    (ws / "afile").write_text("a file, not a folder")
    # ground truth for eval/doctor
    for i in range(2):
        png(ws / "gt" / f"{i}.png", size=16, seed=i)
    # videos
    if have_pyav():
        mp4(ws / "clip.mp4", frames=6)
        whole_clip = mp4(ws / "long.mp4", frames=48).read_bytes()
        (ws / "cut.mp4").write_bytes(whole_clip[: len(whole_clip) * 2 // 5])
    (ws / "notvideo.mp4").write_text("not a video")
    (ws / "empty.mp4").write_bytes(b"")
    # option files
    (ws / "opts").mkdir()
    (ws / "opts" / "bad.yml").write_text("a: [1, 2\n")
    (ws / "opts" / "python.yml").write_text(
        "a: !!python/object/apply:os.system ['echo upres-sweep-ran-code']\n"
    )
    (ws / "opts" / "empty.yml").write_text("")
    (ws / "opts" / "list.yml").write_text("- 1\n- 2\n")
    (ws / "opts" / "binary.yml").write_bytes(b"\xff\xfe\x00\x01" * 10)
    (ws / "opts" / "degrade.yml").write_text("scale: 2\nblur_prob: 0.5\n")
    (ws / "opts" / "degrade_badkey.yml").write_text("scale: 2\nblur_prob: 7\n")
    (ws / "opts" / "test_nodata.yml").write_text("name: t\nscale: 2\nnetwork_g: {type: compact}\n")
    # billion laughs: 9^9 references if anything expanded them
    laughs = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    (ws / "opts" / "bomb.yml").write_text("\n".join([*laughs, "scale: 2", "blur_prob: *a8", "datasets: *a8"]))
    (ws / "in" / "loop").symlink_to("..", target_is_directory=True) if os.name == "posix" else None


def cases(ws: Path) -> list[Case]:
    w = str(ws)
    m = f"{w}/m2.safetensors"
    img = f"{w}/in/a.png"
    clip = f"{w}/clip.mp4"
    under_file = f"{w}/afile/out"
    c: list[Case] = []

    def add(case_id: str, argv: list[str], codes: set[int], expect: str | None = None) -> None:
        c.append((case_id, argv, codes, expect))

    add("no command", [], {2})
    if os.path.exists("/dev/null"):
        add("info a device file", ["info", "/dev/null"], {2}, "/dev/null: not a regular file")
    add("unknown command", ["frobnicate"], {2})
    # info
    for name, expect in [
        ("missing.pth", "no such model file"),
        ("dirmodel.pth", "is a folder, not a model file"),
        ("corrupt.safetensors", "not a readable safetensors file"),
        ("empty.pth", "file is empty"),
        ("text.pth", "not a PyTorch file"),
        ("truncated.pth", "failed finding central directory\n"),
        ("evil.pth", "holds objects other than tensors"),
        ("evil_raw.pth", "holds objects other than tensors"),
        ("notensors.pth", "holds no state dict"),
        ("unknown_arch.pth", "unknown architecture"),
        ("resized.pth", "tensor 'body.2.weight' has shape"),
        ("model.xyz", "unknown model file type"),
        ("in/a.png", "unknown model file type"),
    ]:
        add(f"info {name}", ["info", f"{w}/{name}"], {2}, expect)
    for name, expect in [
        ("arch_nosuch.safetensors", "upres_arch='nosuch'"),
        ("params_notjson.safetensors", "not a JSON object"),
        ("params_empty.safetensors", None),
        ("params_deep.safetensors", "not a JSON object"),
        ("nan.safetensors", None),
    ]:
        add(f"info {name}", ["info", f"{w}/{name}"], {0}, expect)
        add(f"info --json {name}", ["info", "--json", f"{w}/{name}"], {0}, expect)
    # convert
    add("convert onto a folder", ["convert", m, f"{w}/emptydir"], {2}, "is a folder")
    add("convert under a file", ["convert", m, f"{under_file}.pth"], {2}, "cannot write there")
    add("convert onto itself", ["convert", m, m], {2}, "output is the input file")
    add("convert to unknown suffix", ["convert", m, f"{w}/out.xyz"], {2}, "cannot write '.xyz'")
    add("convert bad dtype", ["convert", m, f"{w}/o.pth", "--dtype", "fp8"], {2}, "invalid choice")
    add("convert evil", ["convert", f"{w}/evil.pth", f"{w}/o.safetensors"], {2}, "other than tensors")
    add("convert resized", ["convert", f"{w}/resized.pth", f"{w}/o.safetensors"], {2}, "body.2.weight")
    add("convert nan", ["convert", f"{w}/nan.safetensors", f"{w}/o.safetensors"], {2}, "NaN")
    if os.path.isdir("/proc/self"):
        add("convert into /proc", ["convert", m, "/proc/upres-sweep.pth"], {2}, "cannot write there")
    # upscale
    up = ["upscale", "-m", m]
    add("upscale missing input", [*up, f"{w}/nope.png", "-o", f"{w}/o"], {2}, "no such file or folder")
    add("upscale empty folder", [*up, f"{w}/emptydir", "-o", f"{w}/o"], {2}, "no images found")
    add(
        "upscale folder model",
        ["upscale", "-m", f"{w}/dirmodel.pth", img, "-o", f"{w}/o"],
        {2},
        "is a folder",
    )
    add("upscale corrupt model", ["upscale", "-m", f"{w}/corrupt.safetensors", img, "-o", f"{w}/o"], {2})
    add(
        "upscale evil model",
        ["upscale", "-m", f"{w}/evil.pth", img, "-o", f"{w}/o"],
        {2},
        "other than tensors",
    )
    add("upscale nan model", ["upscale", "-m", f"{w}/nan.safetensors", img, "-o", f"{w}/o"], {2}, "NaN")
    add("upscale header nosuch", ["upscale", "-m", f"{w}/arch_nosuch.safetensors", img, "-o", f"{w}/o"], {0})
    add("upscale params {}", ["upscale", "-m", f"{w}/params_empty.safetensors", img, "-o", f"{w}/o"], {0})
    add("upscale resized", ["upscale", "-m", f"{w}/resized.pth", img, "-o", f"{w}/o"], {2}, "body.2.weight")
    add("upscale output under a file", [*up, img, "-o", under_file], {2}, "not writable")
    add("upscale bad files in a batch", [*up, f"{w}/bad", "-o", f"{w}/o_bad"], {1}, "cannot read image")
    add(
        "upscale same2 data loss",
        [*up, f"{w}/same2", "-o", f"{w}/same2", "--format", "png"],
        {1},
        "overwrite",
    )
    add("upscale video as image", [*up, clip, "-o", f"{w}/o"], {1}, "cannot read image")
    for flag, value, expect in [
        ("--tile", "-1", "cannot be negative"),
        ("--tile", "abc", "use auto, 0"),
        ("--tile-overlap", "-5", "must be 0 or more"),
        ("--tile-overlap", "x", "invalid int"),
        ("--outscale", "0", "must be a number greater than 0"),
        ("--outscale", "-1", "must be a number greater than 0"),
        ("--outscale", "nan", "must be a number greater than 0"),
        ("--outscale", "inf", "must be a number greater than 0"),
        ("--outscale", "1e9", "even a 1x1 image would be over"),
        ("--outscale", "1e308", "even a 1x1 image would be over"),  # it hung the batch after a traceback
        ("--outscale", "10000", "would make a 80000x80000 output"),
        ("--quality", "0", "between 1 and 100"),
        ("--quality", "101", "between 1 and 100"),
        ("--format", "bmp", "invalid choice"),
        ("--precision", "fp8", "invalid choice"),
        ("--device", "bogus", "is not a device"),
        ("--device", "cuda:99", None),
        ("--device", "", None),
        ("--device", "mps", None),
        ("--max-pixels", "-1", "must be 0 (no limit) or more"),
        ("--alpha", "keep", "invalid choice"),
    ]:
        add(f"upscale {flag} {value}", [*up, img, "-o", f"{w}/o_flags", flag, value], {1, 2}, expect)
    # video
    vid = ["video", "-m", m]
    add("video missing input", [*vid, f"{w}/nope.mp4", "-o", f"{w}/v.mkv"], {2}, "no such file")
    add("video not a video", [*vid, f"{w}/notvideo.mp4", "-o", f"{w}/v.mkv"], {2})
    add("video empty file", [*vid, f"{w}/empty.mp4", "-o", f"{w}/v.mkv"], {2})
    add("video image as input", [*vid, img, "-o", f"{w}/v.mkv"], {2}, "still image")
    add("video folder as input", [*vid, f"{w}/emptydir", "-o", f"{w}/v.mkv"], {2}, "is a folder")
    add("video output is input", [*vid, clip, "-o", clip], {2}, "output is the input")
    add("video output unknown suffix", [*vid, clip, "-o", f"{w}/v.xyz"], {2})
    add("video output no suffix", [*vid, clip, "-o", f"{w}/vnosuffix"], {2})
    add("video output a folder", [*vid, clip, "-o", f"{w}/emptydir"], {2}, "is a folder")
    add("video output under a file", [*vid, clip, "-o", f"{under_file}.mkv"], {2})
    add(
        "video folder model",
        ["video", "-m", f"{w}/dirmodel.pth", clip, "-o", f"{w}/v.mkv"],
        {2},
        "is a folder",
    )
    add("video nan model", ["video", "-m", f"{w}/nan.safetensors", clip, "-o", f"{w}/v.mkv"], {2}, "NaN")
    add(
        "video evil model",
        ["video", "-m", f"{w}/evil.pth", clip, "-o", f"{w}/v.mkv"],
        {2},
        "other than tensors",
    )
    add(
        "video truncated",
        [*vid, f"{w}/cut.mp4", "-o", f"{w}/vcut.mkv", "-q"],
        {1},
        "frames its header announces",
    )
    for flags, expect in [
        (["--crf", "99"], "takes 0-51"),
        (["--preset", "turbo"], "--preset turbo: libx264 takes ultrafast, superfast"),
        (["--crf", "-1"], None),
        (["--batch", "0"], None),
        (["--start", "5", "--end", "1"], "is not after"),
        (["--start", "abc"], None),
        (["--start", "-3"], None),
        (["--start", "100"], None),
        (["--end", "0"], None),
        (["--codec", "bogus"], "not a video encoder"),
        (["--codec", "aac"], "not a video encoder"),
        (["--pix-fmt", "bogus"], None),
        (["--preset", "bogus"], None),
        (["--tile", "-1"], None),
        (["--tile", "abc"], None),
        (["--tile-overlap", "-1"], None),
        (["--precision", "fp8"], "invalid choice"),
        (["--device", "bogus"], "is not a device"),
        (["--device", "cuda:99"], None),
        (["--device", "cpu,cpu"], "one device"),
        (["--codec-threads", "-1"], "cannot be negative"),
    ]:
        add(
            f"video {' '.join(flags)}", [*vid, clip, "-o", f"{w}/vflags.mkv", "-q", *flags], {0, 1, 2}, expect
        )
    # interp
    add("interp one model", ["interp", m, "-o", f"{w}/i.safetensors"], {2})
    add("interp missing model", ["interp", m, f"{w}/nope.pth", "-o", f"{w}/i.safetensors"], {2})
    add(
        "interp folder model",
        ["interp", m, f"{w}/dirmodel.pth", "-o", f"{w}/i.safetensors"],
        {2},
        "is a folder",
    )
    add("interp evil", ["interp", m, f"{w}/evil.pth", "-o", f"{w}/i.safetensors"], {2}, "other than tensors")
    add("interp archs differ", ["interp", m, f"{w}/esrgan2.safetensors", "-o", f"{w}/i.safetensors"], {2})
    add("interp scales differ", ["interp", m, f"{w}/m1.safetensors", "-o", f"{w}/i.safetensors"], {2})
    add("interp nan", ["interp", m, f"{w}/nan.safetensors", "-o", f"{w}/i.safetensors"], {2})
    for flags in (
        ["--alpha", "2"],
        ["--alpha", "nan"],
        ["--alpha", "x"],
        ["--weights", "a,b"],
        ["--weights", "1"],
        ["--weights", "0.5,0.5", "--alpha", "0.5"],
        ["--weights", "nan,nan"],
        ["--weights", "2,-1"],
    ):
        add(f"interp {' '.join(flags)}", ["interp", m, m, "-o", f"{w}/i.safetensors", *flags], {0, 2})
    add("interp output a folder", ["interp", m, m, "-o", f"{w}/emptydir"], {2}, "is a folder")
    add("interp output under a file", ["interp", m, m, "-o", f"{under_file}.safetensors"], {2},
        "a file is in the way")  # fmt: skip
    add(
        "interp output onto an input", ["interp", m, f"{w}/m2b.safetensors", "-o", m], {2}, "one of the input"
    )
    add("interp sweep no image", ["interp", m, m, "-o", f"{w}/sweep", "--sweep", "0,1"], {2})
    add("interp sweep bad values", ["interp", m, m, "-o", f"{w}/sweep", "--sweep", "a", "--image", img], {2})
    add("interp sweep bad image", ["interp", m, m, "-o", f"{w}/sweep", "--sweep", "0,1", "--image",
                                   f"{w}/bad/text.png"], {1, 2})  # fmt: skip
    add("interp sweep output under a file", ["interp", m, m, "-o", under_file, "--sweep", "0,1", "--image", img],
        {2})  # fmt: skip
    # eval
    add("eval no model", ["eval", f"{w}/gt", "-s", "2"], {2}, "give -m MODEL")
    add("eval missing dir", ["eval", "--bicubic", f"{w}/nope", "-s", "2"], {2}, "no such file or folder")
    add("eval file as dir", ["eval", "--bicubic", img, "-s", "2"], {2}, "too small to score")
    add("eval file", ["eval", "--bicubic", f"{w}/gt/0.png", "-s", "2"], {0})
    add("eval empty dir", ["eval", "--bicubic", f"{w}/emptydir", "-s", "2"], {1, 2})
    add("eval bad images", ["eval", "--bicubic", f"{w}/bad", "-s", "2"], {0, 1})
    add("eval scale mismatch", ["eval", "-m", m, f"{w}/gt", "-s", "4"], {2})
    add("eval scale 0", ["eval", "--bicubic", f"{w}/gt", "-s", "0"], {2})
    add("eval scale huge", ["eval", "--bicubic", f"{w}/gt", "-s", "64"], {1}, "too small to score")
    add("eval tile -1", ["eval", "--bicubic", f"{w}/gt", "-s", "2", "--tile", "-1"], {2})
    add("eval bad metric", ["eval", "--bicubic", f"{w}/gt", "-s", "2", "--metrics", "bogus"], {2})
    add("eval bad device", ["eval", "-m", m, f"{w}/gt", "-s", "2", "--device", "bogus"], {2})
    add("eval folder model", ["eval", "-m", f"{w}/dirmodel.pth", f"{w}/gt", "-s", "2"], {2}, "is a folder")
    add("eval evil model", ["eval", "-m", f"{w}/evil.pth", f"{w}/gt", "-s", "2"], {2}, "other than tensors")
    add("eval nan model", ["eval", "-m", f"{w}/nan.safetensors", f"{w}/gt", "-s", "2"], {2}, "NaN")
    add("eval cuda:99", ["eval", "-m", m, f"{w}/gt", "-s", "2", "--device", "cuda:99"], {2})
    add("eval two devices", ["eval", "-m", m, f"{w}/gt", "-s", "2", "--device", "cpu,cpu"], {2}, "one device")
    # degrade
    dg = ["degrade", "-c", f"{w}/opts/degrade.yml"]
    add("degrade missing options", ["degrade", "-c", f"{w}/nope.yml", img, "-o", f"{w}/d"], {2}, "not found")
    add("degrade folder options", ["degrade", "-c", f"{w}/opts", img, "-o", f"{w}/d"], {2}, "is a folder")
    for name in ("bad", "python", "empty", "list", "binary", "degrade_badkey"):
        add(f"degrade {name}.yml", ["degrade", "-c", f"{w}/opts/{name}.yml", img, "-o", f"{w}/d"], {2})
    add("degrade missing input", [*dg, f"{w}/nope.png", "-o", f"{w}/d"], {1, 2})
    add("degrade bad images", [*dg, f"{w}/bad", "-o", f"{w}/d_bad", "--n", "1"], {0, 1})
    add("degrade output under a file", [*dg, img, "-o", under_file, "--n", "1"], {2}, "not writable")
    add("degrade --n 0", [*dg, img, "-o", f"{w}/d", "--n", "0"], {2})
    add("degrade --seed x", [*dg, img, "-o", f"{w}/d", "--seed", "x"], {2})
    add("degrade --seed huge", [*dg, img, "-o", f"{w}/d_seed", "--n", "1", "--seed", str(2**70)], {0, 2})
    add("degrade --seed negative", [*dg, img, "-o", f"{w}/d_seed2", "--n", "1", "--seed", "-5"], {0, 2})
    # prepare
    for kind, extra in (("chunk", []), ("lr", ["--scale", "2"]), ("tiff", [])):
        add(f"prepare {kind} missing src", ["prepare", kind, f"{w}/nope", "-o", f"{w}/p", *extra], {2})
        add(f"prepare {kind} file src", ["prepare", kind, img, "-o", f"{w}/p_{kind}_file", *extra], {0, 1, 2})
        add(
            f"prepare {kind} empty src",
            ["prepare", kind, f"{w}/emptydir", "-o", f"{w}/p_e", *extra],
            {2},
            "no images found",
        )
        add(f"prepare {kind} bad images", ["prepare", kind, f"{w}/bad", "-o", f"{w}/p_{kind}", "-j", "1", *extra],
            {0, 1})  # fmt: skip
        add(f"prepare {kind} output under a file", ["prepare", kind, f"{w}/gt", "-o", under_file, *extra], {2},
            "not writable")  # fmt: skip
        add(f"prepare {kind} -j 0", ["prepare", kind, f"{w}/in", "-o", f"{w}/p", "-j", "0", *extra], {2})
    add("prepare chunk --size 0", ["prepare", "chunk", f"{w}/in", "-o", f"{w}/p", "--size", "0"], {2})
    add("prepare chunk --step -1", ["prepare", "chunk", f"{w}/in", "-o", f"{w}/p", "--step", "-1"], {2})
    add("prepare lr --scale 0", ["prepare", "lr", f"{w}/in", "-o", f"{w}/p", "--scale", "0"], {2})
    add("prepare lr -c missing", ["prepare", "lr", f"{w}/in", "-o", f"{w}/p", "-c", f"{w}/nope.yml"], {2})
    add(
        "prepare lr -c folder",
        ["prepare", "lr", f"{w}/in", "-o", f"{w}/p", "-c", f"{w}/opts"],
        {2},
        "is a folder",
    )
    add("prepare lr -c bad", ["prepare", "lr", f"{w}/in", "-o", f"{w}/p", "-c", f"{w}/opts/bad.yml"], {2})
    add("prepare tiff --tile 17", ["prepare", "tiff", f"{w}/in", "-o", f"{w}/p", "--tile", "17"], {2})
    add("prepare no kind", ["prepare"], {2})
    # doctor
    add("doctor missing dir", ["doctor", f"{w}/nope"], {1, 2})
    add("doctor file as dir", ["doctor", img], {0, 1, 2})
    add("doctor empty dir", ["doctor", f"{w}/emptydir"], {1}, "no images found")
    add("doctor bad images", ["doctor", f"{w}/bad"], {0, 1})
    add("doctor nothing", ["doctor"], {2}, "or an option file (-c OPTIONS)\n")
    add("doctor dir and -c", ["doctor", f"{w}/gt", "-c", f"{w}/opts/degrade.yml"], {2})
    add("doctor -c missing", ["doctor", "-c", f"{w}/nope.yml"], {2}, "not found")
    add("doctor -c folder", ["doctor", "-c", f"{w}/opts"], {2}, "is a folder")
    for name in ("bad", "python", "empty", "list", "binary", "test_nodata"):
        add(f"doctor -c {name}.yml", ["doctor", "-c", f"{w}/opts/{name}.yml"], {1, 2})
    add("doctor --lq without --scale", ["doctor", f"{w}/gt", "--lq", f"{w}/gt"], {2})
    add("doctor --lq count", ["doctor", f"{w}/gt", f"{w}/in", "--lq", f"{w}/gt", "--scale", "2"], {2})
    add("doctor --lq-size 0", ["doctor", f"{w}/gt", "--lq-size", "0"], {2})
    # init
    add("init list", ["init"], {0})
    add("init unknown template", ["init", "nosuch", "x", "-o", f"{w}/x.yml"], {2}, "no template")
    add("init no name", ["init", "compact_x2_fidelity"], {2})
    add("init exists", ["init", "compact_x2_fidelity", "x", "-o", img], {2}, "exists")
    add("init output a folder", ["init", "compact_x2_fidelity", "x", "-o", f"{w}/emptydir", "--force"], {2},
        "is a folder")  # fmt: skip
    add("init name is a folder", ["init", "compact_x2_fidelity", f"{w}/emptydir"], {2},
        "is a folder; name the experiment inside it")  # fmt: skip
    add("init output under a file", ["init", "compact_x2_fidelity", "x", "-o", f"{under_file}.yml"], {2},
        "a file is in the way")  # fmt: skip
    add("init name with a slash", ["init", "compact_x2_fidelity", "../x", "-o", f"{w}/slash.yml"], {0, 2})
    # schema
    add("schema output under a file", ["schema", "-o", f"{under_file}.json"], {2}, "a file is in the way")
    add("schema output a folder", ["schema", "-o", f"{w}/emptydir"], {2}, "is a folder")
    add("schema docs under a file", ["schema", "--docs", f"{under_file}.md"], {2})
    add("schema cli a folder", ["schema", "--cli", f"{w}/emptydir"], {2})
    for command in (["doctor", "-c"], ["degrade", "-c"], ["train", "--dry-run", "-c"], ["prepare", "lr", img, "-o",
                    f"{w}/p_bomb", "-c"]):  # fmt: skip
        extra = [img, "-o", f"{w}/d_bomb"] if command[0] == "degrade" else []
        add(f"{command[0]} -c billion laughs", [*command, f"{w}/opts/bomb.yml", *extra], {2})
    add("upscale output is a file", [*up, img, "-o", f"{w}/afile"], {2}, "not writable")
    add("init template path", ["init", "../../etc/passwd", "x", "-o", f"{w}/t.yml"], {2}, "no template")
    # train: only the option file's own faults (the training-side cases of issue 14 are tested beside train/)
    add("train -c missing", ["train", "-c", f"{w}/nope.yml", "--dry-run"], {2}, "not found")
    add("train -c folder", ["train", "-c", f"{w}/opts", "--dry-run"], {2}, "is a folder")
    add("train -c bad yaml", ["train", "-c", f"{w}/opts/bad.yml", "--dry-run"], {2}, "not valid YAML")
    add("train -c python tag", ["train", "-c", f"{w}/opts/python.yml", "--dry-run"], {2}, "not valid YAML")
    # test (the command; its fixes belong to `upres test`'s owner, these are the cases that already hold)
    add("test missing options", ["test", "-c", f"{w}/nope.yml"], {2}, "not found")
    add("test folder options", ["test", "-c", f"{w}/opts"], {2}, "is a folder")
    add("test bad yaml", ["test", "-c", f"{w}/opts/bad.yml"], {2})
    add("test no datasets", ["test", "-c", f"{w}/opts/test_nodata.yml", "--model", m], {2})
    if not have_pyav():
        # Without the video extra no clip can be made; what a user without it meets is one line.
        c[:] = [
            case for case in c if case[1][:1] != ["video"] and not any(a.endswith(".mp4") for a in case[1])
        ]
        add("video without PyAV", ["video", "-m", m, clip, "-o", f"{w}/v.mkv"], {2}, "video needs PyAV")
    return c


def have_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True
